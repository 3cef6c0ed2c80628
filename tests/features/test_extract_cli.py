"""`audiocl extract` end to end: data dir / wav.scp / files / folders, --nj, npy, bad inputs, plug-ins."""

from __future__ import annotations

from dataclasses import dataclass

import kaldiio
import numpy as np
import pytest
import soundfile as sf

from audiocl.cli.main import main
from audiocl.data.audio import read_audio
from audiocl.features import FbankConfig, MfccConfig, compute_features
from audiocl.features import extractors as ext_mod
from audiocl.features.writers import FeatureReader


def test_datadir_ark_matches_library_and_updates_datadir(tmp_path, write_tone, capsys, data_dir_builder):
    wavs = {f"u{i}": write_tone(f"w/u{i}.wav", seconds=0.5 + 0.25 * i, seed=i) for i in range(3)}
    dd = data_dir_builder(tmp_path / "data" / "train", recordings=wavs)
    assert main(["extract", str(dd), "--no-progress"]) == 0
    feats = kaldiio.load_scp(str(dd / "feats.scp"))
    assert list(feats) == ["u0", "u1", "u2"]
    for u, path in wavs.items():
        np.testing.assert_allclose(feats[u], compute_features(read_audio(str(path)), FbankConfig()), atol=1e-5)
    frames = dict(line.split() for line in (dd / "utt2num_frames").read_text().splitlines())
    assert frames == {u: str(feats[u].shape[0]) for u in feats}
    assert (dd / "frame_shift").read_text().strip() == "0.01"
    stats = kaldiio.load_mat(str(dd / "data" / "cmvn.ark"))
    assert stats.shape == (2, 81) and stats[0, -1] == sum(int(n) for n in frames.values())
    assert "3 of 3 utterances" in capsys.readouterr().err


def test_nj2_npy_equals_nj1_and_segments(tmp_path, write_tone, data_dir_builder):
    wavs = {f"r{i}": write_tone(f"w/r{i}.wav", seconds=1.0, seed=i) for i in range(2)}
    segments = {f"r{i}-{j}": (f"r{i}", 0.25 * j, 0.25 * j + 0.25) for i in range(2) for j in range(4)}
    dd = data_dir_builder(tmp_path / "dd", recordings=wavs, segments=segments)
    args = ["--type", "mfcc", "--num-ceps", "20", "--num-mel-bins", "30", "--no-progress", "--no-update-data-dir"]
    assert main(["extract", str(dd), "--out", str(tmp_path / "o1"), *args]) == 0
    assert main(["extract", str(dd), "--out", str(tmp_path / "o2"), "--nj", "2", "--format", "npy", *args]) == 0
    one, two = FeatureReader(tmp_path / "o1" / "feats.scp"), FeatureReader(tmp_path / "o2" / "feats.scp")
    assert list(one) == list(two) == sorted(segments)
    assert (tmp_path / "o2" / "feats.1").is_dir() and (tmp_path / "o2" / "feats.2").is_dir()
    for u, (rec, start, end) in segments.items():
        np.testing.assert_array_equal(one[u], two[u])
        seg = read_audio(str(wavs[rec]), start=start, end=end)
        np.testing.assert_allclose(one[u], compute_features(seg, MfccConfig(num_ceps=20, num_mel_bins=30)), atol=1e-5)
    assert not (dd / "feats.scp").exists()


@pytest.fixture
def bad_folder(tmp_path, write_tone):
    good = write_tone("in/good.wav", seconds=0.6)
    write_tone("in/rate8k.wav", seconds=0.6, sample_rate=8000)
    (tmp_path / "in" / "empty.wav").write_bytes(b"")
    (tmp_path / "in" / "noise.wav").write_bytes(np.random.default_rng(0).bytes(3000))
    (tmp_path / "in" / "trunc.wav").write_bytes(good.read_bytes()[:30])  # header cut short
    sf.write(tmp_path / "in" / "short.wav", np.zeros(100, np.float32), 16000)  # < one 25 ms frame
    return tmp_path / "in"


def test_bad_inputs_listed_nonzero_exit_then_skip_bad(tmp_path, bad_folder, capsys):
    out = tmp_path / "out"
    rc = main(["extract", str(bad_folder), "--out", str(out), "--strict-sample-rate", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "5 bad input(s)" in err and "5 of 6 inputs failed" in err
    for utt in ("empty", "noise", "trunc", "rate8k", "short"):
        assert f"  {utt}  {bad_folder / (utt + '.wav')}  " in err
    assert "too short" in err and "8000" in err
    listed = (out / "bad_inputs.txt").read_text().splitlines()
    assert sorted(line.split("\t")[0] for line in listed) == ["empty", "noise", "rate8k", "short", "trunc"]
    assert list(FeatureReader(out / "feats.scp")) == ["good"]  # the good one is complete
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]

    rc = main(["extract", str(bad_folder), "--out", str(out), "--skip-bad", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 0 and "4 bad input(s)" in err  # resampled 8 kHz file is fine without --strict
    assert list(FeatureReader(out / "feats.scp")) == ["good", "rate8k"]


def test_wav_scp_with_missing_path_and_failing_pipe(tmp_path, write_tone, capsys):
    good = write_tone("a.wav", seconds=0.5)
    scp = tmp_path / "wav.scp"
    scp.write_text(f"a {good}\nb {tmp_path / 'missing.wav'}\nc false |\nd cat {good} |\n")
    rc = main(["extract", str(scp), "--out", str(tmp_path / "o"), "--skip-bad", "--no-progress", "--type", "logmel"])
    err = capsys.readouterr().err
    assert rc == 0 and "2 bad input(s)" in err
    assert "  b  " in err and "  c  false |  " in err
    reader = FeatureReader(tmp_path / "o" / "feats.scp")
    assert list(reader) == ["a", "d"] and reader["a"].shape[1] == 80
    np.testing.assert_array_equal(reader["a"], reader["d"])


def test_kaldi_conf_file_and_option_errors(tmp_path, write_tone, capsys):
    wav = write_tone("x.wav", seconds=0.5)
    conf = tmp_path / "fbank.conf"
    conf.write_text("--num-mel-bins=40  # comment\n--snip-edges=false\n--use-energy=true\n")
    assert main(["extract", str(wav), "--out", str(tmp_path / "o"), "--config", str(conf), "--no-progress"]) == 0
    feats = FeatureReader(tmp_path / "o" / "feats.scp")["x"]
    expected = compute_features(read_audio(str(wav)), FbankConfig(num_mel_bins=40, snip_edges=False, use_energy=True))
    np.testing.assert_allclose(feats, expected, atol=1e-5)
    assert main(["extract", str(wav), "--out", str(tmp_path / "p"), "--num-ceps", "12"]) == 1
    assert "--num-ceps does not apply to --type fbank" in capsys.readouterr().err
    conf.write_text("--vtln-warp=0.9\n")
    assert main(["extract", str(wav), "--out", str(tmp_path / "p"), "--config", str(conf)]) == 1
    assert "--vtln-warp does not exist" in capsys.readouterr().err
    assert main(["extract", str(wav), str(wav), "--out", str(tmp_path / "p")]) == 1
    assert "given twice" in capsys.readouterr().err


class _ToyExtractor:
    """Stand-in for a model extractor: frame energy at a fixed hop, scaled by a plug-in option."""

    name, dim, sample_rate, frame_shift = "toy", 2, 16000, 0.02

    def __init__(self, scale: float):
        self.scale = scale

    def __call__(self, wavs):
        out = []
        for w in wavs:
            frames = w[: len(w) // 320 * 320].reshape(-1, 320)
            e = (frames**2).mean(1, keepdims=True) * self.scale
            out.append(np.concatenate([e, -e], 1).astype(np.float32))
        return out


@dataclass
class _ToyConfig:
    toy_scale: float | None = None

    def build_extractor(self, device: str = "cpu") -> _ToyExtractor:
        return _ToyExtractor(self.toy_scale)


def test_extractor_plugin_point(tmp_path, write_tone, monkeypatch, capsys):
    monkeypatch.setattr(ext_mod, "_REGISTRY", dict(ext_mod._REGISTRY))
    ext_mod.register_extractor(ext_mod.ExtractorPlugin(
        name="toy", help="toy plug-in", config_class=_ToyConfig, trigger="toy_scale"))
    wav = write_tone("t.wav", seconds=0.5)
    assert main(["extract", str(wav), "--out", str(tmp_path / "o"), "--toy-scale", "3", "--no-progress"]) == 0
    feats = FeatureReader(tmp_path / "o" / "feats.scp")["t"]
    audio = read_audio(str(wav))
    assert feats.shape == (25, 2)
    np.testing.assert_allclose(feats[:, 0], 3 * (audio[:8000].reshape(25, 320) ** 2).mean(1), rtol=1e-5)
    assert isinstance(ext_mod.build_extractor(_ToyConfig(1.0)), _ToyExtractor)
    assert "type: toy" in (tmp_path / "o" / "feature_info.yaml").read_text()
    assert main(["extract", str(wav), "--out", str(tmp_path / "p"), "--type", "toy"]) == 1
    assert "--type toy needs --toy-scale" in capsys.readouterr().err


def test_broken_data_dir_is_refused_before_any_output(tmp_path, write_tone, capsys, data_dir_builder):
    wavs = {f"u{i}": write_tone(f"w/u{i}.wav", seconds=0.5, seed=i) for i in range(2)}
    dd = data_dir_builder(tmp_path / "dd", recordings=wavs)
    (dd / "utt2spk").write_text("u1 spk1\nu0 spk1\nu0 spk2\n")  # unsorted, and u0 listed twice
    assert main(["extract", str(dd), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "utt2spk" in err and "u0" in err
    assert not (dd / "data").exists() and not (dd / "feats.scp").exists()


@pytest.fixture
def folder_with_broken_entries(tmp_path, write_tone):
    """A good file beside a dangling link, a directory and a zero-byte file, all named like audio."""
    write_tone("in/good.wav", seconds=0.6)
    folder = tmp_path / "in"
    (folder / "x.wav").symlink_to(tmp_path / "gone.wav")
    (folder / "y.wav").mkdir()
    (folder / "z.wav").write_bytes(b"")
    return folder


def test_folder_broken_link_and_unreadable_entries_fail_the_run(tmp_path, folder_with_broken_entries, capsys):
    folder, out = folder_with_broken_entries, tmp_path / "out"
    assert main(["extract", str(folder), "--out", str(out), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "1 of 4 utterances" in err and "3 of 4 inputs failed" in err
    assert f"  x  {folder / 'x.wav'}  broken symbolic link" in err
    assert f"  y  {folder / 'y.wav'}  is a directory" in err
    assert f"  z  {folder / 'z.wav'}  file is empty" in err
    assert f"failed: {folder / 'x.wav'}, {folder / 'y.wav'}, {folder / 'z.wav'}; fix them" in err

    assert main(["extract", str(folder), "--out", str(out), "--no-progress", "--skip-bad"]) == 0
    assert "1 of 4 utterances" in capsys.readouterr().err
    listed = [line.split("\t") for line in (out / "bad_inputs.txt").read_text().splitlines()]
    assert [(u, p) for u, p, _ in listed] == [(u, str(folder / f"{u}.wav")) for u in ("x", "y", "z")]
    assert list(FeatureReader(out / "feats.scp")) == ["good"]
