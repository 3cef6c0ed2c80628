"""Arithmetic of one wav2vec 2.0 pre-training step: audiocl vs HF transformers ``Wav2Vec2ForPreTraining``.

Same set-up as :mod:`pretrain_speed` (same config, initial weights, padded batch and step). Counts the
matrix-product and convolution FLOPs of one full step (forward, backward, optimizer) of each model with
:class:`torch.utils.flop_counter.FlopCounterMode`, with the forward split by where it runs (conv feature
encoder, positional conv, transformer blocks, the rest), and times the same step (median process CPU time, steps alternating).
FLOPs / time = the achieved rate, and the speed-up is the FLOP ratio times the rate ratio. The header
also gives this machine's rate for one plain matrix product of a ``base`` feed-forward shape: how fast the
product work alone could run.

torch's counter charges the weight gradient of a *grouped* convolution as if it were dense (``groups``
times too much: the positional conv, 16 groups), so :func:`conv_backward_flop` counts it per group; it has
no formula for the in-place ``addmm_`` that audiocl's GEMM convolution accumulates taps with, counted here as
a product. audiocl's last transformer block runs through ``forward_rows`` (the masked frames' queries only),
not through the module call, so its forward lands in "rest". Element-wise work (HF's cosine-similarity loss,
norms, activations, dropout, the optimizer) is not counted: it is the time above the products.

    python benchmarks/pretrain_flops.py --presets tiny base --threads 1 --markdown benchmarks/results/pretrain_flops.md
"""

from __future__ import annotations

import argparse
import contextlib
import re
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode, conv_flop_count

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pretrain_speed as ps  # noqa: E402  (the shared set-up: config, weights, batch, step)

PARTS = ["conv feature encoder", "positional conv", "transformer blocks", "rest (projections, quantizer, loss)"]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--presets", nargs="+", default=["tiny", "base"], choices=["tiny", "base", "large"])
    p.add_argument("--batch-size", type=int, default=2)
    p.add_argument("--seconds", type=float, default=4.0)
    p.add_argument("--steps", type=int, default=3, help="timed steps per model (after one warm-up)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--markdown", default=None)
    return p.parse_args(argv)


def conv_backward_flop(grad_out_shape, x_shape, w_shape, _bias, _stride, _padding, _dilation, transposed,
                       _output_padding, groups, output_mask, out_shape=None, **kwargs) -> int:
    """FLOPs of ``convolution_backward`` with ``groups`` honoured: the input gradient costs what the forward
    costs; so does the weight gradient, which torch's own formula multiplies by ``groups``."""
    forward = conv_flop_count(list(x_shape), list(w_shape), list(grad_out_shape), transposed)
    return forward * (int(output_mask[0]) + int(output_mask[1]))


def addmm_inplace_flop(self_shape, a_shape, b_shape, *args, out_shape=None, **kwargs) -> int:
    """``x.addmm_(a, b)``: the product ``a @ b``, ``2 m k n``."""
    (m, k), (_, n) = a_shape, b_shape
    return 2 * m * k * n


def _part(module_path: str) -> str | None:
    """The part a module's own FLOPs belong to (matched on the module itself, not on its children)."""
    if re.search(r"\.(pos_conv|pos_conv_embed)$", module_path):
        return PARTS[1]
    if module_path.endswith(".feature_extractor"):
        return PARTS[0]
    if re.search(r"\.layers\.\d+$", module_path):
        return PARTS[2]
    return None


def _counter() -> FlopCounterMode:
    aten = torch.ops.aten
    return FlopCounterMode(display=False, depth=None,
                           custom_mapping={aten.convolution_backward: conv_backward_flop, aten.addmm_: addmm_inplace_flop})


def count_flops(step) -> tuple[int, int, dict[str, int]]:
    """``(step FLOPs, forward FLOPs, forward FLOPs of each part)`` of ``step(label)``.

    The split is of the forward only: module hooks place forward ops reliably, backward ops less so (a
    custom autograd function's backward, or a module whose backward hook fires late, lands elsewhere);
    each product's backward costs twice its forward when both gradients are needed."""
    fwd = _counter()

    def label(phase: str):
        return fwd if phase == "forward" else contextlib.nullcontext()

    whole = _counter()
    with whole:
        step(label)
    parts = dict.fromkeys(PARTS, 0)
    for path, counts in fwd.get_flop_counts().items():
        part = _part(path)
        if part is not None:
            parts[part] += sum(counts.values())
    forward = fwd.get_total_flops()
    parts[PARTS[3]] = forward - sum(parts[p] for p in PARTS[:3])
    return whole.get_total_flops(), forward, parts


def run_preset(preset: str, args) -> dict:
    device = torch.device("cpu")
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    cfg, ours, hf = ps.build(preset, device, True)
    wav, lengths, att = ps.make_batch(args.batch_size, args.seconds, args.seed, device)
    opt_a, opt_h = ps.make_optimizer(ours, device), ps.make_optimizer(hf, device)
    steps = {"audiocl": lambda i, label=ps._no_label: ps.audiocl_step(ours, opt_a, wav, lengths, i, device, "fp32",
                                                                        label),
             "HF": lambda i, label=ps._no_label: ps.hf_step(hf, opt_h, wav, lengths, att, i, device, "fp32", cfg,
                                                           label)}
    res: dict = {"preset": preset}
    for name, step in steps.items():
        res[name] = dict(zip(("flops", "forward", "parts"), count_flops(lambda label: step(0, label))))
        res[name]["cpu_s"] = []
    for i in range(1 + args.steps):
        for name, step in steps.items():
            c0 = time.process_time()
            step(i + 1)
            if i:
                res[name]["cpu_s"].append(time.process_time() - c0)
    for name in steps:
        res[name]["cpu_s"] = statistics.median(res[name]["cpu_s"])
    return res


def table(r: dict) -> str:
    a, h = r["audiocl"], r["HF"]
    lines = [f"### {r['preset']}", "", "| | audiocl GFLOP | HF GFLOP | HF / audiocl |", "|---|---:|---:|---:|"]
    for part in PARTS:
        lines.append(f"| forward: {part} | {a['parts'][part] / 1e9:.2f} | {h['parts'][part] / 1e9:.2f} | "
                     f"x{h['parts'][part] / max(a['parts'][part], 1):.2f} |")
    lines.append(f"| forward total | {a['forward'] / 1e9:.2f} | {h['forward'] / 1e9:.2f} | "
                 f"x{h['forward'] / max(a['forward'], 1):.2f} |")
    lines.append(f"| **step total** (forward, backward, optimizer) | {a['flops'] / 1e9:.2f} | {h['flops'] / 1e9:.2f} | "
                 f"x{h['flops'] / max(a['flops'], 1):.2f} |")
    lines.append(f"| step CPU time (s) | {a['cpu_s']:.3f} | {h['cpu_s']:.3f} | x{h['cpu_s'] / a['cpu_s']:.2f} |")
    lines.append(f"| achieved GFLOP/s | {a['flops'] / a['cpu_s'] / 1e9:.1f} | {h['flops'] / h['cpu_s'] / 1e9:.1f} | |")
    return "\n".join(lines)


def gemm_rate(m: int = 398, k: int = 768, n: int = 3072, repeats: int = 5) -> float:
    """GFLOP/s of one ``(m, k) @ (k, n)`` product (default: a ``base`` feed-forward layer on 2 x 4 s)."""
    a, b = torch.randn(m, k), torch.randn(k, n)
    a @ b
    c0 = time.process_time()
    for _ in range(repeats):
        a @ b
    return 2 * m * k * n * repeats / (time.process_time() - c0) / 1e9


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    head = (f"device=cpu x{args.threads} threads, batch={args.batch_size} x <= {args.seconds}s, torch {torch.__version__}; "
            f"median of {args.steps} timed steps per model; one 398x768 @ 768x3072 product: "
            f"{gemm_rate():.1f} GFLOP/s")
    out = ["# wav2vec 2.0 pre-training step: product FLOPs and the rate they run at, audiocl vs HF transformers", "",
           "Produced by `benchmarks/pretrain_flops.py` (see its docstring for what is counted):", "",
           "    python benchmarks/pretrain_flops.py " + " ".join(argv if argv is not None else sys.argv[1:]), "",
           head, ""]
    for preset in args.presets:
        out += [table(run_preset(preset, args)), ""]
        print("\n".join(out[-2:]), flush=True)
    if args.markdown:
        Path(args.markdown).write_text("\n".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
