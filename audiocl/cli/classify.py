"""``audiocl classify``: train an utterance classifier and evaluate it (recipe stage 6)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "classify",
        help="utterance classification (style/emotion, speaker, keyword) from a frozen upstream, fbank, "
        "or full fine-tuning; reports WA, UA, macro-F1 and a confusion PNG",
        description="Config = typed defaults + --config YAML + key=value overrides, e.g. "
        "upstream.kind=pretrained upstream.path=exp/pretrain/release data.train=data/train "
        "data.label_file=utt2style. Each --eval DATA writes EXP/eval_<name>/{metrics.json,confusion.png,"
        "predictions}. Re-running resumes training; --eval-only skips it.",
    )
    p.add_argument("--config", action="append", default=[], help="YAML preset (repeatable)")
    p.add_argument("--exp-dir", required=True)
    p.add_argument("--eval", action="append", default=[], help="data dir to evaluate on (repeatable)")
    p.add_argument("--eval-only", action="store_true", help="evaluate an already trained classifier")
    p.add_argument("overrides", nargs="*", help="key=value overrides")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import logging

    from audiocl.config import resolve_config
    from audiocl.tasks.classify import ClassifyConfig, evaluate_classifier, run_classify

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.eval_only:
        cfg = resolve_config(ClassifyConfig, args.config, args.overrides)
        metrics = run_classify(cfg, args.exp_dir)
        print(f"trained on {metrics['num_train_utts']} utterances, labels {metrics['labels']}, "
              f"layer weights {[round(w, 3) for w in metrics['layer_weights']]}")
    for data in args.eval:
        m = evaluate_classifier(args.exp_dir, data)
        print(f"{data}: WA {100 * m['wa']:.2f} %  UA {100 * m['ua']:.2f} %  macro-F1 {100 * m['macro_f1']:.2f} %  "
              f"({m['num_utts']} utterances)")
    return 0
