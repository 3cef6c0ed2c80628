"""lhotse manifests (built here with lhotse from audio the test writes) -> Kaldi data dirs."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from lhotse import CutSet, Recording, RecordingSet, SupervisionSegment, SupervisionSet

from audiocl.cli.main import main
from audiocl.data.datadir import DataDir, validate_data_dir
from audiocl.data.lhotse_import import import_lhotse, lhotse_to_datadir
from audiocl.errors import DataDirError


@pytest.fixture
def corpus(tmp_path):
    """Two mono recordings (wav, flac) and one stereo wav; supervisions with text, speaker, custom fields."""
    rng = np.random.default_rng(0)
    a = tmp_path / "audio"
    a.mkdir()
    sf.write(a / "r1.wav", 0.1 * rng.standard_normal(16000).astype(np.float32), 16000)
    sf.write(a / "r2.flac", 0.1 * rng.standard_normal(24000).astype(np.float32), 16000)
    st = 0.1 * rng.standard_normal((32000, 2)).astype(np.float32)
    st[:, 1] *= 3
    sf.write(a / "st.wav", st, 16000)
    recs = RecordingSet.from_recordings([
        Recording.from_file(a / "r1.wav", recording_id="r1"),
        Recording.from_file(a / "r2.flac", recording_id="r2"),
        Recording.from_file(a / "st.wav", recording_id="st"),
    ])
    sups = SupervisionSet.from_segments([
        SupervisionSegment("spkA-r1", "r1", 0.0, 1.0, channel=0, text="HELLO  WORLD", speaker="spkA",
                           language="en", custom={"emotion": "happy"}),
        SupervisionSegment("spkB-r2-a", "r2", 0.0, 0.75, channel=0, text="ONE", speaker="spkB",
                           language="en", custom={"emotion": "sad"}),
        SupervisionSegment("spkB-r2-b", "r2", 0.75, 0.75, channel=0, text="TWO", speaker="spkB",
                           language="en", custom={"emotion": "sad"}),
        SupervisionSegment("spkC-st-left", "st", 0.5, 1.0, channel=1, text="RIGHT CHANNEL", speaker="spkC",
                           language="en", custom={"emotion": "neutral"}),
        SupervisionSegment("spkC-st-mix", "st", 0.0, 2.0, channel=[0, 1], text="BOTH", speaker="spkC",
                           language="en", custom={"emotion": "neutral"}),
    ])
    return tmp_path, recs, sups, st


def test_recordings_and_supervisions_files(corpus):
    tmp, recs, sups, st = corpus
    recs.to_file(tmp / "recordings.jsonl.gz")
    sups.to_file(tmp / "supervisions.jsonl.gz")
    out = tmp / "data"
    dd = import_lhotse(out, recordings=tmp / "recordings.jsonl.gz", supervisions=tmp / "supervisions.jsonl.gz")
    assert validate_data_dir(out) == []
    back = DataDir.load(out)
    assert back.utt_ids == ["spkA-r1", "spkB-r2-a", "spkB-r2-b", "spkC-st-left", "spkC-st-mix"]
    assert back.text["spkA-r1"] == "HELLO WORLD"
    assert back.utt2spk["spkB-r2-b"] == "spkB"
    assert back.extra["utt2emotion"]["spkA-r1"] == "happy" and back.extra["utt2lang"]["spkC-st-mix"] == "en"
    assert back.utt2dur["spkB-r2-b"] == pytest.approx(0.75)
    # flac and mono wav stay plain paths; one channel of a stereo file is a sox remix pipe
    assert back.wav_scp["r2"].endswith("r2.flac") and back.wav_scp["st"].endswith("st.wav")
    assert back.wav_scp["st_1"].startswith("sox ") and back.wav_scp["st_1"].endswith("remix 2 |")
    assert back.segments["spkB-r2-b"].recording == "r2" and back.segments["spkB-r2-b"].start == 0.75
    # audio equals what lhotse itself loads for each supervision
    cuts = CutSet.from_manifests(recs, sups).trim_to_supervisions(keep_overlapping=False).to_eager()
    for cut in cuts:
        ref = cut.load_audio()
        ref = ref.mean(axis=0) if ref.shape[0] > 1 else ref[0]
        got = back.read_audio(cut.supervisions[0].id)
        assert len(got) == len(ref), cut.id
        np.testing.assert_allclose(got, ref, atol=1e-4)
    assert dd.segments is not None


def test_whole_recordings_have_no_segments(corpus):
    tmp, recs, sups, _ = corpus
    r1 = recs.filter(lambda r: r.id == "r1")
    dd = lhotse_to_datadir(recordings=r1, supervisions=sups.filter(lambda s: s.recording_id == "r1"))
    assert dd.segments is None and list(dd.wav_scp) == ["spkA-r1"]
    only_recs = lhotse_to_datadir(recordings=recs)
    assert sorted(only_recs.utt2spk.items()) == [("r1", "r1"), ("r2", "r2"), ("st", "st")]
    assert only_recs.text is None and only_recs.segments is None


def test_cuts_manifest(corpus):
    tmp, recs, sups, _ = corpus
    cuts = CutSet.from_manifests(recs, sups).trim_to_supervisions(keep_overlapping=False).to_eager()
    cuts.to_file(tmp / "cuts.jsonl.gz")
    out = tmp / "data_cuts"
    assert main(["import-lhotse", str(out), "--cuts", str(tmp / "cuts.jsonl.gz")]) == 0
    assert validate_data_dir(out) == []
    dd = DataDir.load(out)
    assert len(dd) == len(cuts)
    for cut in cuts:
        assert dd.text[cut.id] == " ".join(cut.supervisions[0].text.split())
        ref = cut.load_audio()
        got = dd.read_audio(cut.id)
        np.testing.assert_allclose(got, ref.mean(axis=0), atol=1e-4)


def test_bad_manifests_write_nothing(corpus):
    tmp, recs, sups, _ = corpus
    out = tmp / "bad"
    bad_sup = SupervisionSet.from_segments([SupervisionSegment("x", "nope", 0, 1, speaker="s")])
    with pytest.raises(DataDirError, match="supervision x: recording nope is not in the recordings"):
        lhotse_to_datadir(recordings=recs, supervisions=bad_sup)
    dup = SupervisionSet.from_segments([SupervisionSegment("x", "r1", 0, 0.5), SupervisionSegment("x", "r1", 0.5, 0.5)],)
    with pytest.raises(DataDirError, match="x occurs twice"):
        lhotse_to_datadir(recordings=recs, supervisions=dup)
    url = RecordingSet.from_recordings([Recording.from_dict({
        "id": "u", "sources": [{"type": "url", "channels": [0], "source": "http://x/y.wav"}],
        "sampling_rate": 16000, "num_samples": 16000, "duration": 1.0})])
    with pytest.raises(DataDirError, match="recording u: audio source of type 'url'"):
        lhotse_to_datadir(recordings=url)
    junk = tmp / "junk.jsonl.gz"
    junk.write_bytes(np.random.default_rng(0).bytes(300))
    with pytest.raises(DataDirError, match="cannot read lhotse manifest .*junk.jsonl.gz"):
        import_lhotse(out, recordings=junk)
    # audio that does not exist: the converted dir fails validation and nothing lands in OUT
    (tmp / "audio" / "r2.flac").unlink()
    recs.to_file(tmp / "recordings.jsonl.gz")
    with pytest.raises(DataDirError, match=r"nothing written.*\n.*r2.flac") as ei:
        import_lhotse(out, recordings=tmp / "recordings.jsonl.gz")
    assert "file not found" in str(ei.value)
    assert not out.exists() and not list(tmp.glob(".bad*"))
    assert main(["import-lhotse", str(out), "--supervisions", "s.jsonl"]) == 1
