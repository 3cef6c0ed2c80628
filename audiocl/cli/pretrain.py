"""``audiocl pretrain``: self-supervised pretraining (wav2vec 2.0 or CPC), recipe stage 3."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "pretrain",
        help="self-supervised pretraining of wav2vec 2.0 or CPC on a Kaldi data dir (resumable)",
        description="Config = typed defaults (fairseq wav2vec 2.0 BASE) + --config YAML presets "
        "(configs/pretrain/{tiny,base,large,cpc_tiny}.yaml) + key=value overrides, e.g. "
        "trainer.max_steps=2000 optim.lr=1e-3 model.mask_prob=0.5. Writes EXP/config.yaml, "
        "EXP/checkpoints/last.ckpt (atomically, every trainer.checkpoint_every_n_steps), EXP/log/, "
        "EXP/loss_curve.png and EXP/metrics.json. Re-running the same command resumes.",
    )
    p.add_argument("--data", required=True, help="Kaldi data dir to train on (wav.scp, utt2spk, utt2dur)")
    p.add_argument("--exp-dir", required=True, help="experiment folder")
    p.add_argument("--ssl-type", default=None, help="wav2vec2 or cpc (default: the preset's ssl_type)")
    p.add_argument("--config", action="append", default=[], help="YAML preset (repeatable; later wins)")
    p.add_argument("overrides", nargs="*", help="key=value overrides")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    import logging

    from audiocl.tasks.pretrain import run_pretrain
    from audiocl.tasks.pretrain_config import resolve_pretrain_config

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = resolve_pretrain_config(args.config, args.overrides, ssl_type=args.ssl_type)
    metrics = run_pretrain(cfg, args.data, args.exp_dir)
    if metrics:
        final = metrics.get("final_mean_last_logged", {})
        keep = {k: final.get(f"train/{k}") for k in ("loss", "acc", "prob_perplexity", "code_perplexity",
                                                     "gumbel_temperature")}
        print(json.dumps({"global_step": metrics.get("global_step"), **keep,
                          "chance_accuracy": metrics.get("chance_accuracy"),
                          "chance_accuracy_effective": metrics.get("chance_accuracy_effective"),
                          "skipped_batches": metrics.get("skipped_batches"),
                          "loss_curve": metrics.get("loss_curve")}, default=str))
    return 0
