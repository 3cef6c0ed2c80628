"""The work behind ``audiocl extract``: collect inputs, run N parallel jobs, merge, report bad inputs.

Inputs (:func:`collect_inputs`): a Kaldi data dir (``wav.scp`` [+ ``segments``]), a ``wav.scp`` file,
audio files, or folders searched recursively for audio. Utterances are processed in C-sorted id order
and split into ``nj`` contiguous parts; job ``k`` writes ``feats.k.ark`` + ``feats.k.scp`` (or the
folder ``feats.k/`` of ``.npy`` files + ``feats.k.scp``), and the parts are merged in order into
``feats.scp`` (+ ``utt2num_frames``), so the output is the same for any ``nj``.

A bad input (unreadable, empty, corrupt, wrong sample rate under ``strict_sample_rate``, failing pipe,
too short for one frame) never stops a job: it is recorded as :class:`BadInput` (utterance, path,
reason), listed in ``bad_inputs.txt`` and returned; the caller decides the exit status.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from audiocl.errors import AudioclError, FeatureError
from audiocl.features.cmvn import CmvnStats, utterance_cmvn
from audiocl.features.writers import make_writer, merge_index_files
from audiocl.utils.io import atomic_write_text

MIN_UTTS_PER_JOB = 4
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".opus", ".sph", ".aiff", ".aif", ".au")


@dataclass(frozen=True)
class ExtractItem:
    """One utterance to extract: where its audio is and which part of the recording."""

    utt_id: str
    spec: str  # path or `cmd |` pipe
    start: float = 0.0
    end: float | None = None


@dataclass(frozen=True)
class BadInput:
    utt_id: str
    path: str
    reason: str

    def line(self) -> str:
        return f"{self.utt_id}\t{self.path}\t{self.reason}"


@dataclass
class ExtractOptions:
    out_dir: Path
    fmt: str = "ark"  # ark | npy
    nj: int = 1
    sample_rate: int | None = None  # None: the extractor's rate
    strict_sample_rate: bool = False
    channel: int | None = None
    batch_size: int = 16
    utt_cmvn: str = "none"  # none | mean | meanvar
    compute_cmvn: bool = True
    compression_method: int | None = None
    progress: bool = True
    threads_per_job: int = 1


@dataclass
class ExtractResult:
    scp_path: Path
    num_inputs: int
    num_done: int
    bad: list[BadInput] = field(default_factory=list)
    dim: int = 0
    cmvn_path: Path | None = None


# ---------------------------------------------------------------------------- inputs
def collect_inputs(paths: Sequence[str | Path]) -> tuple[list[ExtractItem], Path | None]:
    """Utterances named by ``paths`` (sorted by id) and the data dir they came from, if one."""
    from audiocl.data.kaldi_files import c_sorted

    paths = [Path(p) for p in paths]
    if not paths:
        raise FeatureError("no input given: pass a data dir, a wav.scp, audio files or folders")
    datadirs = [p for p in paths if p.is_dir() and (p / "wav.scp").is_file()]
    if datadirs:
        if len(paths) > 1:
            raise FeatureError(f"a data dir ({datadirs[0]}) must be the only input; run extract once per data dir")
        return _items_from_datadir(datadirs[0]), datadirs[0]
    items: dict[str, ExtractItem] = {}
    origin: dict[str, str] = {}

    def add(item: ExtractItem, where: str) -> None:
        if item.utt_id in items:
            raise FeatureError(
                f"utterance id {item.utt_id} is given twice ({origin[item.utt_id]} and {where}); "
                "rename one of the files or use a wav.scp with unique ids"
            )
        items[item.utt_id] = item
        origin[item.utt_id] = where

    for p in paths:
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in AUDIO_EXTENSIONS)
            if not found:
                raise FeatureError(f"folder {p} holds no audio files ({', '.join(AUDIO_EXTENSIONS)})")
            for f in found:
                rel = f.relative_to(p).with_suffix("")
                add(ExtractItem("-".join(rel.parts), str(f)), str(f))
        elif p.suffix == ".scp" or p.name == "wav.scp":
            for item in _items_from_scp(p):
                add(item, f"{p}")
        else:  # an audio file; a missing one becomes a bad input with its reason
            add(ExtractItem(p.stem, str(p)), str(p))
    return [items[u] for u in c_sorted(items)], None


def _items_from_scp(path: Path) -> list[ExtractItem]:
    from audiocl.data.kaldi_files import read_keyed_file
    from audiocl.errors import DataDirError

    if not path.is_file():
        raise FeatureError(f"wav.scp not found: {path}")
    kf = read_keyed_file(path, min_fields=2, key_kind="utterance")
    if kf.problems:
        raise DataDirError(f"{path} cannot be used", kf.problems)
    return [ExtractItem(u, spec) for u, spec in kf.entries.items()]


def _items_from_datadir(path: Path) -> list[ExtractItem]:
    from audiocl.data.datadir import DataDir

    dd = DataDir.load(path, validate=True)
    items = []
    for utt in dd.utt_ids:
        spec = dd.audio_spec(utt)
        if dd.segments is not None:
            seg = dd.segments[utt]
            items.append(ExtractItem(utt, spec, seg.start, None if seg.end < 0 else seg.end))
        else:
            items.append(ExtractItem(utt, spec))
    return items


def split_items(items: Sequence[ExtractItem], nj: int) -> list[list[ExtractItem]]:
    """``nj`` contiguous, near-equal parts (Kaldi's split: order kept, so merged output stays sorted)."""
    nj = max(1, min(nj, len(items))) if items else 1
    base, extra = divmod(len(items), nj)
    parts, start = [], 0
    for k in range(nj):
        stop = start + base + (1 if k < extra else 0)
        parts.append(list(items[start:stop]))
        start = stop
    return parts


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
    from audiocl.data.audio import read_audio

    return read_audio(item.spec, sample_rate=sample_rate, strict_sample_rate=opts.strict_sample_rate,
                      channel=opts.channel, start=item.start, end=item.end, utt_id=item.utt_id)


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


def run_job(index: int, items: list[ExtractItem], build: Callable[[], object], opts: ExtractOptions,
            tick: Callable[[int], None] = lambda n: None) -> JobResult:
    """Extract ``items`` into ``feats.<index>.{ark,scp}``; bad inputs are collected, never raised."""
    extractor = build()
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
    with writer:
        for start in range(0, len(items), opts.batch_size):
            batch = []
            for item in items[start:start + opts.batch_size]:
                try:
                    batch.append((item, _read(item, sample_rate, opts)))
                except AudioclError as exc:
                    bad.append(BadInput(item.utt_id, item.spec, getattr(exc, "reason", None) or str(exc)))
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


def _worker(index, items, build_args, opts):
    """Entry point of a parallel job (a fresh process): limit threads, build the extractor there."""
    import torch

    torch.set_num_threads(max(1, opts.threads_per_job))
    from audiocl.features.extractors import build_extractor

    queue = _PROGRESS_QUEUE
    try:
        return run_job(index, items, lambda: build_extractor(build_args), opts,
                       (lambda n: queue.put(n)) if queue is not None else (lambda n: None))
    except AudioclError as exc:  # a job-wide user error (bad options): report it, do not hang the parent
        return exc


# ---------------------------------------------------------------------------- all jobs
def run_extraction(items: Sequence[ExtractItem], build_args: argparse.Namespace, opts: ExtractOptions) -> ExtractResult:
    """Run ``opts.nj`` jobs over ``items``, merge their indexes in order and write the side files."""
    from tqdm import tqdm

    from audiocl.features.extractors import build_extractor

    out_dir = Path(opts.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # a parallel job costs an interpreter start and a torch import: no job for fewer than MIN_UTTS_PER_JOB
    parts = split_items(items, max(1, min(opts.nj, len(items) // MIN_UTTS_PER_JOB)))
    bar = tqdm(total=len(items), file=sys.stderr, unit="utt", desc="extract", disable=not opts.progress,
               dynamic_ncols=True)
    try:
        if len(parts) == 1:
            results = [run_job(1, parts[0], lambda: build_extractor(build_args), opts, bar.update)]
        else:
            results = _run_parallel(parts, build_args, opts, bar)
    finally:
        bar.close()
    results.sort(key=lambda r: r.index)
    scp = merge_index_files([r.scp_path for r in results], out_dir / "feats.scp")
    for r in results:  # the per-job indexes are merged; the arks they point into stay
        Path(r.scp_path).unlink(missing_ok=True)
    atomic_write_text(out_dir / "utt2num_frames", "".join(f"{u} {n}\n" for r in results for u, n in r.num_frames.items()))
    bad = [b for r in results for b in r.bad]
    cmvn_path = None
    stats = CmvnStats()
    for r in results:
        if r.cmvn is not None:
            part = CmvnStats()
            part.stats = r.cmvn
            stats.merge(part)
    if opts.compute_cmvn and stats.count > 0:
        cmvn_path = stats.write(out_dir / "cmvn.ark")
    bad_file = out_dir / "bad_inputs.txt"
    if bad:
        atomic_write_text(bad_file, "".join(b.line() + "\n" for b in bad))
    elif bad_file.exists():
        bad_file.unlink()
    dims = {r.dim for r in results}
    return ExtractResult(scp, len(items), sum(r.num_done for r in results), bad, dims.pop() if dims else 0, cmvn_path)


def _run_parallel(parts, build_args, opts, bar) -> list[JobResult]:
    import queue as queue_mod

    ctx = mp.get_context("spawn")  # a fresh interpreter per job: safe with torch threads and CUDA
    progress = ctx.Queue()
    args = argparse.Namespace(**{k: v for k, v in vars(build_args).items() if k != "func"})

    def drain(timeout: float | None) -> None:
        try:
            bar.update(progress.get(timeout=timeout) if timeout else progress.get_nowait())
            while True:
                bar.update(progress.get_nowait())
        except queue_mod.Empty:
            pass

    with ctx.Pool(processes=len(parts), initializer=_init_worker, initargs=(progress,)) as pool:
        pending = [pool.apply_async(_worker, (k + 1, part, args, opts)) for k, part in enumerate(parts)]
        while not all(p.ready() for p in pending):
            drain(0.2)
        results = [p.get() for p in pending]
        drain(None)
    for r in results:
        if isinstance(r, AudioclError):
            raise r
    return results

