"""``audiocl extract``: features of a data dir, a wav.scp, audio files or folders -> ark/scp or npy.

    audiocl extract data/train                          # fbank -> data/train/data/feats.*.ark, data/train/feats.scp
    audiocl extract data/train --type mfcc --nj 4 --out exp/mfcc/train
    audiocl extract clips/ --format npy --out feats/ --num-mel-bins 40 --snip-edges false
    audiocl extract wav.scp --config conf/fbank.conf --out fbank/

Argument parsing only: the options become an :class:`~audiocl.features.extract.ExtractOptions` and a
feature config, and :func:`~audiocl.features.extract.run_extraction` does the work. Each extractor
plug-in's config fields become options here (see :mod:`audiocl.features.extractors`).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Callable

import audiocl.tasks.model_features  # noqa: F401  (registers the `model` extractor plug-in: --model CKPT --layer N)
from audiocl.errors import ConfigError, FeatureError
from audiocl.features.extractors import (
    ExtractorPlugin, extractor_plugins, field_types, is_signal_config, parse_bool, signal_option_types,
)

MAX_LISTED = 50


def register(subparsers) -> None:
    plugins = extractor_plugins()
    p = subparsers.add_parser(
        "extract", help="extract features (fbank, mfcc, logmel, ...) to Kaldi ark/scp or npy",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="a Kaldi data dir, a wav.scp, audio files, or folders (searched recursively)")
    p.add_argument("--out", help="output folder (default for a data dir: DATADIR/data, as Kaldi's make_fbank.sh)")
    p.add_argument("--format", choices=("ark", "npy"), default="ark",
                   help="ark: Kaldi feats.N.ark + feats.scp (kaldiio); npy: one .npy per utterance + feats.scp index")
    p.add_argument("--type", choices=sorted(plugins), default=None,
                   help="feature type (default fbank); " + "; ".join(f"{n}: {pl.help}" for n, pl in sorted(plugins.items())))
    p.add_argument("--nj", type=int, default=1, help="parallel jobs (contiguous splits, merged in order; at most one job per 4 utterances)")
    p.add_argument("--sample-rate", type=int, default=None,
                   help="rate to read audio at (resampling others; default: the extractor's, 16000 for fbank)")
    p.add_argument("--strict-sample-rate", action="store_true",
                   help="treat audio at another sample rate as a bad input instead of resampling it")
    p.add_argument("--channel", type=int, default=None, help="channel to keep (default: average all channels)")
    p.add_argument("--skip-bad", action="store_true",
                   help="exit 0 even if some inputs failed: missing, broken links, unreadable or corrupt files "
                        "(they are still listed in OUT/bad_inputs.txt, and left out of feats.scp)")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    p.add_argument("--batch-size", type=int, default=16, help="utterances computed together")
    p.add_argument("--utt-cmvn", choices=("none", "mean", "meanvar"), default="none",
                   help="normalise each utterance by its own mean (and variance) before writing")
    p.add_argument("--no-cmvn-stats", action="store_true",
                   help="do not write global CMVN stats (OUT/cmvn.ark, Kaldi compute-cmvn-stats layout)")
    p.add_argument("--compress", type=int, default=None, metavar="METHOD",
                   help="kaldiio/Kaldi compression method for ark output (e.g. 2); default: uncompressed")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.add_argument("--no-update-data-dir", action="store_true",
                   help="for a data dir input: do not write feats.scp/utt2num_frames into it")
    _add_signal_arguments(p)
    for plugin in plugins.values():
        if not is_signal_config(plugin.config_class):
            _add_plugin_arguments(p, plugin)
    p.set_defaults(func=run)


def _converter(typ: type) -> Callable[[str], object]:
    if typ is bool:
        def conv(text):
            try:
                return parse_bool(text)
            except ValueError as exc:
                raise argparse.ArgumentTypeError(str(exc)) from None
        return conv
    return typ


def _add_signal_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "fbank / mfcc / logmel options",
        "Kaldi option names (compute-fbank-feats --help); each applies to the types that have it.",
    )
    group.add_argument("--config", dest="feat_config", metavar="FILE",
                       help="feature options: a Kaldi .conf (--num-mel-bins=80 lines) or a YAML preset")
    for name, typ in sorted(signal_option_types().items()):
        group.add_argument(f"--{name.replace('_', '-')}", dest=f"feat_{name}", type=_converter(typ), default=None,
                           metavar=typ.__name__.upper())


def _add_plugin_arguments(parser: argparse.ArgumentParser, plugin: ExtractorPlugin) -> None:
    """One option per field of the plug-in's config (default None: unset fields keep the config's default)."""
    group = parser.add_argument_group(f"{plugin.name} features", plugin.help)
    types = field_types(plugin.config_class)
    for f in dataclasses.fields(plugin.config_class):
        group.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, type=_converter(types[f.name]), default=None,
                           metavar=f.metadata.get("metavar", types[f.name].__name__.upper()),
                           help=f.metadata.get("help"))


def select_plugin(args: argparse.Namespace) -> ExtractorPlugin:
    """The plug-in the arguments ask for: one whose ``trigger`` option is set, else ``--type``."""
    plugins = extractor_plugins()
    triggered = [p for p in plugins.values() if p.trigger and getattr(args, p.trigger, None) is not None]
    if len(triggered) > 1:
        raise ConfigError(f"options of several extractors given: {', '.join(p.name for p in triggered)}")
    if triggered:
        if args.type not in (None, triggered[0].name):
            raise ConfigError(f"--{triggered[0].trigger} selects the {triggered[0].name} extractor; drop --type {args.type}")
        return triggered[0]
    kind = args.type or "fbank"
    if kind not in plugins:
        raise ConfigError(f"unknown feature type {kind!r}; choose one of {', '.join(plugins)}")
    return plugins[kind]


def feature_config_from_args(args: argparse.Namespace):
    """The typed feature config the arguments describe."""
    from audiocl.features.extractors import signal_config

    plugin = select_plugin(args)
    if is_signal_config(plugin.config_class):
        options = {name: getattr(args, f"feat_{name}") for name in signal_option_types()
                   if getattr(args, f"feat_{name}", None) is not None}
        return signal_config(plugin.name, options, config_file=args.feat_config, sample_rate=args.sample_rate)
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(plugin.config_class)
              if getattr(args, f.name, None) is not None}
    if plugin.trigger and plugin.trigger not in values:
        raise ConfigError(f"--type {plugin.name} needs --{plugin.trigger.replace('_', '-')}")
    return plugin.config_class(**values)


def options_from_args(args: argparse.Namespace, out_dir: Path):
    from audiocl.features.extract import ExtractOptions

    return ExtractOptions(
        out_dir=out_dir, fmt=args.format, nj=args.nj, device=args.device, sample_rate=args.sample_rate,
        strict_sample_rate=args.strict_sample_rate, channel=args.channel, batch_size=args.batch_size,
        utt_cmvn=args.utt_cmvn, compute_cmvn=not args.no_cmvn_stats, compression_method=args.compress,
        progress=not args.no_progress,
    )


def run(args: argparse.Namespace) -> int:
    from audiocl.features.extract import collect_inputs, run_extraction, update_data_dir

    feature_config = feature_config_from_args(args)  # option errors before any input is read
    items, datadir = collect_inputs(args.inputs)
    if args.out:
        out_dir = Path(args.out)
    elif datadir is not None:
        out_dir = datadir / "data"
    else:
        raise FeatureError("--out is required unless the input is a data dir")
    opts = options_from_args(args, out_dir)
    opts.check()
    result = run_extraction(items, opts, feature_config)

    err = sys.stderr
    print(f"audiocl extract: {result.num_done} of {result.num_inputs} utterances -> {result.scp_path} "
          f"({result.info['type']}, dim {result.dim})", file=err)
    if result.bad:
        print(f"audiocl extract: {len(result.bad)} bad input(s) (utterance, path, reason); "
              f"all listed in {result.bad_inputs_path}:", file=err)
        for bad in result.bad[:MAX_LISTED]:
            print(f"  {bad.utt_id}  {bad.path}  {bad.reason}", file=err)
        if len(result.bad) > MAX_LISTED:
            print(f"  ... and {len(result.bad) - MAX_LISTED} more", file=err)
    if result.num_done == 0:
        raise FeatureError(f"no utterance could be extracted ({len(result.bad)} bad inputs listed above)")
    if result.bad and not args.skip_bad:
        raise FeatureError(
            f"{len(result.bad)} of {result.num_inputs} inputs failed: "
            + ", ".join(b.path for b in result.bad[:MAX_LISTED]) + ("..." if len(result.bad) > MAX_LISTED else "")
            + "; fix them, or rerun with --skip-bad to use the others"
            + (" (the data dir's feats.scp was not updated)" if datadir is not None else "")
        )
    if datadir is not None and not args.no_update_data_dir:
        update_data_dir(datadir, result)
        if result.bad:
            print(f"audiocl extract: {datadir}/feats.scp lacks the bad inputs; `audiocl fix-data {datadir}` "
                  "drops them from the other files", file=err)
    return 0
