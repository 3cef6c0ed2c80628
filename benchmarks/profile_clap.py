"""Where a CLAP training update and a ``clap evaluate`` run spend their time (CPU, one thread).

Training: the task of ``audiocl clap-train`` (the recipe config) runs ``--steps`` updates after two warm-up
updates; each phase is timed with ``time.perf_counter`` around the library calls: the batch (audio reading,
crop, collate; or the log-mel cache lookup), the log-mel, the CNN forward, projections + loss, the backward
and the optimizer step. The CNN's forward and backward per block come from a separate measurement of each
block alone on the shapes the model sees (same batch, train mode).

Evaluation: the phases of ``CLAP.from_pretrained(...).evaluate(...)`` on one release, timed the same way
(model load, test audio reading, log-mel, audio towers, caption features, zero-shot prompts, CompA, the PNG).

    python benchmarks/profile_clap.py --data egs/mini_clap/data --config egs/mini_clap/conf/train.yaml \
        --text-cache egs/mini_clap/exp/clap/text_cache --release egs/mini_clap/exp/clap/infonce/seed1/release

No assertions on time; the numbers depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import torch

TIMES: dict[str, float] = defaultdict(float)


@contextlib.contextmanager
def timed(label: str):
    t0 = time.perf_counter()
    yield
    TIMES[label] += time.perf_counter() - t0


def _wrap(owner, attr: str, label: str) -> None:
    fn = getattr(owner, attr)

    def wrapped(*a, **k):
        with timed(label):
            return fn(*a, **k)

    setattr(owner, attr, wrapped)


def profile_training(args: argparse.Namespace) -> None:
    from audiocl.config import resolve_config
    from audiocl.tasks.clap import CLAPTrainConfig, build_task

    cfg = resolve_config(CLAPTrainConfig, [args.config], list(args.overrides))
    cfg.data.train_dir = str(Path(args.data) / "train")
    cfg.data.text_cache_dir = args.text_cache
    if args.feature_cache:
        cfg.data.feature_cache_dir = args.feature_cache
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as exp, timed("build task (data, caches)"):
        task = build_task(cfg, exp)
    model = task.model.train()
    opt = torch.optim.AdamW(model.param_groups(cfg.optim.weight_decay), lr=cfg.optim.lr)
    import audiocl.models.clap as clap_mod

    _wrap(clap_mod, "logmel_batch", "log-mel")
    _wrap(model.audio_encoder, "forward", "CNN forward")
    shapes: list[tuple] = []
    hooks = [b.register_forward_pre_hook(lambda m, inp: shapes.append(tuple(inp[0].shape)))
             for b in model.audio_encoder.blocks]
    loader = iter(task.train_dataloader())
    for step in range(args.steps + 2):
        if step == 2:
            TIMES.clear()
        with timed("batch (read audio, crop, collate)"):
            batch = next(loader)
        with timed("forward total"):
            loss, _ = task.compute_loss(batch)
        with timed("backward"):
            loss.backward()
        with timed("optimizer"):
            opt.step()
            opt.zero_grad(set_to_none=True)
    for h in hooks:
        h.remove()
    n = args.steps
    rows = dict(TIMES)
    rest = rows.pop("forward total") - rows.get("log-mel", 0) - rows.get("CNN forward", 0)
    rows["projections + loss forward"] = rest
    total = sum(v for k, v in rows.items())
    print(f"\n### One training update ({n} updates averaged, batch {cfg.data.batch_size}, 1 thread)\n")
    print("| phase | ms / update | share |\n|---|---|---|")
    for k, v in rows.items():
        print(f"| {k} | {1000 * v / n:.0f} | {100 * v / total:.0f} % |")
    print(f"| total | {1000 * total / n:.0f} | |")
    # per block, alone on the shapes the model saw
    print("\n| CNN block (input shape) | forward ms | backward ms |\n|---|---|---|")
    for i, block in enumerate(model.audio_encoder.blocks):
        shape = shapes[i]
        x = torch.randn(shape).contiguous(memory_format=torch.channels_last).requires_grad_(i > 0)
        fwd = bwd = 0.0
        for rep in range(args.steps + 1):
            t0 = time.perf_counter()
            y = block(x)
            t1 = time.perf_counter()
            y.backward(torch.ones_like(y))
            t2 = time.perf_counter()
            if rep:
                fwd, bwd = fwd + t1 - t0, bwd + t2 - t1
        print(f"| {i + 1} {list(shape)} | {1000 * fwd / n:.0f} | {1000 * bwd / n:.0f} |")


def profile_evaluation(args: argparse.Namespace) -> None:
    import audiocl.tasks.clap_eval as ev
    from audiocl.clap import CLAP

    TIMES.clear()
    with timed("load release"):
        model = CLAP.from_pretrained(args.release)
    _wrap(ev, "read_audio", "read test audio")
    _wrap(ev, "embed_files_models", "audio total")
    _wrap(ev, "embed_captions", "caption features + projection")
    _wrap(ev, "_zero_shot", "zero-shot (prompts through MiniLM)")
    _wrap(ev, "_compa", "CompA (captions through MiniLM)")
    _wrap(ev, "plot_similarity", "similarity PNG")
    with tempfile.TemporaryDirectory() as out, timed("evaluate total"):
        model.evaluate(str(Path(args.data) / "test"), out, text_cache_dir=args.text_cache)
    rows = dict(TIMES)
    total = rows.pop("evaluate total")
    rows["audio towers (CNN, projection)"] = rows.pop("audio total") - rows["read test audio"] - rows.get("log-mel", 0)
    rows["rest (metrics, JSON, data dir)"] = total - sum(v for k, v in rows.items() if k != "load release")
    print("\n### One `clap evaluate` run (1 thread)\n\n| phase | s |\n|---|---|")
    for k, v in rows.items():
        print(f"| {k} | {v:.2f} |")
    print(f"| total (without start-up imports) | {total + rows['load release']:.2f} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="the mini_clap data folder (train/ and test/)")
    p.add_argument("--config", required=True)
    p.add_argument("--text-cache", required=True)
    p.add_argument("--feature-cache", default="", help="log-mel cache folder (data.feature_cache_dir)")
    p.add_argument("--release", default="", help="a release to profile `clap evaluate` with")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("overrides", nargs="*", help="key=value config overrides")
    args = p.parse_args()
    torch.set_num_threads(1)
    profile_training(args)
    if args.release:
        profile_evaluation(args)


if __name__ == "__main__":
    main()
