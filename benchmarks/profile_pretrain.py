"""Where a wav2vec 2.0 pre-training step spends its time: audiocl vs HF transformers ``Wav2Vec2ForPreTraining``.

Same set-up as :mod:`pretrain_speed` (same config, same initial weights, same padded batch, same step:
masks and negatives, forward, loss, backward, AdamW). Each step runs under :mod:`torch.profiler`; forward
hooks open a named range around each component (conv feature encoder, positional conv, attention,
feed-forward, quantizer, loss, masks + negatives) and every backward op is charged to the component whose
forward op created it (the autograd sequence number links the two), so a component's row is its forward
plus its backward. What no component claims (layer norms, projections, residual adds, the autograd
engine) is "other". Times are the profiled ops' durations on the CPU thread (kernel time on CUDA), summed over
the profiled steps (which alternate between the two models) and divided by their number; the profiler's own
overhead makes them larger than the un-profiled step of :mod:`pretrain_speed`, and a loaded machine stretches
them too, so read the shares and the HF/audiocl ratios, not the totals.

    python benchmarks/profile_pretrain.py --presets base tiny --threads 2 --batch-size 2 --seconds 4
    python benchmarks/profile_pretrain.py --device cuda --dtype bf16 --batch-size 8 --seconds 15

``--markdown FILE`` writes the table (``benchmarks/results/pretrain_profile.md``).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile, record_function

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pretrain_speed as ps  # noqa: E402  (the shared set-up: config, weights, batch, step)

COMPONENTS = ["conv feature encoder", "positional conv", "attention", "feed-forward", "quantizer", "loss",
              "masks + negatives", "optimizer", "other"]
_PREFIX = "cmp::"
_PHASE = "phase::"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--presets", nargs="+", default=["base", "tiny"], choices=["tiny", "base", "large"])
    p.add_argument("--batch-size", type=int, default=2)
    p.add_argument("--seconds", type=float, default=4.0)
    p.add_argument("--steps", type=int, default=2, help="profiled steps per model")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--markdown", default=None, help="write the tables to this markdown file")
    return p.parse_args(argv)


def _label_modules(model: torch.nn.Module, rules: list[tuple[str, callable]]) -> list:
    """Forward pre/post hooks opening a ``cmp::<component>`` range around each module a rule matches
    (outermost match only: a matched module's children are not labelled again)."""
    handles = []

    def attach(module, name):
        state = {}

        def pre(mod, args):
            state.setdefault("stack", []).append(record_function(_PREFIX + name).__enter__())

        def post(mod, args, out):
            state["stack"].pop().__exit__(None, None, None)

        handles.append(module.register_forward_pre_hook(pre))
        handles.append(module.register_forward_hook(post))

    def walk(module):
        for name, match in rules:
            if match(module):
                attach(module, name)
                return
        for child in module.children():
            walk(child)

    walk(model)
    return handles


def _wrap(obj, attr: str, name: str) -> None:
    """Replace ``obj.attr`` (a function) by one that runs inside a ``cmp::<name>`` range."""
    fn = getattr(obj, attr)

    def wrapped(*a, **k):
        with record_function(_PREFIX + name):
            return fn(*a, **k)

    setattr(obj, attr, wrapped)


@contextlib.contextmanager
def _patched(obj, attr: str, name: str):
    old = getattr(obj, attr)
    _wrap(obj, attr, name)
    try:
        yield
    finally:
        setattr(obj, attr, old)


def audiocl_rules(model) -> list:
    from audiocl.nn.transformer import FeedForward, SelfAttention

    return [("conv feature encoder", lambda m: m is model.wav2vec2.feature_extractor),
            ("positional conv", lambda m: m is model.wav2vec2.encoder.pos_conv),
            ("attention", lambda m: isinstance(m, SelfAttention)),
            ("feed-forward", lambda m: isinstance(m, FeedForward)),
            ("quantizer", lambda m: m is model.quantizer or m is model.project_q),
            ("loss", lambda m: m is model.objective)]


def hf_rules(model) -> list:
    from transformers.models.wav2vec2 import modeling_wav2vec2 as hfw

    return [("conv feature encoder", lambda m: m is model.wav2vec2.feature_extractor),
            ("positional conv", lambda m: m is model.wav2vec2.encoder.pos_conv_embed),
            ("attention", lambda m: isinstance(m, hfw.Wav2Vec2Attention)),
            ("feed-forward", lambda m: isinstance(m, hfw.Wav2Vec2FeedForward)),
            ("quantizer", lambda m: m is model.quantizer or m is model.project_q)]


def _cost(ev, cuda: bool) -> float:
    return float(ev.device_time_total if cuda else ev.cpu_time_total)


def _enclosing(ev, prefix: str):
    p = ev.cpu_parent
    while p is not None:
        if p.name.startswith(prefix):
            return p.name[len(prefix):]
        p = p.cpu_parent
    return None


def breakdown(events, cuda: bool) -> dict[str, float]:
    """Microseconds per component (all profiled steps together) from the profiler's event list."""
    out: dict[str, float] = defaultdict(float)
    seq_owner: dict[int, str] = {}
    phase_total: dict[str, float] = defaultdict(float)
    claimed: dict[str, float] = defaultdict(float)
    backward_evals = []
    for ev in events:
        if ev.name.startswith(_PHASE):
            phase_total[ev.name[len(_PHASE):]] += _cost(ev, cuda)
        elif ev.name.startswith(_PREFIX):
            if _enclosing(ev, _PREFIX) is None:  # outermost component range only
                comp = ev.name[len(_PREFIX):]
                out[comp] += _cost(ev, cuda)
                claimed[_enclosing(ev, _PHASE) or "forward"] += _cost(ev, cuda)
        elif ev.name.startswith("autograd::engine::evaluate_function"):
            backward_evals.append(ev)
        elif getattr(ev, "sequence_nr", -1) >= 0 and ev.fwd_thread is not None:
            comp = _enclosing(ev, _PREFIX)
            if comp is not None:
                seq_owner.setdefault(ev.sequence_nr, comp)
    backward_sum = 0.0
    for ev in backward_evals:
        seq = getattr(ev, "sequence_nr", -1)
        if seq < 0:  # the node's own op event carries the number
            seq = next((c.sequence_nr for c in ev.cpu_children if getattr(c, "sequence_nr", -1) >= 0), -1)
        comp = seq_owner.get(seq)
        backward_sum += _cost(ev, cuda)
        if comp is not None:
            out[comp] += _cost(ev, cuda)
            claimed["backward"] += _cost(ev, cuda)
    phase_total["backward"] = max(phase_total["backward"], backward_sum)
    for phase in ("forward", "backward"):
        out["other"] += max(phase_total[phase] - claimed[phase], 0.0)
    out["optimizer"] += phase_total["optimizer"]
    out["masks + negatives"] += phase_total["masks + negatives"]
    out["total"] = sum(phase_total.values())
    return dict(out)


def _phase_label(name: str):
    return record_function(_PHASE + name)


def profile_step(step_fn, i: int, cuda: bool) -> dict[str, float]:
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=acts) as prof:
        step_fn(i, _phase_label)
        ps.sync("cuda" if cuda else "cpu")
    return breakdown(prof.events(), cuda)


def profile_alternating(steps_fns: dict, steps: int, warmup: int, cuda: bool) -> dict[str, dict[str, float]]:
    """Mean breakdown per model; the models' steps alternate (one profiled step each in turn), so that
    load on a shared machine hits both alike."""
    for i in range(warmup):
        for fn in steps_fns.values():
            fn(i, ps._no_label)
    sums: dict[str, dict[str, float]] = {k: defaultdict(float) for k in steps_fns}
    for i in range(warmup, warmup + steps):
        for name, fn in steps_fns.items():
            for comp, v in profile_step(fn, i, cuda).items():
                sums[name][comp] += v / steps
    return {k: dict(v) for k, v in sums.items()}


def run_preset(preset: str, args) -> tuple[dict, dict]:
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    cfg, ours, hf = ps.build(preset, device, True)
    wav, lengths, att = ps.make_batch(args.batch_size, args.seconds, args.seed, device)
    opt_a, opt_h = ps.make_optimizer(ours, device), ps.make_optimizer(hf, device)

    from audiocl.models import wav2vec2 as w2v_mod

    handles = _label_modules(ours, audiocl_rules(ours)) + _label_modules(hf, hf_rules(hf))
    _wrap(ours, "_similarities", "loss")
    _wrap(hf, "compute_contrastive_logits", "loss")
    with contextlib.ExitStack() as stack:
        # HF samples its masks and negatives before the forward, inside the step's own range
        for mod, attr in ((w2v_mod, "compute_span_mask"), (w2v_mod, "sample_in_groups")):
            stack.enter_context(_patched(mod, attr, "masks + negatives"))
        stack.enter_context(_patched(torch.nn.functional, "cross_entropy", "loss"))
        r = profile_alternating(
            {"audiocl": lambda i, lab: ps.audiocl_step(ours, opt_a, wav, lengths, i, device, args.dtype, lab),
             "hf": lambda i, lab: ps.hf_step(hf, opt_h, wav, lengths, att, i, device, args.dtype, cfg, lab)},
            args.steps, args.warmup, cuda)
        ra, rh = r["audiocl"], r["hf"]
    for h in handles:
        h.remove()
    return ra, rh


def table(preset: str, ra: dict, rh: dict) -> str:
    lines = [f"### {preset}", "",
             "| component | audiocl ms | share | HF ms | share | HF / audiocl |",
             "|---|---:|---:|---:|---:|---:|"]
    for comp in COMPONENTS + ["total"]:
        a, h = ra.get(comp, 0.0) / 1000, rh.get(comp, 0.0) / 1000
        sa = f"{100 * a / (ra['total'] / 1000):.0f}%" if ra["total"] else "-"
        sh = f"{100 * h / (rh['total'] / 1000):.0f}%" if rh["total"] else "-"
        ratio = f"x{h / a:.2f}" if a > 0 else "-"
        name = f"**{comp}**" if comp == "total" else comp
        lines.append(f"| {name} | {a:.1f} | {sa} | {h:.1f} | {sh} | {ratio} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    dev = args.device
    name = torch.cuda.get_device_name(0) if dev.startswith("cuda") else f"cpu x{args.threads} threads"
    head = (f"device={dev} ({name}) dtype={args.dtype} batch={args.batch_size} x <= {args.seconds}s, "
            f"{args.steps} profiled steps (+{args.warmup} warm-up) per model, torch {torch.__version__}")
    print("# " + head, flush=True)
    tables = []
    for preset in args.presets:
        ra, rh = run_preset(preset, args)
        t = table(preset, ra, rh)
        print(t, flush=True)
        tables.append(t)
    if args.markdown:
        Path(args.markdown).write_text("\n".join([head, ""] + tables))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
