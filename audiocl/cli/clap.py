"""``audiocl clap embed|classify|retrieve|evaluate|export``: use a trained CLAP model."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("clap", help="use a CLAP model: embed audio/text, zero-shot classify, retrieve, "
                              "evaluate retrieval / zero-shot / CompA metrics, export a release")
    sub = p.add_subparsers(dest="clap_command", required=True)

    e = sub.add_parser("embed", help="embeddings of audio files and/or texts to a .npy file")
    e.add_argument("--model", required=True, help="CLAP release dir, checkpoint, exp dir or hub reference")
    e.add_argument("--audio", nargs="*", default=[], help="audio files")
    e.add_argument("--text", nargs="*", default=[], help="captions")
    e.add_argument("--out", required=True, help="output .npy (audio rows first, then text rows)")
    e.add_argument("--batch-size", type=int, default=32)
    e.set_defaults(func=run_embed)

    c = sub.add_parser("classify", help="zero-shot classification of audio files among labels")
    c.add_argument("--model", required=True)
    c.add_argument("--labels", nargs="+", required=True)
    c.add_argument("--template", default="This is a sound of {}.")
    c.add_argument("--ensemble", action="store_true", help="average the default template ensemble")
    c.add_argument("--top-k", type=int, default=3)
    c.add_argument("audio", nargs="+")
    c.set_defaults(func=run_classify)

    r = sub.add_parser("retrieve", help="the audio files nearest to a text query")
    r.add_argument("--model", required=True)
    r.add_argument("--query", required=True)
    r.add_argument("-k", type=int, default=5)
    r.add_argument("audio", nargs="+")
    r.set_defaults(func=run_retrieve)

    v = sub.add_parser("evaluate", help="retrieval (R@1/5/10, mAP@10, median rank), zero-shot top-1/top-5 and "
                       "CompA scores on a CLAP data dir; writes OUT/metrics.json and OUT/similarity.png",
                       description="Several --model/--out pairs evaluate several models in one pass: the audio is "
                       "read and framed once and a frozen text tower encodes each caption and prompt once.")
    v.add_argument("--model", required=True, action="append", help="repeatable, one --out each")
    v.add_argument("--data", required=True)
    v.add_argument("--out", required=True, action="append")
    v.add_argument("--batch-size", type=int, default=32)
    v.add_argument("--text-cache", default=None, help="folder caching the frozen text tower's caption features")
    v.add_argument("--num-threads", type=int, default=0, help="torch threads (0 = torch's default)")
    v.set_defaults(func=run_evaluate)

    t = sub.add_parser("report", help="RESULTS.md tables: mean ± std over seeds beside chance and the untrained "
                       "model, and an objective table, from EXP_ROOT/<tag>/seed<N>/eval_<set>/metrics.json")
    t.add_argument("--exp-root", required=True)
    t.add_argument("--trained", required=True, help="tag of the main trained configuration")
    t.add_argument("--out", required=True, help="markdown file whose generated block is replaced")
    t.add_argument("--eval-set", default="test")
    t.add_argument("--objectives", nargs="*", default=None, help="tags of the objective table (default: all)")
    t.set_defaults(func=run_report)

    x = sub.add_parser("export", help="write a release (model.safetensors + config.yaml) from a training exp dir")
    x.add_argument("--exp", required=True, help="exp dir or checkpoint")
    x.add_argument("--out", required=True)
    x.set_defaults(func=run_export)


def _load(ref: str):
    from audiocl.clap import CLAP

    return CLAP.from_pretrained(ref)


def run_embed(args: argparse.Namespace) -> int:
    import numpy as np

    from audiocl.errors import ConfigError

    if not args.audio and not args.text:
        raise ConfigError("give --audio files and/or --text captions to embed")
    model = _load(args.model)
    rows = []
    if args.audio:
        rows.append(model.get_audio_embedding_from_filelist(args.audio, batch_size=args.batch_size))
    if args.text:
        rows.append(model.get_text_embedding(args.text))
    out = np.concatenate(rows)
    np.save(args.out, out)
    print(f"{out.shape[0]} embeddings of dimension {out.shape[1]} -> {args.out}")
    return 0


def run_classify(args: argparse.Namespace) -> int:
    from audiocl.tasks.clap_eval import ENSEMBLE_TEMPLATES

    model = _load(args.model)
    res = model.zero_shot_classify(args.audio, args.labels, template=args.template,
                                   templates=ENSEMBLE_TEMPLATES if args.ensemble else None)
    for path, top in zip(args.audio, res.top_k(args.top_k)):
        print(path + "\t" + "\t".join(f"{label}:{p:.3f}" for label, p in top))
    return 0


def run_retrieve(args: argparse.Namespace) -> int:
    model = _load(args.model)
    index = model.get_audio_embedding_from_filelist(args.audio)
    for name, score in model.retrieve(args.query, index, k=args.k, ids=args.audio)[0]:
        print(f"{score:.4f}\t{name}")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    import torch

    from audiocl.tasks.clap_report import format_metrics

    from audiocl.errors import ConfigError
    from audiocl.tasks.clap_eval import evaluate_clap_models

    if len(args.model) != len(args.out):
        raise ConfigError(f"clap evaluate: {len(args.model)} --model but {len(args.out)} --out; give one --out per model")
    if args.num_threads > 0:
        torch.set_num_threads(args.num_threads)
    models = [_load(ref).model for ref in args.model]
    results = evaluate_clap_models(models, args.data, args.out, batch_size=args.batch_size,
                                   text_cache_dir=args.text_cache)
    for ref, m in zip(args.model, results):
        if len(results) > 1:
            print(f"== {ref}")
        print(format_metrics(m))
    return 0


def run_report(args: argparse.Namespace) -> int:
    from audiocl.metrics.results import update_results_section
    from audiocl.tasks.clap_report import collect_runs, objective_table, results_table

    runs = collect_runs(args.exp_root, args.eval_set)
    body = (f"### Held-out-combination `{args.eval_set}` split\n\n" + results_table(runs, args.trained)
            + "\n### Objectives (same split)\n\n" + objective_table(runs, args.objectives))
    update_results_section(args.out, "clap", body, title="CLAP results (generated by `audiocl clap report`)")
    print(body)
    return 0


def run_export(args: argparse.Namespace) -> int:
    from audiocl.models.clap_io import load_clap, save_clap_release

    out = save_clap_release(load_clap(args.exp), args.out)
    print(f"release written to {out}")
    return 0
