"""Feature extraction over many utterances: run N parallel jobs, merge, report bad inputs.

    items, datadir = collect_inputs(["data/train"])
    result = run_extraction(items, ExtractOptions(out_dir=Path("dump/fbank/train"), nj=4), FbankConfig())

Utterances (:mod:`audiocl.features.extract_inputs`) are processed in C-sorted id order and split into
``nj`` contiguous parts; job ``k`` writes ``feats.k.ark`` + ``feats.k.scp`` (or the folder ``feats.k/``
of ``.npy`` files + ``feats.k.scp``), and the parts are merged in order into ``feats.scp``
(+ ``utt2num_frames``, ``cmvn.ark``, ``feature_info.yaml``), so the output is the same for any ``nj``.
The feature config is any config :func:`~audiocl.features.extractors.build_extractor` accepts; each job
builds its own extractor from it.

A bad input (missing, a broken link, unreadable, empty, corrupt, wrong sample rate under
``strict_sample_rate``, failing pipe, too short for one frame) never stops a job: it is recorded as
:class:`BadInput` (utterance, path, reason), listed in ``bad_inputs.txt`` and returned; the caller
decides whether the run failed.
"""

from __future__ import annotations

import multiprocessing as mp
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from omegaconf import OmegaConf

from audiocl.config import config_to_dict
from audiocl.data.audio import read_audio
from audiocl.errors import AudioclError, FeatureError
from audiocl.features.cmvn import CmvnStats, utterance_cmvn
from audiocl.features.extract_inputs import ExtractItem, collect_inputs, split_items
from audiocl.features.extractors import SignalFeatureExtractor, build_extractor, is_signal_config, plugin_name
from audiocl.features.writers import make_writer, merge_index_files
from audiocl.utils.io import atomic_write_text
from audiocl.utils.storage import storage_errors

__all__ = ["BadInput", "ExtractItem", "ExtractOptions", "ExtractResult", "collect_inputs", "run_extraction",
           "split_items", "update_data_dir"]

MIN_UTTS_PER_JOB = 4
BAD_INPUTS_FILE = "bad_inputs.txt"


@dataclass(frozen=True)
class BadInput:
    utt_id: str
    path: str
    reason: str

    def line(self) -> str:
        return f"{self.utt_id}\t{self.path}\t{self.reason}"


@dataclass
class ExtractOptions:
    """How to run an extraction (what to compute is the feature config)."""

    out_dir: Path
    fmt: str = "ark"  # ark | npy
    nj: int = 1
    device: str = "cpu"  # cpu or cuda[:N]; where each job builds its extractor
    sample_rate: int | None = None  # None: the extractor's rate
    strict_sample_rate: bool = False
    channel: int | None = None
    batch_size: int = 16
    utt_cmvn: str = "none"  # none | mean | meanvar
    compute_cmvn: bool = True
    compression_method: int | None = None
    progress: bool = True
    threads_per_job: int = 1

    def check(self) -> None:
        if self.nj < 1:
            raise FeatureError(f"nj (--nj) must be >= 1, got {self.nj}")
        if self.batch_size < 1:
            raise FeatureError(f"batch_size (--batch-size) must be >= 1, got {self.batch_size}")
        if self.utt_cmvn not in ("none", "mean", "meanvar"):
            raise FeatureError(f"utt_cmvn must be none, mean or meanvar, got {self.utt_cmvn!r}")


@dataclass
class ExtractResult:
    scp_path: Path
    num_inputs: int
    num_done: int
    bad: list[BadInput] = field(default_factory=list)
    dim: int = 0
    cmvn_path: Path | None = None
    info: dict = field(default_factory=dict)  # what feature_info.yaml holds

    @property
    def bad_inputs_path(self) -> Path:
        return self.scp_path.parent / BAD_INPUTS_FILE


# ---------------------------------------------------------------------------- one job
@dataclass
class JobResult:
    index: int
    scp_path: str
    num_done: int
    bad: list[BadInput]
    dim: int
    cmvn: np.ndarray | None
    num_frames: dict[str, int] = field(default_factory=dict)


def _read(item: ExtractItem, sample_rate: int, opts: ExtractOptions) -> np.ndarray:
    return read_audio(item.spec, sample_rate=sample_rate, strict_sample_rate=opts.strict_sample_rate,
                      channel=opts.channel, start=item.start, end=item.end, utt_id=item.utt_id)


def _bad(item: ExtractItem, exc: AudioclError) -> BadInput:
    return BadInput(item.utt_id, item.spec, getattr(exc, "reason", None) or str(exc))


def _features_or_bad(extractor, batch: list[tuple[ExtractItem, np.ndarray]]):
    """Run the extractor on a batch; if the batch fails, retry one by one to find the culprit."""
    try:
        return list(zip(batch, extractor([w for _, w in batch]))), []
    except AudioclError:
        if len(batch) == 1:
            raise
    done, bad = [], []
    for entry in batch:
        try:
            done.append((entry, extractor([entry[1]])[0]))
        except AudioclError as exc:
            bad.append(BadInput(entry[0].utt_id, entry[0].spec, str(exc)))
    return done, bad


def run_job(index: int, items: list[ExtractItem], feature_config, opts: ExtractOptions,
            tick: Callable[[int], None] = lambda n: None) -> JobResult:
    """Extract ``items`` into ``feats.<index>.{ark,scp}``; bad inputs are collected, never raised."""
    extractor = build_extractor(feature_config, opts.device)
    sample_rate = opts.sample_rate or extractor.sample_rate
    if sample_rate != extractor.sample_rate:
        raise FeatureError(
            f"the {extractor.name} extractor works at {extractor.sample_rate} Hz, not --sample-rate {sample_rate}"
        )
    out_dir = Path(opts.out_dir)
    scp = out_dir / f"feats.{index}.scp"
    writer = make_writer(opts.fmt, out_dir, f"feats.{index}", scp, opts.compression_method)
    bad: list[BadInput] = []
    stats = CmvnStats() if opts.compute_cmvn else None
    done = 0
    target = out_dir / f"feats.{index}.ark" if opts.fmt == "ark" else out_dir
    with storage_errors(target, what="features"), writer:  # a full disk: named, partial output removed
        for start in range(0, len(items), opts.batch_size):
            batch = []
            for item in items[start:start + opts.batch_size]:
                try:
                    batch.append((item, _read(item, sample_rate, opts)))
                except AudioclError as exc:
                    bad.append(_bad(item, exc))
            results, failed = _features_or_bad(extractor, batch) if batch else ([], [])
            bad.extend(failed)
            for (item, wav), feats in results:
                if feats.shape[0] == 0:
                    bad.append(BadInput(item.utt_id, item.spec,
                                        f"audio of {len(wav)} samples is too short for one {extractor.name} frame"))
                    continue
                if opts.utt_cmvn != "none":
                    feats = utterance_cmvn(feats, norm_vars=opts.utt_cmvn == "meanvar")
                writer.write(item.utt_id, feats)
                if stats is not None:
                    stats.accumulate(feats, item.utt_id)
                done += 1
            tick(min(opts.batch_size, len(items) - start))
    return JobResult(index, str(scp), done, bad, int(extractor.dim),
                     None if stats is None or stats.stats is None else stats.stats, writer.num_frames)


_PROGRESS_QUEUE = None


def _init_worker(queue) -> None:
    global _PROGRESS_QUEUE
    _PROGRESS_QUEUE = queue


def _worker(index, items, feature_config, opts):
    """Entry point of a parallel job (a fresh process): limit threads, build the extractor there."""
    import torch

    torch.set_num_threads(max(1, opts.threads_per_job))
    queue = _PROGRESS_QUEUE
    try:
        return run_job(index, items, feature_config, opts,
                       (lambda n: queue.put(n)) if queue is not None else (lambda n: None))
    except AudioclError as exc:  # a job-wide user error (bad options): report it, do not hang the parent
        return exc


# ---------------------------------------------------------------------------- all jobs
def run_extraction(items: Sequence[ExtractItem], opts: ExtractOptions, feature_config) -> ExtractResult:
    """Run ``opts.nj`` jobs over ``items``, merge their indexes in order and write the side files.

    ``feature_config``: a signal config (``FbankConfig()``, ...) or a plug-in's config. Bad inputs are
    returned in the result (and listed in ``bad_inputs.txt``), never raised.
    """
    from tqdm import tqdm

    opts.check()
    if not items:
        raise FeatureError("the input lists no utterances")
    info = _feature_info(feature_config)  # checks a signal config before any job starts
    out_dir = Path(opts.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # a parallel job costs an interpreter start and a torch import: no job for fewer than MIN_UTTS_PER_JOB
    parts = split_items(items, max(1, min(opts.nj, len(items) // MIN_UTTS_PER_JOB)))
    bar = tqdm(total=len(items), file=sys.stderr, unit="utt", desc="extract", disable=not opts.progress,
               dynamic_ncols=True)
    try:
        if len(parts) == 1:
            results = [run_job(1, parts[0], feature_config, opts, bar.update)]
        else:
            results = _run_parallel(parts, feature_config, opts, bar)
    finally:
        bar.close()
    results.sort(key=lambda r: r.index)
    scp = merge_index_files([r.scp_path for r in results], out_dir / "feats.scp")
    for r in results:  # the per-job indexes are merged; the arks they point into stay
        Path(r.scp_path).unlink(missing_ok=True)
    atomic_write_text(out_dir / "utt2num_frames", "".join(f"{u} {n}\n" for r in results for u, n in r.num_frames.items()))
    bad = [b for r in results for b in r.bad]
    _write_bad_inputs(out_dir / BAD_INPUTS_FILE, bad)
    cmvn_path = _write_cmvn(out_dir / "cmvn.ark", results) if opts.compute_cmvn else None
    dim = results[0].dim if results else 0
    info.setdefault("dim", dim)
    _write_feature_info(out_dir / "feature_info.yaml", info)
    return ExtractResult(scp, len(items), sum(r.num_done for r in results), bad, dim, cmvn_path, info)


def _feature_info(feature_config) -> dict:
    """``feature_info.yaml``: the type, and for signal features dim, rate, frame shift and the full config."""
    info: dict = {"type": plugin_name(feature_config)}
    if is_signal_config(feature_config):
        ext = SignalFeatureExtractor(feature_config, device="cpu")
        info.update(dim=ext.dim, sample_rate=ext.sample_rate, frame_shift=ext.frame_shift,
                    config=config_to_dict(feature_config))
    return info


def _write_feature_info(path: Path, info: dict) -> None:
    atomic_write_text(path, OmegaConf.to_yaml(OmegaConf.create(info)))


def _write_bad_inputs(path: Path, bad: list[BadInput]) -> None:
    if bad:
        atomic_write_text(path, "".join(b.line() + "\n" for b in bad))
    elif path.exists():
        path.unlink()


def _write_cmvn(path: Path, results: list[JobResult]) -> Path | None:
    stats = CmvnStats()
    for r in results:
        if r.cmvn is not None:
            part = CmvnStats()
            part.stats = r.cmvn
            stats.merge(part)
    return stats.write(path) if stats.count > 0 else None


def update_data_dir(datadir: Path, result: ExtractResult) -> None:
    """Point a data dir at the features (Kaldi's ``feats.scp``, ``utt2num_frames``, ``frame_shift``)."""
    out_dir = Path(result.scp_path).parent
    atomic_write_text(datadir / "feats.scp", Path(result.scp_path).read_text(encoding="utf-8"))
    atomic_write_text(datadir / "utt2num_frames", (out_dir / "utt2num_frames").read_text(encoding="utf-8"))
    if "frame_shift" in result.info:
        atomic_write_text(datadir / "frame_shift", f"{result.info['frame_shift']:g}\n")


def _run_parallel(parts, feature_config, opts, bar) -> list[JobResult]:
    import queue as queue_mod

    ctx = mp.get_context("spawn")  # a fresh interpreter per job: safe with torch threads and CUDA
    progress = ctx.Queue()

    def drain(timeout: float | None) -> None:
        try:
            bar.update(progress.get(timeout=timeout) if timeout else progress.get_nowait())
            while True:
                bar.update(progress.get_nowait())
        except queue_mod.Empty:
            pass

    with ctx.Pool(processes=len(parts), initializer=_init_worker, initargs=(progress,)) as pool:
        pending = [pool.apply_async(_worker, (k + 1, part, feature_config, opts)) for k, part in enumerate(parts)]
        while not all(p.ready() for p in pending):
            drain(0.2)
        results = [p.get() for p in pending]
        drain(None)
    for r in results:
        if isinstance(r, AudioclError):
            raise r
    return results
