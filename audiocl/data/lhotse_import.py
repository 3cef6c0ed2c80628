"""Convert lhotse manifests (RecordingSet, SupervisionSet, CutSet; .json/.jsonl/.jsonl.gz) to a Kaldi data dir.

With this, any of lhotse's corpus recipes feeds audiocl: ``lhotse prepare <corpus> ...`` then
``audiocl import-lhotse``.

Why not ``lhotse.kaldi.export_to_kaldi``? It was read and tried; for audiocl it falls short in ways that
matter: every non-WAV file (LibriSpeech is FLAC) and every multi-channel WAV becomes an ``ffmpeg`` pipe (one
process per utterance, and ffmpeg is not installed here) although soundfile reads them directly; a
missing text or speaker is written as the string ``None``; CutSets are not accepted; files are written in
place, non-atomically, and without spk2utt; custom supervision fields (e.g. emotion labels) are dropped.
This converter instead

* writes file sources as plain paths (audiocl reads wav/flac/ogg/mp3 itself; a supervision on all channels
  of a multi-channel file is down-mixed on read) and uses a ``sox ... remix`` pipe only to select a single
  channel out of a multi-channel file;
* accepts recordings alone (one utterance per recording), recordings + supervisions (one utterance per
  supervision) or cuts (one utterance per cut; its text is the supervisions' texts in time order);
* writes ``segments`` only when some utterance is not a whole recording;
* adds ``utt2lang``/``utt2gender`` and ``utt2<field>`` for scalar ``custom`` fields every supervision has;
* converts everything in memory, writes into a hidden sibling folder, validates it, and only then moves the
  files into place, so a failed import leaves nothing half-written.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audiocl.data.datadir import DataDir, Segment, check_data_dir
from audiocl.errors import DataDirError

log = logging.getLogger(__name__)

__all__ = ["load_lhotse_manifest", "lhotse_to_datadir", "import_lhotse"]

# A supervision ending this close to the end of its recording counts as covering it (lhotse rounds durations).
WHOLE_RECORDING_TOLERANCE_S = 1e-3
_SAFE_FIELD = re.compile(r"^[A-Za-z0-9_]+$")


@dataclass
class _Utt:
    utt_id: str
    recording: Any  # lhotse Recording
    channels: list[int]
    start: float
    end: float
    text: str | None
    speaker: str | None
    fields: dict[str, str] = field(default_factory=dict)


def load_lhotse_manifest(path: str | Path):
    """Load any lhotse manifest file (lhotse detects the type); a clear error when it cannot be read."""
    from lhotse import load_manifest

    path = Path(path)
    if not path.is_file():
        raise DataDirError(f"lhotse manifest {path} does not exist")
    try:
        return load_manifest(path)
    except Exception as exc:  # lhotse raises ValueError/KeyError/JSONDecodeError/gzip errors
        raise DataDirError(f"cannot read lhotse manifest {path}: {type(exc).__name__}: {exc}") from exc


def _check_id(kind: str, value: str) -> str:
    if not value or any(ch.isspace() for ch in value):
        raise DataDirError(f"{kind} id {value!r} is empty or contains whitespace, which Kaldi files cannot hold")
    return value


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _scalar(value: Any) -> str | None:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (str, int, float)):
        text = _one_line(str(value))
        return text if text else None
    return None


def _sup_fields(sup) -> dict[str, str]:
    out = {}
    if getattr(sup, "language", None):
        out["lang"] = _one_line(str(sup.language))
    if getattr(sup, "gender", None):
        out["gender"] = _one_line(str(sup.gender))
    for key, value in (getattr(sup, "custom", None) or {}).items():
        text = _scalar(value)
        if text is not None and _SAFE_FIELD.match(str(key)) and key not in ("spk", "dur"):
            out[str(key)] = text
    return out


def _recording_channels(rec) -> list[int]:
    return sorted(c for src in rec.sources for c in src.channels)


def _check_transforms(rec) -> None:
    for t in rec.transforms or []:
        name = t.get("name") if isinstance(t, dict) else type(t).__name__
        if name != "Resample":  # audiocl resamples on read, so a Resample transform changes nothing
            raise DataDirError(
                f"recording {rec.id}: lhotse transform {name} cannot be expressed in wav.scp; "
                f"save the transformed audio with lhotse first"
            )


def _source_spec(rec, src) -> str:
    if src.type == "file":
        return str(src.source)
    if src.type == "command":
        return f"{src.source} |"
    raise DataDirError(
        f"recording {rec.id}: audio source of type '{src.type}' cannot be written to wav.scp "
        f"(only files and commands); save the audio to files with lhotse first"
    )


def _wav_entry(rec, channels: list[int]) -> tuple[str, str]:
    """Kaldi recording id and wav.scp spec for ``channels`` of ``rec`` (all channels: down-mix on read)."""
    _check_transforms(rec)
    all_channels = _recording_channels(rec)
    if sorted(channels) == all_channels:
        if len(rec.sources) != 1:
            specs = " ".join(shlex.quote(_source_spec(rec, s)) for s in rec.sources if s.type == "file")
            if any(s.type != "file" for s in rec.sources):
                raise DataDirError(f"recording {rec.id}: cannot mix several non-file sources")
            return rec.id, f"sox -m {specs} -t wav - |"
        return rec.id, _source_spec(rec, rec.sources[0])
    if len(channels) != 1:
        raise DataDirError(
            f"recording {rec.id}: a supervision on channels {channels} (a subset of {all_channels}) is not "
            f"supported; use one channel or all of them"
        )
    ch = channels[0]
    src = next((s for s in rec.sources if ch in s.channels), None)
    if src is None:
        raise DataDirError(f"recording {rec.id} has no channel {ch} (channels {all_channels})")
    key = f"{rec.id}_{ch}"
    spec = _source_spec(rec, src)
    if len(src.channels) == 1:
        return key, spec
    remix = src.channels.index(ch) + 1
    if src.type == "file":
        return key, f"sox {shlex.quote(spec)} -t wav - remix {remix} |"
    return key, f"{spec} sox -t wav - -t wav - remix {remix} |"


def _as_channels(channel) -> list[int]:
    if channel is None:
        return []
    if isinstance(channel, (list, tuple)):
        return sorted(int(c) for c in channel)
    return [int(channel)]


def _utts_from_recordings(recordings, supervisions) -> list[_Utt]:
    recs = {r.id: r for r in recordings}
    if supervisions is None:
        return [_Utt(r.id, r, _recording_channels(r), 0.0, r.duration, None, None) for r in recs.values()]
    out = []
    for sup in supervisions:
        rec = recs.get(sup.recording_id)
        if rec is None:
            raise DataDirError(f"supervision {sup.id}: recording {sup.recording_id} is not in the recordings manifest")
        channels = _as_channels(sup.channel) or _recording_channels(rec)
        end = min(sup.start + sup.duration, rec.duration)
        out.append(_Utt(sup.id, rec, channels, max(sup.start, 0.0), end, sup.text, sup.speaker, _sup_fields(sup)))
    return out


def _utts_from_cuts(cuts) -> list[_Utt]:
    from lhotse.cut import MixedCut, PaddingCut

    out = []
    for cut in cuts:
        if isinstance(cut, (MixedCut, PaddingCut)) or not getattr(cut, "has_recording", False):
            raise DataDirError(
                f"cut {cut.id} is a {type(cut).__name__} without a single recording (mixed, padded or "
                f"feature-only cuts cannot be written to wav.scp; save their audio with lhotse first)"
            )
        sups = sorted(cut.supervisions, key=lambda s: s.start)
        texts = [s.text for s in sups if s.text]
        speakers = {s.speaker for s in sups if s.speaker}
        if len(speakers) > 1:
            log.warning("cut %s has several speakers %s; it becomes its own speaker", cut.id, sorted(speakers))
        fields: dict[str, str] = {}
        if len(sups) == 1:
            fields = _sup_fields(sups[0])
        rec = cut.recording
        channels = _as_channels(cut.channel) or _recording_channels(rec)
        end = min(cut.start + cut.duration, rec.duration)
        out.append(_Utt(cut.id, rec, channels, cut.start, end, " ".join(texts) if texts else None,
                        speakers.pop() if len(speakers) == 1 else None, fields))
    return out


def lhotse_to_datadir(*, recordings=None, supervisions=None, cuts=None, prefix_speaker: bool = False) -> DataDir:
    """Build an in-memory :class:`DataDir` from lhotse manifests (recordings [+ supervisions], or cuts)."""
    if cuts is not None:
        if recordings is not None or supervisions is not None:
            raise DataDirError("give either cuts, or recordings (+ supervisions), not both")
        utts = _utts_from_cuts(cuts)
    elif recordings is not None:
        utts = _utts_from_recordings(recordings, supervisions)
    else:
        raise DataDirError("no lhotse manifest given: need recordings (+ supervisions) or cuts")
    if not utts:
        raise DataDirError("the lhotse manifests hold no utterances")

    dd = DataDir()
    seen: dict[str, str] = {}
    wav: dict[str, str] = {}
    durations: dict[str, float] = {}
    rec_use: dict[str, int] = {}
    segs: dict[str, Segment] = {}
    rec_dur: dict[str, float] = {}
    for u in utts:
        spk = _check_id("speaker", u.speaker) if u.speaker else None
        utt_id = _check_id("utterance", u.utt_id)
        if prefix_speaker and spk and not utt_id.startswith(spk):
            utt_id = f"{spk}-{utt_id}"
        if utt_id in seen:
            raise DataDirError(f"utterance id {utt_id} occurs twice in the manifests (ids must be unique)")
        seen[utt_id] = u.utt_id
        if u.end <= u.start:
            raise DataDirError(f"utterance {u.utt_id}: empty time span {u.start}..{u.end} s in recording {u.recording.id}")
        key, spec = _wav_entry(u.recording, u.channels)
        _check_id("recording", key)
        if wav.get(key, spec) != spec:
            raise DataDirError(f"recording id {key} maps to two different audio sources")
        wav[key] = spec
        rec_dur[key] = u.recording.duration
        rec_use[key] = rec_use.get(key, 0) + 1
        segs[utt_id] = Segment(key, round(u.start, 6), round(u.end, 6))
        durations[utt_id] = round(u.end - u.start, 6)
        dd.utt2spk[utt_id] = spk or utt_id
        if u.text is not None:
            if dd.text is None:
                dd.text = {}
            dd.text[utt_id] = _one_line(u.text)
        for name, value in u.fields.items():
            dd.extra.setdefault(f"utt2{name}", {})[utt_id] = value

    if dd.text is not None and len(dd.text) < len(seen):
        missing = len(seen) - len(dd.text)
        log.warning("%d utterance(s) have no text; they get an empty transcript", missing)
        for utt in seen:
            dd.text.setdefault(utt, "")
    for name in list(dd.extra):
        if len(dd.extra[name]) < len(seen):
            log.warning("%s: only %d of %d utterances have this field; not written", name, len(dd.extra[name]), len(seen))
            del dd.extra[name]

    whole = all(
        rec_use[s.recording] == 1 and s.start == 0.0 and abs(s.end - rec_dur[s.recording]) <= WHOLE_RECORDING_TOLERANCE_S
        for s in segs.values()
    )
    if whole:
        dd.wav_scp = {utt: wav[s.recording] for utt, s in segs.items()}
        dd.segments = None
    else:
        dd.wav_scp = wav
        dd.segments = segs
        dd.reco_extra["reco2dur"] = {k: f"{d:.6f}".rstrip("0").rstrip(".") for k, d in rec_dur.items()}
    dd.utt2dur = durations
    return dd


def import_lhotse(
    out_dir: str | Path,
    *,
    recordings: str | Path | None = None,
    supervisions: str | Path | None = None,
    cuts: str | Path | None = None,
    prefix_speaker: bool = False,
    check_audio: bool = False,
) -> DataDir:
    """Convert manifest files to the data dir ``out_dir``; validated before anything lands in ``out_dir``."""
    out_dir = Path(out_dir)
    load = load_lhotse_manifest
    dd = lhotse_to_datadir(
        recordings=load(recordings) if recordings else None,
        supervisions=load(supervisions) if supervisions else None,
        cuts=load(cuts) if cuts else None,
        prefix_speaker=prefix_speaker,
    )
    staging = out_dir.parent / f".{out_dir.name}.import-tmp"
    if staging.exists():
        shutil.rmtree(staging)
    try:
        dd.save(staging)
        report = check_data_dir(staging, check_audio=check_audio)
        if report.errors:
            raise DataDirError(
                f"the data dir converted from the lhotse manifests is not valid; nothing written to {out_dir}",
                [e.replace(str(staging), str(out_dir)) for e in report.errors],
            )
        for w in report.warnings:
            log.warning("%s: %s", out_dir, w)
        out_dir.mkdir(parents=True, exist_ok=True)
        for name in ("segments", "text", "utt2dur", "reco2dur"):  # stale files from an earlier import
            if (out_dir / name).exists() and not (staging / name).exists():
                (out_dir / name).unlink()
        for p in sorted(staging.iterdir()):
            os.replace(p, out_dir / p.name)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    dd.path = out_dir
    dd.source = out_dir
    return dd
