"""``audiocl clap-train``: train a CLAP model on a Kaldi data dir of audio-caption pairs."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "clap-train",
        help="train a CLAP audio-text model with any contrastive objective (infonce, dcl, debiased, "
        "hard_negative, supcon, cwcl, ...), optional compositional hard negatives and bad-pair mining",
        description="Config = typed defaults (audiocl.tasks.clap.CLAPTrainConfig) + --config YAML + key=value "
        "overrides, e.g. data.train_dir=data/train objective.name=dcl objective.hard_negatives=true "
        "trainer.max_steps=600. Writes EXP/{config.yaml,checkpoints/last.ckpt,metrics.json,loss_curve.png} and "
        "the release EXP/release/{model.safetensors,config.yaml}. Re-running the same command resumes.",
    )
    p.add_argument("--config", action="append", default=[], help="YAML preset (repeatable)")
    p.add_argument("--exp-dir", required=True)
    p.add_argument("--init-only", action="store_true",
                   help="write EXP/release from the freshly initialised model (seed trainer.seed), no training: "
                   "the untrained baseline")
    p.add_argument("overrides", nargs="*", help="key=value overrides")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import logging

    from audiocl.config import resolve_config
    from audiocl.tasks.clap import CLAPTrainConfig, init_release, run_clap_training

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = resolve_config(CLAPTrainConfig, args.config, args.overrides)
    if args.init_only:
        print(f"untrained release in {init_release(cfg, args.exp_dir)}")
        return 0
    metrics = run_clap_training(cfg, args.exp_dir)
    if metrics:
        final = metrics.get("final_mean_last_logged", {})
        print(f"step {metrics['global_step']}: loss {final.get('train/loss', float('nan')):.4f}, "
              f"logit scale {final.get('train/logit_scale', float('nan')):.2f}; release in {args.exp_dir}/release")
    return 0
