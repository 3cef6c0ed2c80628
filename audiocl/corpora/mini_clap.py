"""``mini_clap``: an offline audio-caption corpus of generated sound scenes, for CLAP training and tests.

Why: audio-text alignment needs clips whose captions state facts a model can learn and be tested on
(which instrument, rising or falling, how many hits, what came first), with no download. Scenes of 1-3
events (GM instruments and percussion by fluidsynth, noises/tones/sweeps/beeps in numpy, espeak-ng speech),
in sequence or overlapping, are captioned from templates and paraphrase vocabularies; the facts behind
each caption are kept as labels. Facts and hold-out: :mod:`scene_plan`; captions: :mod:`scene_captions`;
audio: :mod:`scene_audio`.

Data contract (what ``prepare_mini_clap`` writes under ``OUT``; also what the Clotho / AudioCaps / ESC-50
preparations write, minus the scene-only files)::

    OUT/{train,dev,test}/          Kaldi data dirs, files sorted in C locale, audio 16 kHz mono PCM16 wav
        wav.scp  text  utt2spk  spk2utt  utt2dur
            text: ``<utt> <caption>``, the first caption of the clip; utt2spk maps utt -> utt
        utt2labels      ``<utt> <one-line JSON>``: {"events": [{"kind": "instrument|percussion|noise|tone|
                        sweep|beep|speech", <attributes>}], "relation": "sequence|overlap"}; events in
                        temporal order for a sequence; a one-event scene has relation "sequence".
                        attributes per kind: instrument family, pattern, register, tempo, loudness;
                        percussion drum, count (int), loudness; noise colour, loudness; tone register;
                        sweep direction; beep count (int), register; speech voice_gender.
        utt2family  utt2percussion  utt2noise  utt2count
                        zero-shot label files, one per label set. The class is given for clips where the set
                        applies unambiguously (exactly one event carries it); every other clip has the value
                        ``-`` (the data-dir validator requires every utt2* file to cover every utterance, so
                        "no label" is written, never left out). Class names may contain spaces
                        ("synth lead", "hand clap", "three times"); the value is the rest of the line.
        captions.jsonl        {"utt": ..., "captions": [5 paraphrases]}; captions[0] == text
        hard_negatives.jsonl  {"utt": ..., "kind": "order|count|attribute", "caption": ...}: captions in the
                              style of captions[0], wrong only in that one respect
        .done                 the split is complete (JSON of the plan parameters)
    OUT/test/compa_pairs.jsonl  {"kind": "order|attribute|count", "utt_a", "utt_b", "caption_a", "caption_b"}:
                              test clip pairs differing only in that respect; caption_x == text of utt_x
    OUT/zeroshot_labels.json    {"family": [...], "percussion": [...], "noise": [...], "count": [...]}
    OUT/heldout.json            the type pairs reserved for dev and test, and the templates of each split

Splits: ``test`` holds out type combinations never seen together in training *and* caption templates never
used in training; ``dev`` likewise, with its own combinations and templates (neither shared with test nor
train). Dev and test scenes have 2-3 events; training also has single events.

Deterministic per seed; resumable: wavs are written atomically (to ``OUT/wav/seed<S>/<split>/``, so another
seed never reuses them) and an existing wav is never re-rendered; data files are written last, then the
split's ``.done`` marker; a split whose marker matches is skipped entirely.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import soundfile as sf

from audiocl.corpora import scene_audio
from audiocl.corpora.scene_captions import (JOINERS, PHRASES, captions_of, hard_negatives, zero_shot_classes,
                                            zero_shot_label)
from audiocl.corpora.scene_plan import ZERO_SHOT_SETS, Scene, held_out_pairs, plan_split
from audiocl.data.datadir import DataDir
from audiocl.data.kaldi_files import c_sorted
from audiocl.utils.io import atomic_path, atomic_write_text

NO_LABEL = "-"


@dataclass
class MiniClapOptions:
    """How big the corpus is and how it is rendered (``egs/mini_clap/conf/data*.yaml`` override these)."""

    num_train: int = 2000
    num_dev: int = 200
    num_test: int = 400
    seed: int = 0
    # rendering threads; each mostly waits on a fluidsynth / espeak-ng process, so more than the cores help
    nj: int = 8
    soundfont: str = str(scene_audio.SOUNDFONT)


@dataclass
class MiniClapReport:
    """What a run did: clips per split, clips rendered now (0 on a finished re-run), splits skipped."""

    out_dir: Path
    clips: dict[str, int] = field(default_factory=dict)
    rendered: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


def _write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def _render(scene: Scene, path: Path, soundfont: Path) -> tuple[float, bool]:
    """Render ``scene`` to ``path`` unless a readable wav is there; (duration, rendered now)."""
    if path.exists():
        try:
            return sf.info(str(path)).duration, False
        except RuntimeError:
            path.unlink()  # an unreadable leftover is re-made, never trusted
    wav = scene_audio.render_scene(scene, soundfont)
    with atomic_path(path) as tmp:
        sf.write(str(tmp), wav, scene_audio.SAMPLE_RATE, subtype="PCM_16", format="WAV")
    return len(wav) / scene_audio.SAMPLE_RATE, True


def write_split(scenes: list[Scene], split_dir: Path, wav_paths: dict[str, Path], durations: dict[str, float]) -> None:
    """The data dir of one split plus its captions, hard negatives and (test) CompA pairs."""
    caps = {s.utt: captions_of(s) for s in scenes}
    extra = {"utt2labels": {s.utt: json.dumps(s.labels(), separators=(",", ":")) for s in scenes}}
    for label_set in ZERO_SHOT_SETS:
        extra[f"utt2{label_set}"] = {s.utt: zero_shot_label(s, label_set) or NO_LABEL for s in scenes}
    data = DataDir(path=split_dir, wav_scp={s.utt: str(wav_paths[s.utt]) for s in scenes},
                   text={s.utt: caps[s.utt][0][0] for s in scenes}, utt2spk={s.utt: s.utt for s in scenes},
                   utt2dur={s.utt: round(durations[s.utt], 4) for s in scenes}, extra=extra)
    data.save(split_dir)
    ordered = sorted(scenes, key=lambda s: s.utt)
    _write_jsonl(split_dir / "captions.jsonl", ({"utt": s.utt, "captions": caps[s.utt][0]} for s in ordered))
    _write_jsonl(split_dir / "hard_negatives.jsonl",
                 (row for s in ordered for row in hard_negatives(s, caps[s.utt][1][0])))
    pairs = [{"kind": s.twin_kind, "utt_a": s.twin_of, "utt_b": s.utt,
              "caption_a": caps[s.twin_of][0][0], "caption_b": caps[s.utt][0][0]}
             for s in ordered if s.twin_of is not None]
    if pairs:
        _write_jsonl(split_dir / "compa_pairs.jsonl", pairs)


def _heldout_summary(seed: int) -> dict:
    reserved = held_out_pairs(seed)
    return {
        "pairs": {split: sorted(sorted(p) for p in pairs) for split, pairs in reserved.items()},
        "joiners": {g: t for g, t in JOINERS.items()},
        "phrases": {k: t for k, t in PHRASES.items()},
    }


def prepare_mini_clap(out_dir: str | Path, options: MiniClapOptions | None = None, *,
                      wav_dir: str | Path | None = None, progress: bool = False) -> MiniClapReport:
    """Render the corpus and write the data dirs ``out_dir/{train,dev,test}`` (see the module docstring)."""
    opts = options or MiniClapOptions()
    seed, nj, soundfont = opts.seed, opts.nj, Path(opts.soundfont)
    scene_audio.check_tools(soundfont)
    out_dir = Path(out_dir).absolute()
    wav_root = (Path(wav_dir).absolute() if wav_dir else out_dir / "wav") / f"seed{seed}"
    report = MiniClapReport(out_dir=out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / "zeroshot_labels.json", json.dumps(zero_shot_classes(), indent=1) + "\n")
    atomic_write_text(out_dir / "heldout.json", json.dumps(_heldout_summary(seed), indent=1) + "\n")
    for split, num in (("train", opts.num_train), ("dev", opts.num_dev), ("test", opts.num_test)):
        split_dir = out_dir / split
        marker = split_dir / ".done"
        stamp = json.dumps({"seed": seed, "num": num, "wav_root": str(wav_root)}, sort_keys=True)
        report.clips[split] = num
        if marker.is_file() and marker.read_text(encoding="utf-8").strip() == stamp:
            report.skipped.append(split)
            report.rendered[split] = 0
            continue
        if num == 0:
            report.rendered[split] = 0
            continue
        scenes = plan_split(split, num, seed)
        paths = {s.utt: wav_root / split / f"{s.utt}.wav" for s in scenes}
        with ThreadPoolExecutor(max_workers=max(1, nj)) as pool:
            results: Iterable = pool.map(lambda s: _render(s, paths[s.utt], soundfont), scenes)
            if progress:
                from tqdm import tqdm

                results = tqdm(results, total=len(scenes), desc=f"rendering {split}", unit="clip")
            done = dict(zip((s.utt for s in scenes), results))
        report.rendered[split] = sum(1 for _, fresh in done.values() if fresh)
        marker.unlink(missing_ok=True)
        write_split(scenes, split_dir, paths, {u: d for u, (d, _) in done.items()})
        atomic_write_text(marker, stamp + "\n")
    return report


def utterances_with_label(split_dir: str | Path, label_set: str) -> dict[str, str]:
    """``utt -> class`` of one zero-shot label file, without the clips it does not apply to."""
    from audiocl.data.kaldi_files import read_keyed_file

    entries = read_keyed_file(Path(split_dir) / f"utt2{label_set}").entries
    return {u: entries[u] for u in c_sorted(entries) if entries[u] != NO_LABEL}
