"""``audiocl convert --from FORMAT SRC DST``: a fairseq / HF / torchaudio checkpoint -> an audiocl release."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "convert",
        help="convert a fairseq .pt, HF transformers folder or torchaudio state dict into an audiocl release",
        description="Writes DST/model.safetensors + config.yaml (+ ctc_head.safetensors and the vocabulary of a "
        "CTC fine-tuned model, + conversion.json). Pickled files are read with torch.load(weights_only=True) "
        "only (fairseq's config classes allow-listed); anything else in them is refused. A torchaudio state "
        "dict takes its wav2vec2_model arguments from SRC with a .json suffix when present, else from the "
        "weights' shapes.",
    )
    p.add_argument("--from", dest="fmt", default="auto", choices=["auto", "fairseq", "hf", "torchaudio"],
                   help="source format (default: detected)")
    p.add_argument("src", metavar="SRC")
    p.add_argument("dst", metavar="DST", help="release folder to create (must not exist or be empty)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from audiocl.errors import ConfigError
    from audiocl.hub.conversion import convert_to_release
    from audiocl.hub.release import load_release

    dst = Path(args.dst)
    if dst.exists() and any(dst.iterdir()):
        raise ConfigError(f"{dst}: exists and is not empty; choose a new folder")
    info = convert_to_release(args.src, dst, args.fmt)
    model, release = load_release(dst)  # prove the release loads
    n = sum(p.numel() for p in model.parameters())
    print(f"{dst}: {info['format']} -> {release.ssl_type} release, {n} parameters")
    return 0
