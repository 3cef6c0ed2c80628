"""``audiocl extract``: features of a data dir, a wav.scp, audio files or folders -> ark/scp or npy.

    audiocl extract data/train                          # fbank -> data/train/data/feats.*.ark, data/train/feats.scp
    audiocl extract data/train --type mfcc --nj 4 --out exp/mfcc/train
    audiocl extract clips/ --format npy --out feats/ --num-mel-bins 40 --snip-edges false
    audiocl extract wav.scp --config conf/fbank.conf --out fbank/

Argument parsing only; the work is in :mod:`audiocl.features.extract`, the extractors (and the plug-in
point for model features) in :mod:`audiocl.features.extractors`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from audiocl.errors import FeatureError

MAX_LISTED = 50


def register(subparsers) -> None:
    from audiocl.features.extractors import extractor_plugins

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
                   help="exit 0 even if some inputs failed (they are still listed, and left out of feats.scp)")
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
    for plugin in plugins.values():
        if plugin.add_arguments is not None:
            plugin.add_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from audiocl.features.extract import ExtractOptions, collect_inputs, run_extraction
    from audiocl.features.extractors import SignalFeatureExtractor, build_signal_config, select_plugin
    from audiocl.utils.io import atomic_write_text

    if args.nj < 1:
        raise FeatureError(f"--nj must be >= 1, got {args.nj}")
    if args.batch_size < 1:
        raise FeatureError(f"--batch-size must be >= 1, got {args.batch_size}")
    plugin = select_plugin(args)
    info = {"type": plugin.name}
    if plugin.name in ("fbank", "mfcc", "logmel"):  # validate options here, before any job starts
        cfg = build_signal_config(plugin.name, args)
        ext = SignalFeatureExtractor(cfg, device="cpu")
        info.update(dim=ext.dim, sample_rate=ext.sample_rate, frame_shift=ext.frame_shift)
    items, datadir = collect_inputs(args.inputs)
    if not items:
        raise FeatureError("the input lists no utterances")
    if args.out:
        out_dir = Path(args.out)
    elif datadir is not None:
        out_dir = datadir / "data"
    else:
        raise FeatureError("--out is required unless the input is a data dir")
    opts = ExtractOptions(
        out_dir=out_dir, fmt=args.format, nj=min(args.nj, len(items)), sample_rate=args.sample_rate,
        strict_sample_rate=args.strict_sample_rate, channel=args.channel, batch_size=args.batch_size,
        utt_cmvn=args.utt_cmvn, compute_cmvn=not args.no_cmvn_stats, compression_method=args.compress,
        progress=not args.no_progress,
    )
    result = run_extraction(items, args, opts)
    info.setdefault("dim", result.dim)
    if plugin.name in ("fbank", "mfcc", "logmel"):
        from omegaconf import OmegaConf

        from audiocl.config import config_to_dict

        info["config"] = config_to_dict(cfg)
        atomic_write_text(out_dir / "feature_info.yaml", OmegaConf.to_yaml(OmegaConf.create(info)))

    err = sys.stderr
    print(f"audiocl extract: {result.num_done} of {result.num_inputs} utterances -> {result.scp_path} "
          f"({info['type']}, dim {result.dim})", file=err)
    if result.bad:
        print(f"audiocl extract: {len(result.bad)} bad input(s) (utterance, path, reason); "
              f"all listed in {out_dir / 'bad_inputs.txt'}:", file=err)
        for bad in result.bad[:MAX_LISTED]:
            print(f"  {bad.utt_id}  {bad.path}  {bad.reason}", file=err)
        if len(result.bad) > MAX_LISTED:
            print(f"  ... and {len(result.bad) - MAX_LISTED} more", file=err)
    if result.num_done == 0:
        raise FeatureError(f"no utterance could be extracted ({len(result.bad)} bad inputs listed above)")
    if result.bad and not args.skip_bad:
        raise FeatureError(
            f"{len(result.bad)} of {result.num_inputs} inputs failed; fix them, or rerun with --skip-bad to "
            "use the others" + (" (the data dir's feats.scp was not updated)" if datadir is not None else "")
        )
    if datadir is not None and not args.no_update_data_dir:
        atomic_write_text(datadir / "feats.scp", Path(result.scp_path).read_text(encoding="utf-8"))
        atomic_write_text(datadir / "utt2num_frames", (out_dir / "utt2num_frames").read_text(encoding="utf-8"))
        if "frame_shift" in info:
            atomic_write_text(datadir / "frame_shift", f"{info['frame_shift']:g}\n")
        if result.bad:
            print(f"audiocl extract: {datadir}/feats.scp lacks the bad inputs; `audiocl fix-data {datadir}` "
                  "drops them from the other files", file=err)
    return 0
