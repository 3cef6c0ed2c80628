"""How a wav2vec 2.0 pre-training step grows with utterance length and batch size: audiocl vs HF transformers.

Same set-up as :mod:`pretrain_speed` (same config, initial weights, padded batch, full step with AdamW) at
each grid point. Step time is the median process CPU time of the timed steps (robust on a shared machine
with one intra-op thread; wall time is printed too). Peak memory is the highest sum of live tensor
allocations during one extra step, above what was allocated before it (weights and optimizer state are
already there), summed in time order from each profiled op's own net allocation (:mod:`torch.profiler` with
``profile_memory=True``; a temporary that an op allocates and frees inside itself is not seen): it
counts what each model's ops allocate, not what the C allocator keeps cached, so both models are measured
the same way. On CUDA, ``torch.cuda.max_memory_allocated`` is used instead.

    python benchmarks/pretrain_scaling.py --threads 1 \\
        --markdown benchmarks/results/pretrain_scaling.md --png benchmarks/results/pretrain_scaling.png

Default grid: ``tiny`` at 2, 4, 8, 16 s (batch 2) and batch 1, 2, 4 (4 s); ``base`` at 2 and 4 s (batch 2).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pretrain_speed as ps  # noqa: E402  (the shared set-up: config, weights, batch, step)

DEFAULT_GRID = ["tiny:2:2", "tiny:2:4", "tiny:2:8", "tiny:2:16", "tiny:1:4", "tiny:4:4", "base:2:2", "base:2:4"]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--grid", nargs="+", default=DEFAULT_GRID, help="points as preset:batch:seconds")
    p.add_argument("--steps", type=int, default=2, help="timed steps per model and point")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--markdown", default=None)
    p.add_argument("--png", default=None)
    return p.parse_args(argv)


def peak_step_bytes(step, device) -> int:
    """Highest live allocation (bytes) during ``step()`` above the allocation level before it."""
    if device.type == "cuda":
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        step()
        torch.cuda.synchronize()
        return int(torch.cuda.max_memory_allocated() - base)
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    # each op's own net allocation (children excluded) at its start, plus frees outside any op
    deltas = sorted((ev.time_range.start, ev.self_cpu_memory_usage) for ev in prof.events()
                    if ev.self_cpu_memory_usage)
    live = peak = 0
    for _, d in deltas:
        live += d
        peak = max(peak, live)
    return int(peak)


def run_point(preset: str, batch: int, seconds: float, args) -> dict:
    device = torch.device(args.device)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    cfg, ours, hf = ps.build(preset, device, True)
    wav, lengths, att = ps.make_batch(batch, seconds, args.seed, device)
    opt_a, opt_h = ps.make_optimizer(ours, device), ps.make_optimizer(hf, device)
    steps = {"audiocl": lambda i: ps.audiocl_step(ours, opt_a, wav, lengths, i, device, "fp32"),
             "hf": lambda i: ps.hf_step(hf, opt_h, wav, lengths, att, i, device, "fp32", cfg)}
    times = {k: [] for k in steps}
    for i in range(args.warmup + args.steps):
        for name, step in steps.items():  # alternate, so that load hits both alike
            (wall, cpu), _ = ps.timed(lambda: step(i), device)
            if i >= args.warmup:
                times[name].append((wall, cpu))
    res = {"preset": preset, "batch": batch, "seconds": seconds}
    n = args.warmup + args.steps
    for name, step in steps.items():
        res[f"{name}_cpu_s"] = statistics.median(t[1] for t in times[name])
        res[f"{name}_wall_s"] = statistics.median(t[0] for t in times[name])
        res[f"{name}_peak_mb"] = peak_step_bytes(lambda: step(n), device) / 2**20
    return res


def table(rows: list[dict]) -> str:
    lines = ["| preset | batch | seconds | audiocl s | HF s | HF / audiocl | audiocl peak MiB | HF peak MiB | "
             "HF / audiocl |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['preset']} | {r['batch']} | {r['seconds']:g} | {r['audiocl_cpu_s']:.2f} | "
                     f"{r['hf_cpu_s']:.2f} | x{r['hf_cpu_s'] / r['audiocl_cpu_s']:.2f} | "
                     f"{r['audiocl_peak_mb']:.0f} | {r['hf_peak_mb']:.0f} | "
                     f"x{r['hf_peak_mb'] / max(r['audiocl_peak_mb'], 1e-9):.2f} |")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for preset in sorted({r["preset"] for r in rows}):
        pts = sorted((r for r in rows if r["preset"] == preset and r["batch"] == 2), key=lambda r: r["seconds"])
        if not pts:
            continue
        secs = [r["seconds"] for r in pts]
        for impl, style in (("audiocl", "-o"), ("hf", "--s")):
            label = f"{preset} {'audiocl' if impl == 'audiocl' else 'HF'}"
            axes[0].plot(secs, [r[f"{impl}_cpu_s"] for r in pts], style, label=label)
            axes[1].plot(secs, [r[f"{impl}_peak_mb"] for r in pts], style, label=label)
    for ax, ylabel in zip(axes, ("step CPU time (s)", "peak step allocations (MiB)")):
        ax.set_xlabel("longest utterance (s), batch 2")
        ax.set_ylabel(ylabel)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("wav2vec 2.0 pre-training step: audiocl vs HF transformers")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    head = (f"device={args.device} threads={args.threads} steps={args.steps} (+{args.warmup} warm-up) "
            f"torch {torch.__version__}")
    print("# " + head, flush=True)
    rows = []
    for point in args.grid:
        preset, batch, seconds = point.split(":")
        r = run_point(preset, int(batch), float(seconds), args)
        rows.append(r)
        print(table([r]).splitlines()[-1], flush=True)
    text = table(rows)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(head + "\n\n" + text)
    if args.png:
        plot(rows, args.png)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
