"""DataDir load/save/read_audio, validation of every bad input, fix/split/subset/utt2dur, and the CLIs."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from audiocl.cli.main import main
from audiocl.data import datadir_ops
from audiocl.data.datadir import (
    DataDir,
    Segment,
    check_data_dir,
    compute_utt2dur,
    fix_data_dir,
    split_data_dir,
    subset_data_dir,
    validate_data_dir,
)
from audiocl.errors import AudioReadError, DataDirError, SampleRateError



def write_lines(path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def _lines(path):
    return path.read_text(encoding="utf-8").splitlines()


# ---------------------------------------------------------------- load / save
def test_load_valid_dir(data_dir_builder, tmp_path):
    d = data_dir_builder(tmp_path / "data")
    assert validate_data_dir(d) == []
    dd = DataDir.load(d)
    assert dd.utt_ids == sorted(dd.utt_ids) and len(dd) == 6
    assert dd.spk2utt == {"spk0": ["spk0-utt0", "spk0-utt1", "spk0-utt2"], "spk1": ["spk1-utt0", "spk1-utt1", "spk1-utt2"]}
    assert dd.text["spk1-utt2"] == "HELLO WORLD 5"
    assert dd.extra["utt2style"]["spk0-utt1"] == "fast"
    assert dd.segments is None and dd.utt2dur is None
    wav = dd.read_audio("spk0-utt1")
    assert wav.dtype == np.float32 and len(wav) == int(0.6 * 16000)
    assert len(dd.read_audio("spk0-utt1", sample_rate=8000)) == int(0.6 * 8000)
    with pytest.raises(DataDirError, match="nope"):
        dd.read_audio("nope")


def test_save_roundtrip_sorted_c_locale(tmp_path):
    dd = DataDir()
    # C locale: upper case before lower case, '-' before digits, shorter prefix first
    utts = ["b-1", "B-2", "a_1", "a-1", "a", "a1"]
    dd.wav_scp = {u: f"/x/{u}.wav" for u in utts}
    dd.utt2spk = {u: u for u in utts}
    dd.text = {u: "" if u == "a" else f"T {u}" for u in utts}
    dd.utt2dur = {u: 1.25 for u in utts}
    dd.extra["utt2lang"] = {u: "en" for u in utts}
    out = dd.save(tmp_path / "out")
    keys = [line.split()[0] for line in _lines(out / "utt2spk")]
    assert keys == ["B-2", "a", "a-1", "a1", "a_1", "b-1"]
    assert _lines(out / "text")[1] == "a"  # empty transcript written as the id alone
    assert _lines(out / "utt2dur")[0] == "B-2 1.25"
    back = DataDir.load(out, validate=False)
    assert back.text == dd.text and back.utt2dur == dd.utt2dur and back.extra == dd.extra
    assert (out / "spk2utt").exists()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp files left


def test_save_without_speakers_and_many_bad_lines(tmp_path):
    dd = DataDir(wav_scp={"b": "/x/b.wav", "a": "/x/a.wav"})
    out = dd.save(tmp_path / "nospk")
    assert _lines(out / "utt2spk") == ["a a", "b b"] and _lines(out / "spk2utt") == ["a a", "b b"]
    write_lines(out / "utt2spk", [f"u{i:04d}" for i in range(500)])
    errs = validate_data_dir(out)
    assert sum("expected at least 2 fields" in e for e in errs) == 50
    assert "utt2spk: 450 more problem line(s) not listed" in errs


def test_segments_read_audio_and_save(data_dir_builder, tmp_path):
    d = data_dir_builder(tmp_path / "data", num_spk=1, per_spk=1)
    rec_path = DataDir.load(d).wav_scp["spk0-utt0"]
    ref, _ = sf.read(rec_path, dtype="float32")
    seg_dir = tmp_path / "seg"
    seg_dir.mkdir()
    write_lines(seg_dir / "wav.scp", [f"rec1 {rec_path}", f"rec2 cat {rec_path} |"])
    write_lines(seg_dir / "segments", ["spk-a rec1 0.0 0.25", "spk-b rec1 0.25 -1", "spk-c rec2 0.1 0.2"])
    write_lines(seg_dir / "utt2spk", ["spk-a spk", "spk-b spk", "spk-c spk"])
    assert validate_data_dir(seg_dir) == []
    dd = DataDir.load(seg_dir)
    assert dd.segments["spk-a"] == Segment("rec1", 0.0, 0.25)
    np.testing.assert_array_equal(dd.read_audio("spk-a"), ref[:4000])
    np.testing.assert_array_equal(dd.read_audio("spk-b"), ref[4000:])
    np.testing.assert_array_equal(dd.read_audio("spk-c"), ref[1600:3200])
    durs = compute_utt2dur(seg_dir)
    assert durs == pytest.approx({"spk-a": 0.25, "spk-b": 0.25, "spk-c": 0.1})
    assert DataDir.load(seg_dir).utt2dur == pytest.approx(durs)
    dd.save(tmp_path / "seg2")
    assert _lines(tmp_path / "seg2" / "segments") == ["spk-a rec1 0 0.25", "spk-b rec1 0.25 -1", "spk-c rec2 0.1 0.2"]


# ---------------------------------------------------------------- validation: every bad input
def _errors(d):
    return validate_data_dir(d)


def test_duplicate_ids(data_dir_builder, tmp_path):
    d = data_dir_builder(tmp_path / "data")
    lines = _lines(d / "text")
    write_lines(d / "text", lines[:2] + [lines[1]] + lines[2:])
    errs = _errors(d)
    assert any("text line 3: utterance spk0-utt1 is duplicated (first at line 2" in e for e in errs)
    lines = _lines(d / "utt2spk")
    write_lines(d / "utt2spk", lines[:2] + ["spk0-utt1 spk9"] + lines[2:])
    assert any("utt2spk line 3: utterance spk0-utt1 is duplicated with a different value" in e for e in _errors(d))
    with pytest.raises(DataDirError, match="duplicated"):
        DataDir.load(d)
    report = fix_data_dir(d)  # same-value duplicate line removed; conflicting speaker -> utterance dropped
    assert report.dropped == {"spk0-utt1": "duplicated with conflicting values in utt2spk"}
    assert validate_data_dir(d) == []
    text_lines = _lines(d / "text")
    assert len(text_lines) == 5 and not any(line.startswith("spk0-utt1 ") for line in text_lines)


def test_wrong_sample_rate_in_datadir(data_dir_builder, tmp_path):
    d = data_dir_builder(tmp_path / "data", sample_rate=8000)
    rep = check_data_dir(d, check_audio=True, sample_rate=16000)
    assert rep.errors == [] and any("6 at 8000 Hz" in w and "resampled" in w for w in rep.warnings)
    dd = DataDir.load(d)
    assert len(dd.read_audio("spk0-utt0", sample_rate=16000)) == 8000
    with pytest.raises(SampleRateError, match="utterance spk0-utt0.*8000 Hz but 16000 Hz"):
        dd.read_audio("spk0-utt0", sample_rate=16000, strict_sample_rate=True)


def test_unsorted(data_dir_builder, tmp_path):
    d = data_dir_builder(tmp_path / "data")
    lines = _lines(d / "utt2spk")
    write_lines(d / "utt2spk", [lines[1], lines[0]] + lines[2:])
    errs = _errors(d)
    assert any("utt2spk line 2: utterance spk0-utt0 comes after spk0-utt1" in e and "LC_ALL=C sort" in e for e in errs)


def test_too_few_fields_and_too_many(data_dir_builder, tmp_path):
    d = data_dir_builder(tmp_path / "data")
    lines = _lines(d / "utt2spk")
    lines[2] = "spk0-utt2"
    lines[3] = "spk1-utt0 spk1 extra"
    write_lines(d / "utt2spk", lines)
    errs = _errors(d)
    assert any("utt2spk line 3: utterance spk0-utt2: expected at least 2 fields, found 1" in e for e in errs)
    assert any("utt2spk line 4: utterance spk1-utt0: expected at most 2 fields, found 3" in e for e in errs)


def test_missing_from_some_file(data_dir_builder, tmp_path):
    d = data_dir_builder(tmp_path / "data")
    write_lines(d / "text", _lines(d / "text")[1:])
    write_lines(d / "utt2style", _lines(d / "utt2style") + ["zzz-extra fast"])
    errs = _errors(d)
    assert any(e.startswith("text: utterance spk0-utt0 (utt2spk line 1) is missing from text") for e in errs)
    assert any("utt2style line 7: utterance zzz-extra is not in utt2spk" in e for e in errs)


def test_text_not_utf8_reports_line_and_byte_offset(data_dir_builder, tmp_path):
    d = data_dir_builder(tmp_path / "data")
    raw = (d / "text").read_bytes().split(b"\n")
    raw[3] = b"spk1-utt0 HELLO \xff\xfe WORLD"
    (d / "text").write_bytes(b"\n".join(raw))
    offset = sum(len(line) + 1 for line in raw[:3]) + len(b"spk1-utt0 HELLO ")
    errs = _errors(d)
    msg = [e for e in errs if "UTF-8" in e]
    assert msg == [f"text line 4 (byte offset {offset}): utterance spk1-utt0: not valid UTF-8 (byte 0xff at column 17)"]
    # the other lines are still read
    assert DataDir.load(d, validate=False).text["spk1-utt1"] == "HELLO WORLD 4"


def test_segments_problems(data_dir_builder, tmp_path):
    d = data_dir_builder(tmp_path / "data", num_spk=1, per_spk=1)
    rec = DataDir.load(d).wav_scp["spk0-utt0"]
    s = tmp_path / "segbad"
    s.mkdir()
    write_lines(s / "wav.scp", [f"rec1 {rec}"])
    write_lines(s / "segments", ["u1 rec1 0.0 0.2", "u2 rec9 0.0 0.2", "u3 rec1 0.3 0.3", "u4 rec1 x 1", "u5 rec1 0.1"])
    write_lines(s / "utt2spk", [f"u{i} u{i}" for i in range(1, 6)])
    errs = _errors(s)
    assert "segments line 2: utterance u2: recording rec9 is not in wav.scp" in errs
    assert "segments line 3: utterance u3: end 0.3 <= start 0.3" in errs
    assert "segments line 4: utterance u4: start/end 'x 1' are not numbers" in errs
    assert "segments line 5: utterance u5: expected at least 4 fields, found 3" in errs
    report = fix_data_dir(s)
    assert report.kept == 1 and set(report.dropped) == {"u2", "u3", "u4", "u5"}
    assert "rec9" in report.dropped["u2"] and "<= start" in report.dropped["u3"]
    assert validate_data_dir(s) == []


def test_segments_outside_recording_and_stale_utt2dur(data_dir_builder, tmp_path):
    d = data_dir_builder(tmp_path / "data", num_spk=1, per_spk=1)  # one 0.5 s recording
    rec = DataDir.load(d).wav_scp["spk0-utt0"]
    s = tmp_path / "segs"
    s.mkdir()
    write_lines(s / "wav.scp", [f"r {rec}"])
    write_lines(s / "segments", ["u1 r 0.0 0.9", "u2 r 0.6 0.7", "u3 r 0.1 1.2"])
    write_lines(s / "utt2spk", ["u1 u1", "u2 u2", "u3 u3"])
    assert validate_data_dir(s) == []  # without reading headers the spans cannot be checked
    errs = validate_data_dir(s, check_audio=True)
    assert errs == [
        "segments line 2: utterance u2: starts at 0.6 s, after the end of recording r (0.500 s)",
        "segments line 3: utterance u3: ends at 1.2 s, more than 0.5 s after the end of recording r (0.500 s)",
    ]
    write_lines(d / "utt2dur", ["spk0-utt0 0.9"])
    rep = check_data_dir(d, check_audio=True)
    assert rep.errors == [] and any("utt2dur line 1: spk0-utt0 says 0.9 s, audio has 0.500 s" in w for w in rep.warnings)


def test_spk2utt_mismatch_and_prefix_warning(data_dir_builder, tmp_path):
    d = data_dir_builder(tmp_path / "data")
    write_lines(d / "spk2utt", ["spk0 spk0-utt0 spk0-utt1", "spk1 spk1-utt0 spk1-utt1 spk1-utt2"])
    errs = _errors(d)
    assert any("spk2utt line 1: speaker spk0: utterances differ from utt2spk (e.g. spk0-utt2)" in e for e in errs)
    d2 = data_dir_builder(tmp_path / "d2")
    lines = _lines(d2 / "utt2spk")
    write_lines(d2 / "utt2spk", [line.replace("spk0", "spk0", 1).split()[0] + " alice" if "spk0" in line else line
                                 for line in lines])
    write_lines(d2 / "spk2utt", ["alice spk0-utt0 spk0-utt1 spk0-utt2", "spk1 spk1-utt0 spk1-utt1 spk1-utt2"])
    rep = check_data_dir(d2)
    assert rep.errors == []
    assert any("do not start with their speaker id" in w and "spk0-utt0 -> alice" in w for w in rep.warnings)


def test_missing_audio_and_check_audio(data_dir_builder, tmp_path):
    d = data_dir_builder(tmp_path / "data")
    dd = DataDir.load(d)
    missing = dd.wav_scp["spk0-utt2"]
    (tmp := dd.wav_scp["spk1-utt0"])
    open(tmp, "wb").write(b"RIFF garbage")
    import os
    os.remove(missing)
    errs = _errors(d)
    assert errs == [f"wav.scp line 3: recording spk0-utt2: file not found: {missing}"]
    errs = validate_data_dir(d, check_audio=True)
    assert any(e.startswith("wav.scp line 3: recording spk0-utt2: file not found") for e in errs)
    assert any(e.startswith("wav.scp line 4: recording spk1-utt0: cannot decode audio") for e in errs)


def test_crlf_and_empty_line(data_dir_builder, tmp_path):
    d = data_dir_builder(tmp_path / "data")
    (d / "utt2style").write_bytes((d / "utt2style").read_bytes().replace(b"\n", b"\r\n"))
    write_lines(d / "text", _lines(d / "text")[:2] + [""] + _lines(d / "text")[2:])
    (d / "utt2spk").write_bytes(b"\xef\xbb\xbf" + (d / "utt2spk").read_bytes())
    errs = _errors(d)
    assert "utt2spk line 1: starts with a UTF-8 byte-order mark (BOM); fix-data removes it" in errs
    assert not any("not in utt2spk" in e for e in errs)  # the BOM does not corrupt the first id
    assert any("utt2style line 1: Windows line ending" in e for e in errs)
    assert "text line 3: empty line" in errs
    fix_data_dir(d)
    assert validate_data_dir(d) == []
    assert b"\r" not in (d / "utt2style").read_bytes()


def test_missing_mandatory_files(tmp_path, data_dir_builder):
    with pytest.raises(DataDirError, match="does not exist"):
        validate_data_dir(tmp_path / "nope")
    d = data_dir_builder(tmp_path / "data")
    (d / "utt2spk").unlink()
    assert any("utt2spk is missing" in e for e in _errors(d))


# ---------------------------------------------------------------- fix
def test_fix_drops_and_reports_with_backup(data_dir_builder, tmp_path):
    d = data_dir_builder(tmp_path / "data")
    orig = {p.name: p.read_bytes() for p in d.iterdir()}
    text = _lines(d / "text")
    write_lines(d / "text", [text[1], text[0]] + text[3:] + ["zzz-only-in-text HI"])  # unsorted, spk0-utt2 missing
    raw = (d / "utt2style").read_bytes().split(b"\n")
    raw[4] = b"spk1-utt1 \xff"
    (d / "utt2style").write_bytes(b"\n".join(raw))
    broken = {p.name: p.read_bytes() for p in d.iterdir() if p.is_file()}
    report = fix_data_dir(d)
    assert report.dropped == {
        "spk0-utt2": "missing from text",
        "spk1-utt1": "not valid UTF-8 (utt2style)",
        "zzz-only-in-text": "not in utt2spk (only in text)",
    }
    assert report.kept == 4
    assert "dropped utterance spk1-utt1: not valid UTF-8" in report.summary()
    assert validate_data_dir(d) == []
    dd = DataDir.load(d)
    assert dd.utt_ids == ["spk0-utt0", "spk0-utt1", "spk1-utt0", "spk1-utt2"]
    assert dd.spk2utt["spk1"] == ["spk1-utt0", "spk1-utt2"]
    for name in report.files_written:
        assert (d / ".backup" / name).read_bytes() == broken[name]
    assert not (d / ".backup" / "FIX_IN_PROGRESS").exists()
    # idempotent: second run changes nothing and keeps the backups of the broken files
    again = fix_data_dir(d)
    assert not again.changed and again.dropped == {}
    assert (d / ".backup" / "text").read_bytes() == broken["text"]
    assert orig.keys() <= {p.name for p in d.iterdir()}


def test_fix_killed_midway_loses_nothing(data_dir_builder, monkeypatch, tmp_path):
    d = data_dir_builder(tmp_path / "data")
    text = _lines(d / "text")
    write_lines(d / "text", text[1:])  # spk0-utt0 missing -> several files change
    (d / "spk2utt").unlink()
    before = {p.name: p.read_bytes() for p in d.iterdir() if p.is_file()}
    real_write = datadir_ops._write_file
    calls = []

    def dying_write(path, text):
        if calls:
            raise KeyboardInterrupt("killed")
        calls.append(path)
        real_write(path, text)

    monkeypatch.setattr(datadir_ops, "_write_file", dying_write)
    with pytest.raises(KeyboardInterrupt):
        fix_data_dir(d)
    assert (d / ".backup" / "FIX_IN_PROGRESS").exists()
    for name, data in before.items():  # every original is either untouched or in the backup
        assert (d / name).read_bytes() == data or (d / ".backup" / name).read_bytes() == data
    monkeypatch.setattr(datadir_ops, "_write_file", real_write)
    report = fix_data_dir(d)
    assert report.rolled_back and report.dropped == {"spk0-utt0": "missing from text"}
    assert validate_data_dir(d) == []
    for name in report.files_written:
        if name in before:
            assert (d / ".backup" / name).read_bytes() == before[name]


# ---------------------------------------------------------------- split / subset
def test_split_by_speaker_and_utterance(data_dir_builder, tmp_path):
    d = data_dir_builder(tmp_path / "data", num_spk=3, per_spk=3)
    parts = split_data_dir(d, 2)
    assert parts == [d / "split2" / "1", d / "split2" / "2"]
    spk_sets = [set(DataDir.load(p).utt2spk.values()) for p in parts]
    assert spk_sets[0].isdisjoint(spk_sets[1]) and spk_sets[0] | spk_sets[1] == {"spk0", "spk1", "spk2"}
    all_utts = sorted(u for p in parts for u in DataDir.load(p).utt_ids)
    assert all_utts == DataDir.load(d).utt_ids
    for p in parts:
        assert validate_data_dir(p) == []
        assert (p / "utt2style").exists()
    uparts = split_data_dir(d, 4, per_utt=True)
    sizes = [len(DataDir.load(p)) for p in uparts]
    assert uparts[0] == d / "split4utt" / "1" and sorted(sizes) == [2, 2, 2, 3]
    with pytest.raises(DataDirError, match="only 3 speakers"):
        split_data_dir(d, 4)


def test_subset(data_dir_builder, tmp_path):
    d = data_dir_builder(tmp_path / "data", num_spk=2, per_spk=5)
    first = subset_data_dir(d, tmp_path / "first", num=3, first=True)
    assert first.utt_ids == ["spk0-utt0", "spk0-utt1", "spk0-utt2"]
    r1 = subset_data_dir(d, tmp_path / "r1", num=4, seed=3).utt_ids
    r2 = subset_data_dir(d, tmp_path / "r2", num=4, seed=3).utt_ids
    r3 = subset_data_dir(d, tmp_path / "r3", num=4, seed=4).utt_ids
    assert r1 == r2 and len(r1) == 4 and r1 != r3
    assert validate_data_dir(tmp_path / "r1") == []
    lst = tmp_path / "list"
    write_lines(lst, ["spk1-utt4", "spk0-utt2 extra fields"])
    assert subset_data_dir(d, tmp_path / "l", utt_list=lst).utt_ids == ["spk0-utt2", "spk1-utt4"]
    write_lines(lst, ["spk1-utt4", "ghost"])
    with pytest.raises(DataDirError, match="ghost"):
        subset_data_dir(d, tmp_path / "l2", utt_list=lst)
    assert not (tmp_path / "l2").exists()
    with pytest.raises(DataDirError, match="it has 10"):
        subset_data_dir(d, tmp_path / "big", num=11)


# ---------------------------------------------------------------- utt2dur
def test_utt2dur_from_headers_and_bad_audio(data_dir_builder, tmp_path):
    d = data_dir_builder(tmp_path / "data")
    durs = compute_utt2dur(d)
    assert durs["spk0-utt0"] == pytest.approx(0.5) and durs["spk1-utt2"] == pytest.approx(1.0)
    assert validate_data_dir(d) == []
    (d / "utt2dur").unlink()
    dd = DataDir.load(d)
    open(dd.wav_scp["spk0-utt1"], "wb").close()
    with pytest.raises(DataDirError, match=r"utterance spk0-utt1, path .*spk0-utt1.wav: file is empty"):
        compute_utt2dur(d)
    assert not (d / "utt2dur").exists()
    with pytest.raises(AudioReadError, match="utterance spk0-utt1"):
        dd.read_audio("spk0-utt1")


# ---------------------------------------------------------------- CLI
def test_cli_validate_fix_split_subset(data_dir_builder, tmp_path, capsys):
    d = data_dir_builder(tmp_path / "data")
    assert main(["validate-data", str(d)]) == 0
    lines = _lines(d / "utt2spk")
    write_lines(d / "utt2spk", [lines[1], lines[0]] + lines[2:])
    assert main(["validate-data", str(d)]) == 1
    err = capsys.readouterr().err
    assert "utt2spk line 2: utterance spk0-utt0 comes after spk0-utt1" in err
    assert main(["fix-data", str(d)]) == 0
    assert "rewrote utt2spk" in capsys.readouterr().out
    assert main(["validate-data", str(d)]) == 0
    assert main(["split-data", str(d), "2"]) == 0
    assert main(["subset-data", str(d), str(tmp_path / "sub"), "--num", "2", "--first"]) == 0
    assert main(["compute-utt2dur", str(d)]) == 0
    assert (d / "utt2dur").exists()
    assert main(["validate-data", str(tmp_path / "missing")]) == 1
    assert "does not exist" in capsys.readouterr().err
