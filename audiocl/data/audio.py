"""Audio I/O for audiocl: one function that turns a ``wav.scp`` entry into float32 samples.

Everything that reads audio goes through :func:`read_audio`, so every bad file produces the same kind
of error (:class:`audiocl.errors.AudioReadError` naming the utterance and the path) wherever it is hit:
data validation, feature extraction or a training dataloader.

A *spec* is what the second column of a Kaldi ``wav.scp`` holds:

* a path to any file libsndfile decodes (wav, flac, ogg/vorbis, opus, mp3 with libsndfile >= 1.1, ...);
* a Kaldi pipe ``"sox in.sph -t wav - |"``: run with a shell (bash with ``pipefail`` when available, so a
  failing first command of a pipeline is not hidden), its stdout is decoded as an audio file;
* a Kaldi extended filename ``wav.ark:1234`` (audio stored in an archive by ``wav-copy`` or kaldiio), read
  with kaldiio.

Decoding is done by ``soundfile`` (torchaudio's load/save back-ends are not available here).

Resampling uses ``soxr`` (libsoxr, "HQ" quality): it works on numpy arrays directly (no tensor round-trip),
handles any ratio, is both faster and more accurate than ``torchaudio.functional.resample``'s default sinc
interpolation at the common ratios, and is already installed with librosa.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from audiocl.errors import AudioReadError, SampleRateError
from audiocl.utils.io import atomic_path

__all__ = [
    "AudioInfo",
    "audio_info",
    "is_pipe",
    "read_audio",
    "resample",
    "write_audio",
]

# Kaldi's extract-segments tolerates segment ends up to 0.5 s beyond the end of the recording
# (option --max-overshoot, default 0.5) and clips them; beyond that the segment is an error.
MAX_SEGMENT_OVERSHOOT_S = 0.5

_STDERR_TAIL_CHARS = 600


@dataclass(frozen=True)
class AudioInfo:
    """What a header says about a recording: enough to compute durations without decoding."""

    sample_rate: int
    num_frames: int
    channels: int
    format: str = ""

    @property
    def duration(self) -> float:
        return self.num_frames / float(self.sample_rate)


_ARK_SPEC = re.compile(r"^(?P<path>.+\.ark):(?P<offset>\d+)$")


def is_ark(spec: str) -> bool:
    """True when ``spec`` is a Kaldi ``archive.ark:offset`` extended filename."""
    return _ARK_SPEC.match(spec.strip()) is not None


def ark_path(spec: str) -> str | None:
    """The archive file of an ``archive.ark:offset`` spec (None for other specs)."""
    m = _ARK_SPEC.match(spec.strip())
    return m.group("path") if m else None


def _read_ark(spec: str, utt_id: str | None) -> tuple[np.ndarray, int]:
    """Audio of an ``archive.ark:offset`` entry as (frames, channels) float32 and its rate."""
    import kaldiio

    _check_path(ark_path(spec), utt_id)
    m = _ARK_SPEC.match(spec.strip())
    with open(m.group("path"), "rb") as fh:  # kaldiio would unpickle "PKL" entries: never load pickles
        fh.seek(int(m.group("offset")))
        if fh.read(3) == b"PKL":
            raise AudioReadError("the archive entry is a Python pickle; refusing to load it", path=spec, utt_id=utt_id)
    try:
        obj = kaldiio.load_mat(spec.strip())
    except Exception as exc:  # kaldiio raises ValueError/EOFError/struct.error on corrupt archives
        raise AudioReadError(f"cannot read the archive entry: {type(exc).__name__}: {exc}", path=spec, utt_id=utt_id) from exc
    if not (isinstance(obj, tuple) and len(obj) == 2):
        raise AudioReadError("the archive entry is a matrix (features?), not audio with a sample rate", path=spec, utt_id=utt_id)
    sr, arr = int(obj[0]), np.asarray(obj[1])
    if np.issubdtype(arr.dtype, np.integer):
        arr = arr.astype(np.float32) / float(2 ** (8 * arr.dtype.itemsize - 1))
    arr = arr.astype(np.float32)
    if arr.ndim == 1:
        arr = arr[:, None]
    elif arr.ndim == 2 and arr.shape[0] < arr.shape[1] and arr.shape[0] <= 16:  # Kaldi stores (channels, frames)
        arr = arr.T
    return arr, sr


def is_pipe(spec: str) -> bool:
    """True when ``spec`` is a Kaldi ``cmd |`` pipe (ends with ``|``)."""
    return spec.rstrip().endswith("|")


def _run_pipe(spec: str, utt_id: str | None) -> bytes:
    """Run the command of a ``cmd |`` spec and return its stdout; a failing command is an AudioReadError."""
    cmd = spec.rstrip()[:-1].strip()
    if not cmd:
        raise AudioReadError("empty command before '|'", path=spec, utt_id=utt_id)
    bash = shutil.which("bash")
    argv = [bash, "-o", "pipefail", "-c", cmd] if bash else ["/bin/sh", "-c", cmd]
    try:
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    except OSError as exc:  # pragma: no cover - no shell at all
        raise AudioReadError(f"cannot start the command: {exc}", path=spec, utt_id=utt_id) from exc
    if proc.returncode != 0:
        tail = proc.stderr.decode("utf-8", errors="replace").strip()[-_STDERR_TAIL_CHARS:]
        raise AudioReadError(
            f"command failed with exit status {proc.returncode}"
            + (f"; its stderr ends with: {tail}" if tail else " and printed nothing on stderr"),
            path=spec,
            utt_id=utt_id,
        )
    if not proc.stdout:
        raise AudioReadError("command succeeded but wrote no audio to stdout", path=spec, utt_id=utt_id)
    return proc.stdout


# Sizes that writers use for "length unknown" when streaming a WAV to a pipe.
_STREAMING_SIZES = {0, 0xFFFFFFFF, 0x7FFFFFFF, 0x7FFFF000, 0xFFFFFFFF - 8}


def _check_wav_truncation(path: str, utt_id: str | None) -> None:
    """Raise when a RIFF/WAVE file declares more audio data than the file holds.

    libsndfile silently returns the frames that are present, so a download cut short would otherwise
    yield a shorter utterance without any warning.
    """
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            head = fh.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return
            pos = 12
            while pos + 8 <= size:
                fh.seek(pos)
                chunk = fh.read(8)
                if len(chunk) < 8:
                    return
                cid, csize = chunk[:4], struct.unpack("<I", chunk[4:])[0]
                if cid == b"data":
                    if csize in _STREAMING_SIZES:
                        return
                    available = size - pos - 8
                    if csize > available:
                        raise AudioReadError(
                            f"truncated WAV file: header declares {csize} bytes of audio data but only "
                            f"{available} are present (incomplete copy or download?)",
                            path=path,
                            utt_id=utt_id,
                        )
                    return
                pos += 8 + csize + (csize & 1)
    except OSError:
        return


def _open_error(exc: Exception, path: str, utt_id: str | None) -> AudioReadError:
    msg = str(exc).replace(f"'{path}'", "the file")
    return AudioReadError(
        f"cannot decode audio: corrupt or truncated header, random bytes or an unsupported codec "
        f"(libsndfile: {msg})",
        path=path,
        utt_id=utt_id,
    )


def _check_path(path: str, utt_id: str | None) -> None:
    if not os.path.exists(path):
        if os.path.islink(path):
            raise AudioReadError(f"broken symbolic link (points to {os.readlink(path)}, which does not exist)",
                                 path=path, utt_id=utt_id)
        raise AudioReadError("file not found", path=path, utt_id=utt_id)
    if os.path.isdir(path):
        raise AudioReadError("is a directory, not an audio file", path=path, utt_id=utt_id)
    if not os.access(path, os.R_OK):
        raise AudioReadError("permission denied (the file is not readable)", path=path, utt_id=utt_id)
    if os.path.getsize(path) == 0:
        raise AudioReadError("file is empty (0 bytes)", path=path, utt_id=utt_id)


def audio_info(spec: str, *, utt_id: str | None = None) -> AudioInfo:
    """Sample rate, number of frames and channels of ``spec`` from its header (pipes are run and decoded)."""
    spec = str(spec)
    if is_pipe(spec):
        data = _run_pipe(spec, utt_id)
        try:
            info = sf.info(io.BytesIO(data))
        except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
            raise _open_error(exc, spec, utt_id) from exc
        num_frames = info.frames
        if num_frames <= 0 or num_frames >= 2**62:  # streamed header with unknown length: decode to count
            num_frames = len(_decode_bytes(data, spec, utt_id)[0])
        return AudioInfo(info.samplerate, num_frames, info.channels, info.format)
    if is_ark(spec):
        wav, sr = _read_ark(spec, utt_id)
        return AudioInfo(sr, wav.shape[0], wav.shape[1], "KALDI_ARK")
    _check_path(spec, utt_id)
    _check_wav_truncation(spec, utt_id)
    try:
        info = sf.info(spec)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise _open_error(exc, spec, utt_id) from exc
    return AudioInfo(info.samplerate, info.frames, info.channels, info.format)


def _decode_bytes(data: bytes, spec: str, utt_id: str | None) -> tuple[np.ndarray, int]:
    try:
        wav, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise _open_error(exc, spec, utt_id) from exc
    return wav, sr


def _frame_range(start: float, end: float | None, sr: int, total: int, spec: str, utt_id: str | None) -> tuple[int, int]:
    """Convert a segment [start, end) in seconds to frame indices, following Kaldi's extract-segments."""
    if start < 0:
        raise AudioReadError(f"segment start {start} s is negative", path=spec, utt_id=utt_id)
    first = int(round(start * sr))
    if end is None or end < 0:  # Kaldi: end -1 means "to the end of the recording"
        last = total
    else:
        if end <= start:
            raise AudioReadError(f"segment end {end} s is not after its start {start} s", path=spec, utt_id=utt_id)
        last = int(round(end * sr))
        if last > total:
            overshoot = (last - total) / sr
            if overshoot > MAX_SEGMENT_OVERSHOOT_S:
                raise AudioReadError(
                    f"segment end {end} s is {overshoot:.3f} s beyond the end of the recording "
                    f"({total / sr:.3f} s); more than the {MAX_SEGMENT_OVERSHOOT_S} s Kaldi tolerates",
                    path=spec,
                    utt_id=utt_id,
                )
            last = total
    if first >= total:
        raise AudioReadError(
            f"segment start {start} s is at or beyond the end of the recording ({total / sr:.3f} s)",
            path=spec,
            utt_id=utt_id,
        )
    return first, last


def resample(wav: np.ndarray, orig_sr: int, new_sr: int) -> np.ndarray:
    """Band-limited resampling of a 1-D or (frames, channels) float array with libsoxr (HQ)."""
    if orig_sr == new_sr:
        return wav
    if orig_sr <= 0 or new_sr <= 0:
        raise ValueError(f"sample rates must be positive, got {orig_sr} -> {new_sr}")
    import soxr

    out = soxr.resample(np.ascontiguousarray(wav, dtype=np.float32), orig_sr, new_sr, quality="HQ")
    return np.asarray(out, dtype=np.float32)


def read_audio(
    spec: str,
    *,
    sample_rate: int | None = None,
    channel: int | None = None,
    strict_sample_rate: bool = False,
    start: float = 0.0,
    end: float | None = None,
    utt_id: str | None = None,
) -> np.ndarray:
    """Read ``spec`` (path or ``cmd |`` pipe) as a float32 1-D array in [-1, 1].

    ``sample_rate``: the rate the caller wants; audio at another rate is resampled, or rejected with
    :class:`SampleRateError` when ``strict_sample_rate``. ``None`` keeps the file's rate.
    ``channel``: 0-based channel to keep; ``None`` down-mixes all channels by averaging.
    ``start``/``end``: a segment in seconds of the *original* recording (Kaldi ``segments``); ``end`` None
    or negative means the end of the recording.
    ``utt_id``: named in every error message.
    """
    spec = str(spec)
    if is_pipe(spec) or is_ark(spec):
        if is_ark(spec):
            wav, sr = _read_ark(spec, utt_id)
        else:
            wav, sr = _decode_bytes(_run_pipe(spec, utt_id), spec, utt_id)
        first, last = _frame_range(start, end, sr, len(wav), spec, utt_id) if len(wav) else (0, 0)
        wav = wav[first:last]
    else:
        _check_path(spec, utt_id)
        _check_wav_truncation(spec, utt_id)
        try:
            with sf.SoundFile(spec) as fh:
                sr = fh.samplerate
                total = fh.frames
                if total == 0:
                    raise AudioReadError("audio has zero samples", path=spec, utt_id=utt_id)
                first, last = _frame_range(start, end, sr, total, spec, utt_id)
                if first:
                    fh.seek(first)
                wav = fh.read(last - first, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
            raise _open_error(exc, spec, utt_id) from exc
    if wav.shape[0] == 0:
        raise AudioReadError("audio has zero samples", path=spec, utt_id=utt_id)

    if sample_rate is not None and sr != sample_rate:
        if strict_sample_rate:
            raise SampleRateError(
                f"sample rate is {sr} Hz but {sample_rate} Hz is required (strict_sample_rate); resample the "
                f"data or allow resampling",
                path=spec,
                utt_id=utt_id,
            )

    num_channels = wav.shape[1]
    if channel is None:
        mono = wav[:, 0] if num_channels == 1 else wav.mean(axis=1)
    else:
        if not -num_channels <= channel < num_channels:
            raise AudioReadError(
                f"channel {channel} requested but the audio has {num_channels} channel(s)", path=spec, utt_id=utt_id
            )
        mono = wav[:, channel]
    mono = np.ascontiguousarray(mono, dtype=np.float32)

    if not np.isfinite(mono).all():
        raise AudioReadError("audio contains NaN or infinite samples", path=spec, utt_id=utt_id)
    if sample_rate is not None and sr != sample_rate:
        mono = resample(mono, sr, sample_rate)
    return mono


def write_audio(path: str | Path, wav: np.ndarray, sample_rate: int, *, subtype: str | None = None) -> None:
    """Write float audio atomically (format from the extension; 16-bit PCM for wav/flac by default).

    ``wav`` is 1-D or (frames, channels). Values outside [-1, 1] are clipped by PCM encoders, so they are
    rejected here instead of silently distorted.
    """
    path = Path(path)
    wav = np.asarray(wav, dtype=np.float32)
    if wav.ndim not in (1, 2):
        raise ValueError(f"write_audio expects 1-D or (frames, channels) audio, got shape {wav.shape}")
    if not np.isfinite(wav).all():
        raise ValueError(f"refusing to write non-finite samples to {path}")
    fmt = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".mp3": "MP3"}.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"cannot infer an audio format from the extension of {path}")
    if subtype is None and fmt in ("WAV", "FLAC"):
        subtype = "PCM_16"
    if subtype and subtype.startswith("PCM") and np.abs(wav).max(initial=0.0) > 1.0:
        raise ValueError(f"samples outside [-1, 1] would clip in {path}; scale the audio first")
    with atomic_path(path) as tmp:
        sf.write(str(tmp), wav, int(sample_rate), format=fmt, subtype=subtype)
