"""The positional convolution's forward + backward: oneDNN's own backward against ``grouped_conv1d``
(both gradients as forward convolutions), on the shapes of the ``tiny`` and ``base`` pretraining benchmark.

Alternates the two paths ``--rounds`` times and prints the median of each (ms per forward + backward, one
thread by default) and their ratio. Gradients are checked equal first.

    python benchmarks/pos_conv_backward.py --threads 1 --rounds 7

No assertions on time; the numbers depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from audiocl.nn.grouped_conv import grouped_conv1d

# (name, channels, kernel, groups, frames): the HF-comparison presets of benchmarks/pretrain_speed.py on its
# batch (2 utterances, the longest 4 s: 199 frames of 20 ms from the raw-waveform conv front-end)
SHAPES = [("tiny", 128, 32, 8, 199), ("base", 768, 128, 16, 199)]


def fwd_bwd(conv, x, w, b, up, pad, groups):
    y = conv(x, w, b, pad, groups)
    return torch.autograd.grad(y, (x, w, b), up)


def onednn(x, w, b, pad, groups):
    return F.conv1d(x, w, b, padding=pad, groups=groups)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--batch-size", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print("| shape | C | kernel | groups | frames | oneDNN backward ms | forward convolutions ms | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for name, c, k, groups, t in SHAPES:
        x = torch.randn(args.batch_size, c, t, requires_grad=True)
        w = torch.randn(c, c // groups, k, requires_grad=True)
        b = torch.randn(c, requires_grad=True)
        up = torch.randn(args.batch_size, c, t + 1 - k % 2)
        for got, ref in zip(fwd_bwd(grouped_conv1d, x, w, b, up, k // 2, groups),
                            fwd_bwd(onednn, x, w, b, up, k // 2, groups)):
            torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-4)
        times = {"onednn": [], "ours": []}
        for _ in range(args.rounds):
            for key, conv in (("onednn", onednn), ("ours", grouped_conv1d)):
                t0 = time.perf_counter()
                fwd_bwd(conv, x, w, b, up, k // 2, groups)
                times[key].append(1e3 * (time.perf_counter() - t0))
        a, o = statistics.median(times["onednn"]), statistics.median(times["ours"])
        print(f"| {name} | {c} | {k} | {groups} | {t} | {a:.1f} | {o:.1f} | x{a / o:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
