"""``audiocl finetune`` (CTC fine-tuning, recipe stage 4) and ``audiocl subset-labels`` (label fractions)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "finetune",
        help="CTC fine-tuning of a pretrained upstream (or the from-scratch fbank baseline)",
        description="Trains a CTC recogniser on a Kaldi data dir. Config = typed defaults (fairseq base_10m "
        "fine-tuning values) + --config YAML presets + key=value overrides, e.g. "
        "upstream.path=exp/pretrain/release data.train=data/train_10pct trainer.max_steps=2000. "
        "Re-running the same command resumes from EXP/checkpoints/last.ckpt. The released model "
        "goes to EXP/model.",
    )
    p.add_argument("--config", action="append", default=[], help="YAML preset (repeatable; later wins)")
    p.add_argument("--exp-dir", required=True, help="experiment folder")
    p.add_argument("overrides", nargs="*", help="key=value overrides")
    p.set_defaults(func=run)

    s = subparsers.add_parser(
        "subset-labels",
        help="write a label-fraction subset of a data dir (nested across fractions, reproducible by seed)",
    )
    s.add_argument("--src", required=True)
    s.add_argument("--dst", required=True)
    s.add_argument("--fraction", type=float, required=True, help="e.g. 0.01, 0.1, 1.0")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--stratify-by", default=None, help="utt2spk or an utterance file such as utt2style")
    s.set_defaults(func=run_subset)

    t = subparsers.add_parser(
        "prepare-ft-splits",
        help="LibriSpeech low-resource fine-tuning splits (10min, 1h, 10h, 100h): Libri-light lists when "
        "present, else nested seeded subsets of the training data dir",
    )
    t.add_argument("--out", required=True, help="folder for the data dirs (OUT/<prefix><split>)")
    t.add_argument("--splits", default="10min 1h 10h 100h")
    t.add_argument("--train-data", default=None, help="LibriSpeech train-clean-100 data dir")
    t.add_argument("--librilight", default=None, help="librispeech_finetuning folder of Libri-light (optional)")
    t.add_argument("--prefix", default="train_")
    t.add_argument("--seed", type=int, default=0)
    t.set_defaults(func=run_splits)

    q = subparsers.add_parser(
        "ctc-probe",
        help="SUPERB-style ASR probe: CTC conv head on the frozen upstream's weighted layers (or on fbank)",
    )
    q.add_argument("--train", required=True, help="data dir with text")
    q.add_argument("--eval", action="append", default=[], help="data dir to decode and score (repeatable)")
    q.add_argument("--out", required=True, help="experiment folder (re-running resumes the probe's training)")
    q.add_argument("--upstream", default="pretrained", help="pretrained, random or fbank")
    q.add_argument("--upstream-path", default="", help="release dir / checkpoint of the upstream")
    q.add_argument("--steps", type=int, default=2000)
    q.add_argument("--lr", type=float, default=1e-3)
    q.add_argument("--num-threads", type=int, default=0)
    q.set_defaults(func=run_probe)


def run(args: argparse.Namespace) -> int:
    import json
    import logging

    from audiocl.config import resolve_config
    from audiocl.tasks.ctc import run_finetune_ctc
    from audiocl.tasks.ctc_config import FinetuneCtcConfig

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = resolve_config(FinetuneCtcConfig, args.config, args.overrides)
    metrics = run_finetune_ctc(cfg, args.exp_dir)
    keep = ("global_step", "num_train_utts", "too_short_total", "empty_transcripts", "oov", "parameters")
    print(json.dumps({k: metrics.get(k) for k in keep}, default=str))
    return 0


def run_subset(args: argparse.Namespace) -> int:
    from audiocl.tasks.label_fraction import make_label_fraction

    kept = make_label_fraction(args.src, args.dst, args.fraction, args.seed, args.stratify_by)
    print(f"{args.dst}: {len(kept)} utterances ({args.fraction:g} of {args.src}, seed {args.seed})")
    return 0


def run_splits(args: argparse.Namespace) -> int:
    from audiocl.corpora.librilight import prepare_ft_splits

    res = prepare_ft_splits(args.out, args.splits.replace(",", " ").split(), train_data=args.train_data,
                            librilight=args.librilight, seed=args.seed, prefix=args.prefix)
    src = res.pop("splits_source")
    for split, n in res.items():
        print(f"{args.out}/{args.prefix}{split}: {n} utterances ({src})")
    return 0


def run_probe(args: argparse.Namespace) -> int:
    import json

    from audiocl.tasks.ctc_probe import CtcProbeConfig, run_ctc_probe
    from audiocl.tasks.upstream import UpstreamConfig

    res = run_ctc_probe(UpstreamConfig(kind=args.upstream, path=args.upstream_path), args.train, args.eval,
                        args.out, CtcProbeConfig(steps=args.steps, lr=args.lr, num_threads=args.num_threads))
    print(json.dumps(res))
    return 0
