"""Where a TS2Vec training step spends its time: ours against the TS2Vec authors' code (PyPI ``ts2vec==0.1``).

Both arms train on the same normalised arrays (:func:`audiocl.ts.data.load_ucr_uea_normalised`) with the
paper's settings (batch 8, lr 1e-3, repr 320, hidden 64, depth 10), one after the other in one process, so
they run under the same machine load. For each arm it reports

- the plain wall time per iteration (no profiler attached), and the ratio ours / authors';
- a torch.profiler breakdown of a second, profiled run into phases: random crops (data path), encoder
  forward, hierarchical loss forward, backward, optimizer step (+ zero_grad), weight averaging, and the
  rest (Python overhead: loop, masks, host syncs). Phases are marked with ``record_function`` from
  module hooks and wrappers installed here, so neither library carries profiling code.

    python benchmarks/profile_ts.py --datasets GunPoint ItalyPowerDemand --iters 40 --components 24 100 150 \
        --markdown benchmarks/results/ts_profile.md

No assertions on time; the numbers depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.autograd.profiler import record_function

import audiocl.ts.model as ours_model
from audiocl.ts.config import TSContrastiveConfig
from audiocl.ts.data import load_ucr_uea_normalised
from audiocl.ts.model import TSContrastiveModel
from audiocl.utils.io import atomic_write_text

PHASES = ("crop", "encoder.forward", "loss.forward", "backward", "optimizer", "weight averaging", "other")


def _wrap(owner, attr: str, label: str) -> None:
    """Replace ``owner.attr`` (a function or class) with a version that runs under ``record_function(label)``."""
    fn = getattr(owner, attr)
    if getattr(fn, "_profiled", False):
        return

    def wrapped(*a, **k):
        with record_function(label):
            return fn(*a, **k)

    wrapped._profiled = True
    setattr(owner, attr, wrapped)


def _mark_module(module: torch.nn.Module, label: str) -> None:
    """Mark a module's forward calls as ``label`` through forward hooks."""
    stack: list = []

    def pre(_m, _inp):
        rf = record_function(label)
        rf.__enter__()
        stack.append(rf)

    def post(_m, _inp, _out):
        stack.pop().__exit__(None, None, None)

    module.register_forward_pre_hook(pre)
    module.register_forward_hook(post)


def _seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _ours(x: np.ndarray, seed: int, cfg_kw: dict) -> TSContrastiveModel:
    cfg = TSContrastiveConfig(seed=seed, num_threads=torch.get_num_threads(), **cfg_kw)
    return TSContrastiveModel(cfg, x.shape[2])


def _peer(x: np.ndarray, seed: int):
    from ts2vec import TS2Vec

    _seed(seed)
    return TS2Vec(input_dims=x.shape[2], output_dims=320, hidden_dims=64, depth=10, device="cpu", lr=1e-3,
                  batch_size=8, max_train_length=3000)


def time_fit(arm: str, x: np.ndarray, iters: int, seed: int, cfg_kw: dict, profile: bool) -> tuple[float, float, dict]:
    """Wall and process-CPU seconds of ``iters`` training iterations, and (``profile``) seconds per phase."""
    if arm == "ours":
        m = _ours(x, seed, cfg_kw)
        if profile:
            _mark_module(m.encoder, "encoder.forward")
            if hasattr(m.encoder, "encode_crops"):  # the training step's one pass over both crops
                _wrap(m.encoder, "encode_crops", "encoder.forward")
        fit = lambda: m.fit(x, iters=iters)  # noqa: E731
    else:
        m = _peer(x, seed)
        if profile:
            _mark_module(m._net, "encoder.forward")
            _wrap(m.net, "update_parameters", "weight averaging")
        fit = lambda: m.fit(x, n_iters=iters)  # noqa: E731
    ctx = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) if profile else contextlib.nullcontext()
    with ctx as prof:
        t0, c0 = time.perf_counter(), time.process_time()
        fit()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return wall, cpu, (_phases(prof, wall) if profile else {})


def _phases(prof, wall: float) -> dict:
    """Seconds per phase from the profiler's top-level events."""
    out = dict.fromkeys(PHASES, 0.0)
    for ev in prof.key_averages():
        name, s = ev.key, ev.cpu_time_total / 1e6
        if name in ("crop", "encoder.forward", "loss.forward", "weight averaging"):
            out[name] += s
        elif name.startswith("autograd::engine::evaluate_function"):
            out["backward"] += s
        elif name.startswith("Optimizer.step") or name.startswith("Optimizer.zero_grad"):
            out["optimizer"] += s
    out["other"] = max(wall - sum(v for k, v in out.items() if k != "other"), 0.0)
    return out


def install_phase_marks() -> None:
    """Mark both arms' crop and loss functions (module-level names their training loops call)."""
    import ts2vec.ts2vec as peer_mod

    _wrap(ours_model, "OverlapCrop", "crop")
    _wrap(ours_model, "hierarchical_contrastive_loss", "loss.forward")
    _wrap(peer_mod, "take_per_row", "crop")
    _wrap(peer_mod, "hierarchical_contrastive_loss", "loss.forward")


def profile_dataset(name: str, iters: int, seed: int, cfg_kw: dict, repeats: int, phases_too: bool) -> list[str]:
    x = load_ucr_uea_normalised(name)[2]
    walls: dict[str, list] = {"ours": [], "peer": []}
    cpus: dict[str, list] = {"ours": [], "peer": []}
    for arm in ("ours", "peer"):  # warm-up: first-call costs (lazy imports, allocator, oneDNN setup) stay out
        time_fit(arm, x, 1, seed, cfg_kw, profile=False)
    for _ in range(repeats):  # alternate the arms so load changes hit both alike
        for arm in ("ours", "peer"):
            wall, cpu, _ = time_fit(arm, x, iters, seed, cfg_kw, profile=False)
            walls[arm].append(wall)
            cpus[arm].append(cpu)
    empty = dict.fromkeys(PHASES, float("nan"))
    phases = {arm: time_fit(arm, x, iters, seed, cfg_kw, profile=True)[2] if phases_too else empty for arm in ("ours", "peer")}
    w = {a: float(np.median(v)) for a, v in walls.items()}
    c = {a: float(np.median(v)) for a, v in cpus.items()}
    rows = [f"| {name} ({x.shape[0]}x{x.shape[1]}x{x.shape[2]}) | {arm} | {1e3 * w[arm] / iters:.1f} | {1e3 * c[arm] / iters:.1f} | "
            + " | ".join(f"{1e3 * phases[arm][p] / iters:.1f}" for p in PHASES)
            + f" | {w['ours'] / w['peer']:.2f} | {c['ours'] / c['peer']:.2f} |" for arm in ("ours", "peer")]
    for r in rows:
        print(r, flush=True)
    return rows


def _cpu_ms(fn, n: int) -> float:
    """Process-CPU milliseconds per call of ``fn`` (after two warm-up calls)."""
    for _ in range(2):
        fn()
    c0 = time.process_time()
    for _ in range(n):
        fn()
    return 1e3 * (time.process_time() - c0) / n


def components(lengths: list[int], n: int) -> list[str]:
    """Forward + backward CPU time of one view's encoder pass (batch 8) and of the hierarchical loss
    on ``(8, L, 320)`` views: ours, ours with plain convolutions (no skipped taps, oneDNN's backward),
    and the authors' modules."""
    import audiocl.nn.ts_encoders as enc_mod
    from ts2vec.models import TSEncoder
    from ts2vec.models.losses import hierarchical_contrastive_loss as peer_loss

    from audiocl.losses.ts_hierarchical import hierarchical_contrastive_loss as our_loss
    from audiocl.nn.same_dilated_conv import dilated_conv2d  # oneDNN + autograd: no shortcuts

    torch.manual_seed(0)
    ours = enc_mod.DilatedConvEncoder(1).train()
    peer = TSEncoder(input_dims=1, output_dims=320, hidden_dims=64, depth=10).train()
    fast_conv = enc_mod.same_dilated_conv
    rows = []
    for L in lengths:
        x = torch.randn(8, L, 1)
        z1, z2 = torch.randn(8, L, 320, requires_grad=True), torch.randn(8, L, 320, requires_grad=True)
        valid = torch.ones(8, L, dtype=torch.bool)
        enc = _cpu_ms(lambda: ours(x).sum().backward(), n)
        enc_mod.same_dilated_conv = dilated_conv2d
        try:
            enc_plain = _cpu_ms(lambda: ours(x).sum().backward(), n)
        finally:
            enc_mod.same_dilated_conv = fast_conv
        enc_peer = _cpu_ms(lambda: peer(x).sum().backward(), n)
        loss = _cpu_ms(lambda: our_loss(z1, z2, valid, valid).loss.backward(), n)
        loss_masked = _cpu_ms(lambda: our_loss(z1, z2, valid, valid, with_logs=True).loss.backward(), n)
        loss_peer = _cpu_ms(lambda: peer_loss(z1, z2).backward(), n)
        rows.append(f"| {L} | {enc:.1f} | {enc_plain:.1f} | {enc_peer:.1f} | {loss:.1f} | {loss_masked:.1f} | {loss_peer:.1f} |")
        print(rows[-1], flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--datasets", nargs="*", default=["GunPoint"])
    p.add_argument("--iters", type=int, default=40)
    p.add_argument("--repeats", type=int, default=3, help="unprofiled timings per arm (median reported)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no-phases", action="store_true", help="skip the profiled run (ratios only)")
    p.add_argument("--components", nargs="*", type=int, default=[], metavar="LENGTH",
                   help="also time encoder and loss forward+backward alone at these view lengths")
    p.add_argument("--markdown", type=Path)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    install_phase_marks()
    head = ("| dataset (N x T x C) | arm | wall ms/iter | CPU ms/iter | " + " | ".join(f"{p} ms" for p in PHASES)
            + " | wall ratio ours / authors | CPU ratio ours / authors |")
    print(head)
    rows = [r for name in args.datasets
            for r in profile_dataset(name, args.iters, args.seed, {}, args.repeats, not args.no_phases)]
    table = "\n".join([head, "|" + "---|" * (len(PHASES) + 6), *rows])
    if args.components:
        chead = ("| view length L | encoder ours | encoder ours, plain convolutions | encoder authors' | loss ours "
                 "| loss ours, masked path | loss authors' |")
        print(chead)
        crow = components(args.components, n=10)
        table += ("\n\nForward + backward, CPU ms per call (encoder: one view, batch 8; loss: two (8, L, 320) views):"
                  "\n\n" + "\n".join([chead, "|---|---|---|---|---|---|---|", *crow]))
    if args.markdown:
        cmd = "python benchmarks/profile_ts.py " + " ".join(argv if argv is not None else sys.argv[1:])
        atomic_write_text(args.markdown, f"# TS2Vec training step: where the time goes\n\nGenerated by `{cmd}` "
                          f"(CPU, {args.threads} torch thread(s)). Per-iteration milliseconds; the phase columns come "
                          f"from a separate profiled run (profiler overhead included), the wall column and ratio from "
                          f"unprofiled runs (median of {args.repeats}; CPU = process time, less sensitive to other load on the machine). See the script's docstring.\n\n{table}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
