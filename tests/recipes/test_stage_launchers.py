"""Which launcher runs which stage's jobs: --cmd reaches every stage, --gpu-cmd takes the GPU stages only,
cmd.sh's launchers are defaults that never override the command line.

The recipe (egs/librispeech/run.sh, stages 2-6) runs for real, through the real run.pl / slurm.pl and the
stand-in sbatch, but with a stand-in `audiocl` (tests/recipes/fake_audiocl) that only records its arguments,
so the test checks the plumbing in seconds. The real commands run in test_librispeech_stages.py.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

CPU_JOBS = {"extract_fbank_train", "extract_fbank_dev", "extract_fbank_test",
            "decode_ctc_pretrained_10pct_dev", "decode_ctc_pretrained_10pct_test",
            "decode_ctc_scratch_10pct_dev", "decode_ctc_scratch_10pct_test"}
GPU_JOBS = {"pretrain_wav2vec2", "finetune_ctc_pretrained_10pct", "finetune_ctc_scratch_10pct",
            "classify_style_pretrained_train", "classify_style_fbank_train"}


@pytest.fixture
def recipe(rt, tmp_path):
    """Run egs/librispeech/run.sh --stage 2 --stop-stage 6 on stub data dirs with the stand-in audiocl.

    AUDIOCL_ROOT points at a stand-in checkout whose .venv/bin holds the stand-in audiocl (path.sh puts
    that folder first on PATH, so every job finds it); its recipes/ and configs/ are the repository's.
    """
    root = tmp_path / "root"
    (root / ".venv" / "bin").mkdir(parents=True)
    (root / ".venv" / "bin" / "audiocl").symlink_to(rt.repo / "tests" / "recipes" / "fake_audiocl" / "audiocl")
    for name in ("recipes", "configs"):
        (root / name).symlink_to(rt.repo / name)
    for s in ("train", "dev", "test"):
        d = tmp_path / "data" / s
        d.mkdir(parents=True)
        for f in ("wav.scp", "text", "utt2style"):
            (d / f).write_text("u1 x\n")

    def run(*args: str, expect_ok: bool = True, **env: str):
        sbatch_log, audiocl_log = tmp_path / "sbatch.log", tmp_path / "audiocl.log"
        for f in (sbatch_log, audiocl_log):
            f.unlink(missing_ok=True)
        shutil.rmtree(tmp_path / "exp", ignore_errors=True)
        r = rt.run(["bash", str(rt.repo / "egs" / "librispeech" / "run.sh"), "--stage", "2", "--stop-stage", "6",
                    "--force", "true", "--train-set", "train", "--dev-set", "dev", "--test-sets", "test",
                    "--datadir", str(tmp_path / "data"), "--expdir", str(tmp_path / "exp"),
                    "--dumpdir", str(tmp_path / "dump"), "--nj", "1", *args], cwd=tmp_path,
                   env=rt.env(extra_path=[rt.fake_slurm], AUDIOCL_ROOT=str(root), FAKE_SBATCH_LOG=str(sbatch_log),
                              FAKE_AUDIOCL_LOG=str(audiocl_log), **env))
        if not expect_ok:
            return r
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        text = sbatch_log.read_text() if sbatch_log.exists() else ""
        submitted = re.findall(r"^#SBATCH --job-name=(\S+)$", text, re.M)
        assert len(submitted) == len(set(submitted))
        return r, set(submitted), text, audiocl_log.read_text()

    return run


def _local_jobs(tmp_path: Path) -> set[str]:
    """Jobs that ran through run.pl: a job log in exp/log and no sbatch script in exp/log/q."""
    logs = {p.stem for p in (tmp_path / "exp" / "log").glob("*.log") if not p.stem.startswith("stage")}
    queued = {p.stem for p in (tmp_path / "exp" / "log" / "q").glob("*.sh")}
    return logs - queued


def test_gpu_cmd_takes_the_gpu_stages_only(recipe, tmp_path):
    r, submitted, sbatch, audiocl = recipe("--cmd", "run.pl", "--gpu-cmd", "slurm.pl --gpu 1 --mem 2G")
    assert submitted == GPU_JOBS
    assert sbatch.count("#SBATCH --gres=gpu:1") == len(GPU_JOBS)
    assert _local_jobs(tmp_path) == CPU_JOBS
    assert "cmd: run.pl, gpu-cmd: slurm.pl --gpu 1 --mem 2G" in r.stdout
    for sub in ("extract", "pretrain", "export", "subset-labels", "finetune", "decode", "score", "classify"):
        assert f"audiocl {sub} " in audiocl
    scratch = next(line for line in audiocl.splitlines() if "ctc_scratch_10pct " in line)
    assert "upstream.kind=random model.freeze_finetune_updates=0 model.freeze_feature_encoder=false" in scratch
    # The fbank baseline gets the fbank options stage 2 extracted with (recipes/conf/fbank.conf).
    fbank_conf = (tmp_path / "root" / "recipes" / "conf" / "fbank.conf")
    assert f"audiocl extract {tmp_path}/data/train --out {tmp_path}/dump/fbank/train --type fbank --config {fbank_conf} " in audiocl
    classify_fbank = next(line for line in audiocl.splitlines() if "upstream.kind=fbank" in line)
    assert "upstream.fbank.num_mel_bins=80" in classify_fbank
    assert "upstream.fbank" not in next(line for line in audiocl.splitlines() if "upstream.kind=pretrained" in line)


def test_cmd_reaches_every_stage_even_when_cmd_sh_says_otherwise(recipe, tmp_path):
    # cuda_cmd=run.pl is what cmd.sh used to force on the GPU stages; an explicit --cmd wins over it.
    r, submitted, sbatch, _ = recipe("--cmd", "slurm.pl --mem 1G", cuda_cmd="run.pl", train_cmd="run.pl")
    assert submitted == CPU_JOBS | GPU_JOBS
    assert sbatch.count("#SBATCH --mem=1G") == len(CPU_JOBS | GPU_JOBS) and "--gres" not in sbatch
    assert _local_jobs(tmp_path) == set()


def test_cmd_sh_launchers_are_the_defaults(recipe, tmp_path):
    # No launcher option: cmd.sh's cuda_cmd (here from the environment, which cmd.sh keeps) runs the GPU
    # stages, its train_cmd the others.
    r, submitted, sbatch, _ = recipe(cuda_cmd="slurm.pl --gpu 2", train_cmd="run.pl")
    assert submitted == GPU_JOBS and sbatch.count("#SBATCH --gres=gpu:2") == len(GPU_JOBS)
    assert _local_jobs(tmp_path) == CPU_JOBS
    r, submitted, _, _ = recipe()  # cmd.sh alone: everything here
    assert submitted == set() and _local_jobs(tmp_path) == CPU_JOBS | GPU_JOBS
    assert "cmd: run.pl, gpu-cmd: run.pl" in r.stdout


def test_fbank_conf_reaches_stage_2_and_the_fbank_baseline(recipe, tmp_path):
    conf = tmp_path / "fbank40.conf"
    conf.write_text("# 40 bins, 20 ms windows\n--num-mel-bins=40\n--frame-length=20  # ms\n")
    _, _, _, audiocl = recipe("--fbank-conf", str(conf), "--cls-upstreams", "fbank random")
    extract = [line for line in audiocl.splitlines() if line.startswith("audiocl extract ")]
    assert len(extract) == 3 and all(f"--type fbank --config {conf} " in line for line in extract)
    fbank = next(line for line in audiocl.splitlines() if "upstream.kind=fbank" in line)
    assert "upstream.fbank.num_mel_bins=40 upstream.fbank.frame_length=20 data.train=" in fbank
    assert "upstream.fbank" not in next(line for line in audiocl.splitlines() if "upstream.kind=random" in line)
    # Another feature type: stage 2 gets no fbank options (the baseline then computes its own fbank).
    _, _, _, audiocl = recipe("--fbank-conf", str(conf), "--feature-type", "mfcc")
    assert all("--config" not in line for line in audiocl.splitlines() if line.startswith("audiocl extract "))


def test_missing_fbank_conf_fails_stage_2_naming_it(recipe, tmp_path):
    r = recipe("--fbank-conf", str(tmp_path / "nope.conf"), expect_ok=False)
    assert r.returncode != 0 and "stage 2 (features): FAILED" in r.stderr
    assert f"no fbank options file {tmp_path}/nope.conf (--fbank-conf)" in r.stdout
    assert not (tmp_path / "audiocl.log").exists()  # failed before any job started


def test_pretrained_skips_stage_3_and_stages_4_and_6_start_from_it(recipe, tmp_path):
    ref = "hf:org/tiny-w2v@0123abc"
    r, submitted, _, audiocl = recipe("--stage", "3", "--pretrained", ref, "--cls-upstreams", "pretrained random fbank")
    assert f"stage 3 (pretrain): skipped: --pretrained {ref} is given" in r.stdout
    assert not (tmp_path / "exp" / "stages" / "stage3_pretrain.done").exists()  # a later run without it pretrains
    assert "audiocl pretrain " not in audiocl and "audiocl export " not in audiocl
    finetune = [line for line in audiocl.splitlines() if line.startswith("audiocl finetune ")]
    assert len(finetune) == 2 and all(f" upstream.path={ref} " in line for line in finetune)
    scratch = next(line for line in finetune if "ctc_scratch_10pct " in line)
    assert "upstream.kind=random" in scratch  # the baseline: the same architecture, random weights
    classify = [line for line in audiocl.splitlines() if line.startswith("audiocl classify ")]
    assert {re.search(r"upstream\.kind=(\w+)", line).group(1) for line in classify} == {"pretrained", "random", "fbank"}
    assert all(f" upstream.path={ref} " in line for line in classify)
    assert f"upstream: {ref} (--pretrained)" in (tmp_path / "exp" / "log" / "stage4_finetune.log").read_text()
    assert (tmp_path / "exp" / "stages" / "stage6_classify.done").exists()


def test_a_training_stopped_after_saving_stops_the_recipe_without_a_marker(recipe, tmp_path):
    r = recipe("--gpu-cmd", "slurm.pl --requeue --gpu 1", FAKE_AUDIOCL_STOP="finetune", expect_ok=False)
    assert r.returncode == 138
    assert "stage 4 (finetune): STOPPED by SIGUSR1 (exit 138)" in r.stderr and "FAILED" not in r.stderr
    assert "run the same command again to resume" in r.stderr
    assert "job 1 was stopped by SIGUSR1 at step 5 after saving exp/checkpoints/last.ckpt" in r.stdout
    assert not (tmp_path / "exp" / "stages" / "stage4_finetune.done").exists()
    assert (tmp_path / "exp" / "stages" / "stage3_pretrain.done").exists()
    sbatch = (tmp_path / "sbatch.log").read_text()
    assert "#SBATCH --requeue" in sbatch and "#SBATCH --signal=B:USR1@90" in sbatch
