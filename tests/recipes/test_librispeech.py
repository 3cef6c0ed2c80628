"""LibriSpeech: resumable MD5-checked download from a local HTTP server, extraction, data preparation, run.sh."""

from __future__ import annotations

import io
import os
import tarfile

import numpy as np
import pytest

from audiocl.corpora.librispeech import (LIBRISPEECH_MD5, data_dir_name, extract_librispeech, parts_of_sets,
                                         prepare_librispeech, prepare_librispeech_sets, read_md5_file, write_md5_file)
from audiocl.data.datadir import DataDir, validate_data_dir
from audiocl.errors import ChecksumError, DataDirError, DownloadError
from audiocl.recipe.download import download_file, md5sum

PAYLOAD = np.random.default_rng(0).integers(0, 256, 200_000, dtype=np.uint8).tobytes()


def test_official_checksums_cover_all_parts():
    assert set(LIBRISPEECH_MD5) == {"dev-clean", "dev-other", "test-clean", "test-other", "train-clean-100",
                                    "train-clean-360", "train-other-500"}
    assert all(len(h) == 32 and int(h, 16) >= 0 for h in LIBRISPEECH_MD5.values())
    assert LIBRISPEECH_MD5["dev-clean"] == "42e2234ba48799c1f50f24a7926300a1"


def test_interrupted_download_resumes_with_a_range_request(file_server, rt, tmp_path):
    file_server.files["/a.tar.gz"] = PAYLOAD
    file_server.drop_after["/a.tar.gz"] = 70_000
    dest = tmp_path / "a.tar.gz"
    with pytest.raises(DownloadError, match="interrupted.*run again to resume"):
        download_file(f"{file_server.url}/a.tar.gz", dest, md5=rt.md5(PAYLOAD), retries=0)
    part = tmp_path / "a.tar.gz.part"
    assert not dest.exists() and part.stat().st_size == 70_000
    download_file(f"{file_server.url}/a.tar.gz", dest, md5=rt.md5(PAYLOAD), retries=0)
    assert file_server.requests[-1] == ("/a.tar.gz", "bytes=70000-")
    assert dest.read_bytes() == PAYLOAD and not part.exists()
    n = len(file_server.requests)
    download_file(f"{file_server.url}/a.tar.gz", dest, md5=rt.md5(PAYLOAD))  # verified, not fetched again
    assert len(file_server.requests) == n


def test_retries_resume_within_one_call(file_server, rt, tmp_path):
    file_server.files["/b"] = PAYLOAD
    file_server.drop_after["/b"] = 1234
    download_file(f"{file_server.url}/b", tmp_path / "b", md5=rt.md5(PAYLOAD), retries=2, retry_wait=0)
    assert [r[1] for r in file_server.requests] == [None, "bytes=1234-"]
    assert (tmp_path / "b").read_bytes() == PAYLOAD


def test_server_ignoring_range_restarts_from_zero(file_server, rt, tmp_path):
    file_server.files["/c"] = PAYLOAD
    file_server.drop_after["/c"] = 5000
    file_server.honour_range = False
    download_file(f"{file_server.url}/c", tmp_path / "c", md5=rt.md5(PAYLOAD), retries=1, retry_wait=0)
    assert (tmp_path / "c").read_bytes() == PAYLOAD


@pytest.mark.parametrize("damage", ["flipped byte", "truncated on the server"])
def test_tampered_download_is_a_checksum_error_and_never_kept(damage, file_server, rt, tmp_path):
    if damage == "flipped byte":
        tampered = bytearray(PAYLOAD)
        tampered[1000] ^= 0xFF
    else:
        tampered = PAYLOAD[:-777]
    file_server.files["/d.tar.gz"] = bytes(tampered)
    dest = tmp_path / "d.tar.gz"
    with pytest.raises(ChecksumError) as err:
        download_file(f"{file_server.url}/d.tar.gz", dest, md5=rt.md5(PAYLOAD))
    msg = str(err.value)
    assert rt.md5(PAYLOAD) in msg and rt.md5(bytes(tampered)) in msg and "d.tar.gz" in msg
    assert not dest.exists() and not (tmp_path / "d.tar.gz.part").exists()
    assert (tmp_path / "d.tar.gz.bad").exists()
    file_server.files["/d.tar.gz"] = PAYLOAD  # the mirror is fixed: the next run downloads afresh
    download_file(f"{file_server.url}/d.tar.gz", dest, md5=rt.md5(PAYLOAD))
    assert file_server.requests[-1] == ("/d.tar.gz", None) and md5sum(dest) == rt.md5(PAYLOAD)


def test_truncated_existing_archive_is_a_checksum_error(rt, tmp_path):
    dest = tmp_path / "e.tar.gz"
    dest.write_bytes(PAYLOAD[:-10])
    with pytest.raises(ChecksumError, match="delete .*e.tar.gz to download it again"):
        download_file("http://127.0.0.1:9/never-contacted", dest, md5=rt.md5(PAYLOAD))


def test_http_error_is_named(file_server, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404"):
        download_file(f"{file_server.url}/missing.tar.gz", tmp_path / "m", retries=0)


def test_extract_and_prepare_from_the_librispeech_layout(make_librispeech_tgz, tmp_path):
    data, texts = make_librispeech_tgz("dev-clean")
    archive = tmp_path / "dev-clean.tar.gz"
    archive.write_bytes(data)
    corpus = extract_librispeech(archive, tmp_path / "db")
    assert (corpus / "dev-clean/84/121123/84-121123-0001.flac").is_file() and (corpus / "SPEAKERS.TXT").is_file()
    assert not [p for p in (tmp_path / "db").iterdir() if p.name.startswith(".extract")]
    out = prepare_librispeech(corpus, ["dev-clean"], tmp_path / "data")["dev-clean"]
    assert out == tmp_path / "data" / "dev_clean" and data_dir_name("train-clean-100") == "train_clean_100"
    assert validate_data_dir(out) == []
    dd = DataDir.load(out)
    assert dd.utt_ids == sorted(texts) and dd.text == texts
    assert dd.utt2spk == {u: u.split("-")[0] for u in texts}
    assert all(os.path.isfile(p) for p in dd.wav_scp.values())
    assert dd.utt2dur and all(abs(d - 0.4) < 1e-3 for d in dd.utt2dur.values())
    assert (out / "spk2gender").read_text() == "1272 m\n84 f\n"


def test_combined_set_merges_parts(make_librispeech_tgz, tmp_path):
    assert parts_of_sets(["train_960", "dev_clean", "train_clean_460"]) == [
        "train-clean-100", "train-clean-360", "train-other-500", "dev-clean"]
    with pytest.raises(DataDirError, match="no LibriSpeech data set 'train_961'"):
        parts_of_sets(["train_961"])
    texts = {}
    for part, spk in (("train-clean-100", ("19", "198")), ("train-clean-360", ("100", "121669"))):
        data, t = make_librispeech_tgz(part, speakers=(spk,), utts=1)
        texts.update(t)
        (tmp_path / f"{part}.tar.gz").write_bytes(data)
        corpus = extract_librispeech(tmp_path / f"{part}.tar.gz", tmp_path / "db")
    out = prepare_librispeech_sets(corpus, ["train_clean_460"], tmp_path / "data")["train_clean_460"]
    assert out.name == "train_clean_460" and DataDir.load(out).text == texts


def test_prepare_reports_missing_audio_and_untranscribed_files(make_librispeech_tgz, tmp_path):
    data, _ = make_librispeech_tgz("dev-clean")
    archive = tmp_path / "dev-clean.tar.gz"
    archive.write_bytes(data)
    corpus = extract_librispeech(archive, tmp_path / "db")
    chapter = corpus / "dev-clean/1272/128104"
    (chapter / "1272-128104-0000.flac").unlink()
    (chapter / "1272-128104-0009.flac").write_bytes(b"")
    with pytest.raises(DataDirError) as err:
        prepare_librispeech(corpus, ["dev-clean"], tmp_path / "data")
    msg = str(err.value)
    assert f"{chapter}/1272-128104.trans.txt:1: utterance 1272-128104-0000: audio file" in msg
    assert "1272-128104-0009.flac: no transcript line" in msg
    assert not (tmp_path / "data" / "dev_clean").exists()


def test_unsafe_archive_member_is_refused(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("../evil.txt")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"evil"))
    (tmp_path / "dev-clean.tar.gz").write_bytes(buf.getvalue())
    with pytest.raises(DownloadError, match="unsafe archive member"):
        extract_librispeech(tmp_path / "dev-clean.tar.gz", tmp_path / "db")
    assert not (tmp_path / "evil.txt").exists()


def test_md5_file_round_trip_and_errors(tmp_path):
    write_md5_file(tmp_path / "sums", {"dev-clean": "a" * 32})
    assert read_md5_file(tmp_path / "sums") == {"dev-clean": "a" * 32}
    (tmp_path / "bad").write_text("nothex dev-clean.tar.gz\n")
    with pytest.raises(DownloadError, match="bad:1"):
        read_md5_file(tmp_path / "bad")


# ------------------------------------------------------------------------------------- the recipe end to end

def _recipe(rt, tmp_path, server, *args, env=None):
    recipe = rt.repo / "egs" / "librispeech" / "run.sh"
    common = ["--base-url", server.url + "/resources/12", "--md5-file", str(tmp_path / "md5sum.txt"),
              "--db", str(tmp_path / "db"), "--datadir", str(tmp_path / "data"), "--expdir", str(tmp_path / "exp"),
              "--dumpdir", str(tmp_path / "dump"), "--train-set", "dev_clean", "--dev-set", "dev_clean",
              "--test-sets", "test_clean", "--nj", "1"]
    return rt.run(["bash", str(recipe), *common, *args], cwd=tmp_path, env=env or rt.env())


def test_recipe_downloads_resumes_prepares(make_librispeech_tgz, file_server, rt, tmp_path):
    archives = {part: make_librispeech_tgz(part)[0] for part in ("dev-clean", "test-clean")}
    for part, data in archives.items():
        file_server.files[f"/resources/12/{part}.tar.gz"] = data
    write_md5_file(tmp_path / "md5sum.txt", {p: rt.md5(d) for p, d in archives.items()})
    file_server.drop_after["/resources/12/dev-clean.tar.gz"] = len(archives["dev-clean"]) // 3

    r = _recipe(rt, tmp_path, file_server, "--stop-stage", "1")
    assert r.returncode == 0, r.stdout + r.stderr
    resumed = f"bytes={len(archives['dev-clean']) // 3}-"
    assert ("/resources/12/dev-clean.tar.gz", resumed) in file_server.requests
    for s in ("dev_clean", "test_clean"):
        assert validate_data_dir(tmp_path / "data" / s) == []
    assert (tmp_path / "exp/stages/stage0_download.done").exists()
    assert (tmp_path / "exp/stages/stage1_data.done").exists()
    assert "verified" in (tmp_path / "exp/log/stage0_download.log").read_text()

    # "--stage 2" means: data is prepared, run the rest (features here; later stages come with later issues).
    # Jobs go through slurm.pl here, with the stand-in sbatch on PATH, as on a cluster.
    r = _recipe(rt, tmp_path, file_server, "--stage", "2", "--stop-stage", "2", "--cmd", "slurm.pl --mem 1G",
                env=rt.env(extra_path=[rt.fake_slurm]))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "#SBATCH --mem=1G" in (tmp_path / "exp/log/q/extract_fbank_dev_clean.sh").read_text()
    for s in ("dev_clean", "test_clean"):
        feats = (tmp_path / "data" / s / "feats.scp").read_text().splitlines()
        assert [line.split()[0] for line in feats] == DataDir.load(tmp_path / "data" / s).utt_ids
    assert (tmp_path / "dump/fbank/dev_clean").is_dir()


def test_recipe_stage_2_without_data_says_run_stage_1(file_server, rt, tmp_path):
    (tmp_path / "md5sum.txt").write_text("")
    r = _recipe(rt, tmp_path, file_server, "--stage", "2")
    assert r.returncode != 0
    assert "no data dir" in r.stdout and "run stage 1 first" in r.stdout
    assert not (tmp_path / "exp/stages/stage2_features.done").exists()


def test_recipe_tampered_archive_fails_stage_0_without_marker(make_librispeech_tgz, file_server, rt, tmp_path):
    data, _ = make_librispeech_tgz("dev-clean")
    tampered = bytearray(data)
    tampered[len(data) // 2] ^= 0x55
    for part in ("dev-clean", "test-clean"):
        file_server.files[f"/resources/12/{part}.tar.gz"] = bytes(tampered)
    write_md5_file(tmp_path / "md5sum.txt", {"dev-clean": rt.md5(data), "test-clean": rt.md5(data)})
    r = _recipe(rt, tmp_path, file_server, "--stop-stage", "1")
    assert r.returncode != 0
    out = r.stdout + r.stderr
    assert "Traceback" not in out  # a clear message, not a traceback
    assert "checksum mismatch" in out and "dev-clean.tar.gz" in out
    assert "stage 0 (download): FAILED" in r.stderr
    assert "checksum mismatch" in (tmp_path / "exp/log/stage0_download.log").read_text()
    assert not (tmp_path / "exp/stages/stage0_download.done").exists()
    assert not (tmp_path / "db/LibriSpeech/dev-clean").exists() and not (tmp_path / "data").exists()
