"""egs/ucr_uea/run.sh end to end on one tiny configuration: every stage is one `audiocl ts-*` call, the heavy
stages (3 pretrain, 6 dbpm) go through --cmd (here slurm.pl against the stand-in sbatch of tests/recipes),
and stage 7 writes the tables with the commands that reproduce them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FAKE_SLURM = REPO / "tests" / "recipes" / "fake_slurm"
TINY = "num_threads=1 iters=2 encoder.depth=1 encoder.hidden=4 encoder.repr_dim=8"


def test_recipe_stages_run_through_cmd(tmp_path):
    specs = tmp_path / "specs.txt"
    specs.write_text("# dataset mode fraction tag overrides...\n"
                     f"ItalyPowerDemand noise 0.2 _tiny {TINY} dbpm_cfg.warmup_epochs=1\n")
    env = dict(os.environ, PATH=os.pathsep.join([str(FAKE_SLURM), str(Path(sys.executable).parent), os.environ["PATH"]]),
               AUDIOCL_PYTHON=sys.executable, FAKE_SBATCH_LOG=str(tmp_path / "sbatch.log"), OMP_NUM_THREADS="1")
    exp = tmp_path / "exp"
    proc = subprocess.run(
        ["bash", str(REPO / "egs" / "ucr_uea" / "run.sh"), "--expdir", str(exp), "--cmd", "slurm.pl --mem 1G",
         "--datasets", "ItalyPowerDemand", "--seeds", "0", "--dbpm", "both", "--overrides", TINY,
         "--corrupt-specs", str(specs), "--corrupt-seeds", "0", "--corrupt-arms", "base dbpm"],
        env=env, capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ItalyPowerDemand train: 67 series, length 24-24, 1 channel(s), 2 classes" in proc.stdout  # stage 1

    # stage 3 split its grid over nj=2 array tasks, stage 6 ran one job: all submitted through sbatch
    submitted = (tmp_path / "sbatch.log").read_text()
    assert submitted.count("ARGS wait=") == 2
    assert "#SBATCH --array=1-2" in submitted and "#SBATCH --mem=1G" in submitted
    for arm in ("base", "dbpm"):
        result = json.loads((exp / "ItalyPowerDemand" / arm / "seed0" / "result.json").read_text())
        assert result["iters"] == 2 and 0 <= result["svm_acc"] <= 1
    logs = sorted(p.name for p in (exp / "log").iterdir())
    assert "pretrain.1.log" in logs and "pretrain.2.log" in logs and "dbpm_ItalyPowerDemand_noise_f0.2_tiny.log" in logs
    dbpm = json.loads((exp / "dbpm_corrupt" / "ItalyPowerDemand_noise_f0.2_tiny_seed0.json").read_text())
    assert {"base_svm_acc", "dbpm_svm_acc"} <= set(dbpm)

    # stage 7: generated tables + the commands behind them, inside exp/ by default
    md = (exp / "RESULTS.md").read_text()
    assert "| ItalyPowerDemand | 67 / 1029 | 24 × 1 | 2 |" in md
    assert f"audiocl ts-recipe run --exp {exp} --datasets ItalyPowerDemand --seeds 0 --dbpm both -- {TINY}" in md
    assert "| ItalyPowerDemand | noise | 0.2 |" in md
    assert (f"audiocl ts-dbpm --dataset ItalyPowerDemand --mode noise --fraction 0.2 --seeds 0 --arms base dbpm "
            f"--out {exp / 'dbpm_corrupt'} --tag _tiny -- {TINY} dbpm_cfg.warmup_epochs=1") in md
