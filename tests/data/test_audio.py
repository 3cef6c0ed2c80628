"""Audio I/O: formats, pipes, segments, resampling, channels and every bad input at the audio level."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from audiocl.data.audio import audio_info, is_pipe, read_audio, resample, write_audio
from audiocl.errors import AudioReadError, SampleRateError


@pytest.mark.parametrize("ext", ["wav", "flac", "ogg", "mp3"])
def test_formats_decode_to_float32_mono(tmp_path, ext):
    t = np.arange(16000) / 16000
    wav = (0.4 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    path = tmp_path / f"x.{ext}"
    sf.write(path, wav, 16000)
    out = read_audio(str(path))
    assert out.dtype == np.float32 and out.ndim == 1
    assert abs(len(out) - 16000) <= 1200  # lossy codecs may pad a little
    assert np.abs(out).max() <= 1.0
    info = audio_info(str(path))
    assert info.sample_rate == 16000 and info.channels == 1
    if ext in ("wav", "flac"):
        np.testing.assert_allclose(out, wav, atol=1e-4)


def test_pcm_values_match_soundfile(write_tone):
    path = write_tone(seconds=0.5)
    ref, sr = sf.read(path, dtype="float32")
    np.testing.assert_array_equal(read_audio(str(path)), ref)
    assert sr == 16000


def test_segment_start_end(write_tone):
    path = write_tone(seconds=2.0)
    ref, _ = sf.read(path, dtype="float32")
    seg = read_audio(str(path), start=0.5, end=1.25)
    np.testing.assert_array_equal(seg, ref[8000:20000])
    tail = read_audio(str(path), start=1.5, end=-1)
    np.testing.assert_array_equal(tail, ref[24000:])
    # small overshoot is clipped like Kaldi's extract-segments
    np.testing.assert_array_equal(read_audio(str(path), start=1.0, end=2.3), ref[16000:])


@pytest.mark.parametrize("start,end,match", [(1.0, 1.0, "not after"), (1.5, 1.0, "not after"),
                                             (3.0, None, "beyond the end"), (0.0, 3.0, "beyond the end"),
                                             (-0.1, 1.0, "negative")])
def test_bad_segments(write_tone, start, end, match):
    path = write_tone(seconds=2.0)
    with pytest.raises(AudioReadError, match=match) as ei:
        read_audio(str(path), start=start, end=end, utt_id="u1")
    assert "utterance u1" in str(ei.value)


def test_resample_and_strict(write_tone):
    path = write_tone(seconds=1.0, sample_rate=8000)
    up = read_audio(str(path), sample_rate=16000)
    assert len(up) == 16000
    # the tone survives resampling: same dominant frequency
    ref, _ = sf.read(path, dtype="float32")
    f_ref = np.argmax(np.abs(np.fft.rfft(ref))) * 8000 / len(ref)
    f_up = np.argmax(np.abs(np.fft.rfft(up))) * 16000 / len(up)
    assert abs(f_ref - f_up) <= 2.0
    with pytest.raises(SampleRateError, match="8000 Hz but 16000 Hz") as ei:
        read_audio(str(path), sample_rate=16000, strict_sample_rate=True, utt_id="spk-u9")
    assert "spk-u9" in str(ei.value) and str(path) in str(ei.value)
    # strict with the right rate is fine
    assert len(read_audio(str(path), sample_rate=8000, strict_sample_rate=True)) == 8000


def test_resample_44k_to_16k_length():
    x = np.random.default_rng(0).standard_normal(44100).astype(np.float32) * 0.1
    assert len(resample(x, 44100, 16000)) == 16000


def test_channels(write_tone):
    path = write_tone(seconds=0.5, channels=2)
    ref, _ = sf.read(path, dtype="float32", always_2d=True)
    np.testing.assert_allclose(read_audio(str(path)), ref.mean(axis=1), atol=1e-7)
    np.testing.assert_array_equal(read_audio(str(path), channel=1), ref[:, 1])
    with pytest.raises(AudioReadError, match="channel 2 requested but the audio has 2"):
        read_audio(str(path), channel=2, utt_id="u")
    assert audio_info(str(path)).channels == 2


def test_pipe_reads_stdout(write_tone):
    path = write_tone(seconds=1.0)
    ref, _ = sf.read(path, dtype="float32")
    spec = f"cat {path} |"
    assert is_pipe(spec) and not is_pipe(str(path))
    np.testing.assert_array_equal(read_audio(spec), ref)
    np.testing.assert_array_equal(read_audio(spec, start=0.25, end=0.5), ref[4000:8000])
    info = audio_info(spec)
    assert info.num_frames == 16000 and info.sample_rate == 16000


def test_sox_pipe_resamples(write_tone):
    path = write_tone(seconds=1.0, sample_rate=16000)
    out = read_audio(f"sox {path} -t wav -r 8000 - |", sample_rate=16000)
    assert abs(len(out) - 16000) <= 2


@pytest.mark.parametrize("cmd,match", [
    ("cat /nonexistent/file.wav |", r"exit status 1.*No such file"),
    ("echo oops >&2; exit 3 |", r"exit status 3.*oops"),
    ("cat /nonexistent/x.wav | cat |", r"exit status 1"),  # pipefail: the first command's failure is seen
    ("true |", "wrote no audio"),
    ("echo hello |", "cannot decode audio"),
])
def test_failing_pipe(cmd, match):
    with pytest.raises(AudioReadError, match=match) as ei:
        read_audio(cmd, utt_id="utt-7")
    assert "utterance utt-7" in str(ei.value) and cmd in str(ei.value)


def _bad_files(tmp_path, write_tone):
    good = write_tone(seconds=1.0).read_bytes()
    files = {
        "empty": (b"", "empty"),
        "trunc_header": (good[:20], "cannot decode"),
        "trunc_data": (good[:1000], "truncated WAV"),
        "random": (np.random.default_rng(1).bytes(4000), "cannot decode audio"),
    }
    out = {}
    for name, (data, match) in files.items():
        p = tmp_path / f"{name}.wav"
        p.write_bytes(data)
        out[name] = (p, match)
    return out


@pytest.mark.parametrize("name", ["empty", "trunc_header", "trunc_data", "random"])
def test_bad_files_name_utt_and_path(tmp_path, write_tone, name):
    path, match = _bad_files(tmp_path, write_tone)[name]
    for fn in (lambda: read_audio(str(path), utt_id="bad-utt"), lambda: audio_info(str(path), utt_id="bad-utt")):
        with pytest.raises(AudioReadError, match=match) as ei:
            fn()
        assert "utterance bad-utt" in str(ei.value) and str(path) in str(ei.value)
        assert ei.value.utt_id == "bad-utt" and ei.value.path == str(path)


def test_missing_path_and_directory(tmp_path):
    with pytest.raises(AudioReadError, match="file not found") as ei:
        read_audio(str(tmp_path / "nope.wav"), utt_id="u0")
    assert "u0" in str(ei.value)
    with pytest.raises(AudioReadError, match="is a directory"):
        read_audio(str(tmp_path))


def test_zero_length_audio(tmp_path):
    p = tmp_path / "zero.wav"
    sf.write(p, np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(AudioReadError, match="zero samples"):
        read_audio(str(p), utt_id="z")
    with pytest.raises(AudioReadError, match="zero samples"):
        read_audio(f"cat {p} |", utt_id="z")


def test_nan_samples_rejected(tmp_path):
    p = tmp_path / "nan.wav"
    x = np.zeros(100, dtype=np.float32)
    x[10] = np.nan
    sf.write(p, x, 16000, subtype="FLOAT")
    with pytest.raises(AudioReadError, match="NaN"):
        read_audio(str(p))


def test_write_audio_roundtrip_and_atomic(tmp_path):
    x = (0.3 * np.sin(np.arange(800) / 5)).astype(np.float32)
    p = tmp_path / "sub" / "w.flac"
    write_audio(p, x, 8000)
    np.testing.assert_allclose(read_audio(str(p)), x, atol=1e-4)
    assert [f.name for f in p.parent.iterdir()] == ["w.flac"]  # no temp file left behind
    with pytest.raises(ValueError, match="clip"):
        write_audio(tmp_path / "loud.wav", x * 10, 8000)
    assert not (tmp_path / "loud.wav").exists()
    assert list(tmp_path.glob(".loud*")) == []


def test_kaldi_ark_extended_filename(tmp_path):
    kaldiio = pytest.importorskip("kaldiio")
    x = (np.random.default_rng(0).standard_normal(1600) * 3000).astype(np.int16)
    ark = tmp_path / "wav.ark"
    kaldiio.save_ark(str(ark), {"u1": (8000, x), "u2": (16000, x[:800])}, scp=str(tmp_path / "wav.scp"))
    specs = dict(line.split() for line in (tmp_path / "wav.scp").read_text().splitlines())
    out = read_audio(specs["u1"])
    np.testing.assert_allclose(out, x / 32768.0, atol=1e-7)
    assert audio_info(specs["u2"]).sample_rate == 16000 and audio_info(specs["u2"]).num_frames == 800
    assert len(read_audio(specs["u1"], sample_rate=16000)) == 3200
    with pytest.raises(AudioReadError, match="file not found"):
        read_audio(str(tmp_path / "nope.ark:12"), utt_id="u")
    with pytest.raises(AudioReadError, match="cannot read the archive entry"):
        read_audio(f"{ark}:5", utt_id="u")
    kaldiio.save_ark(str(tmp_path / "p.ark"), {"evil": (8000, x)}, scp=str(tmp_path / "p.scp"), write_function="pickle")
    spec = (tmp_path / "p.scp").read_text().split()[1]
    with pytest.raises(AudioReadError, match="pickle; refusing"):
        read_audio(spec, utt_id="evil")
