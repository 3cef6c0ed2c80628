"""``audiocl export``: training checkpoint -> release (``model.safetensors`` + ``config.yaml``)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export",
        help="export a pretraining checkpoint as a release dir (model.safetensors + config.yaml)",
        description="Reads the Lightning checkpoint with torch.load(weights_only=True) and writes the "
        "model weights as safetensors plus the resolved config. --ckpt may be an exp dir (its "
        "checkpoints/last.ckpt is used).",
    )
    p.add_argument("--ckpt", required=True, help="EXP/checkpoints/last.ckpt or EXP")
    p.add_argument("--out", required=True, help="release folder to write")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from audiocl.hub.release import export_checkpoint, load_release

    out = export_checkpoint(args.ckpt, args.out)
    model, info = load_release(out)  # prove the release loads
    n = sum(p.numel() for p in model.parameters())
    print(f"{out}: {info.ssl_type} model, {n} parameters")
    return 0
