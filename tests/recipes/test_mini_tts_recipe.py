"""egs/mini_tts/run.sh end to end on a tiny corpus: --stop-stage 1, then --stage 2 continues, then a full
re-run skips every finished stage (the issue's "Must show")."""

from __future__ import annotations

import pytest

from audiocl.data.datadir import validate_data_dir

pytestmark = pytest.mark.integration


def test_stop_stage_1_then_stage_2_then_everything_skipped(rt, tmp_path):
    recipe = rt.repo / "egs" / "mini_tts" / "run.sh"
    dirs = ["--datadir", str(tmp_path / "data"), "--expdir", str(tmp_path / "exp"),
            "--dumpdir", str(tmp_path / "dump"), "--num-utts", "12", "--nj", "1", "--test-sets", "test"]

    def run(*args):
        return rt.run(["bash", str(recipe), *dirs, *args], cwd=tmp_path, env=rt.env())

    r = run("--stop-stage", "1")
    assert r.returncode == 0, r.stdout + r.stderr
    for s in ("train", "dev", "test", "real_smoke"):  # real_smoke is written too, only not used here
        assert validate_data_dir(tmp_path / "data" / s) == []
    assert not (tmp_path / "dump").exists()
    stamp = {p: p.stat().st_mtime_ns for p in (tmp_path / "data").rglob("*") if p.is_file()}

    r = run("--stage", "2", "--stop-stage", "2")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "stage 1 (data)" not in r.stdout  # continued at 2, did not redo the data
    assert (tmp_path / "exp/stages/stage2_features.done").exists()
    feats = tmp_path / "data" / "train" / "feats.scp"
    assert feats.is_file() and len(feats.read_text().splitlines()) == len(
        (tmp_path / "data" / "train" / "wav.scp").read_text().splitlines())
    assert (tmp_path / "exp/log/stage2_features.log").is_file()

    r = run("--stop-stage", "2")
    assert r.returncode == 0, r.stdout + r.stderr
    for n, name in ((0, "download"), (1, "data"), (2, "features")):
        assert f"stage {n} ({name}): done already" in r.stdout
    assert "started" not in r.stdout
    assert all(p.stat().st_mtime_ns == t for p, t in stamp.items() if p.name != "feats.scp")
