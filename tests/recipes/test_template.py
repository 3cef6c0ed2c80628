"""recipes/template.sh: --stage/--stop-stage, .done markers, --force, failed stages, logs, options.

Uses a throw-away recipe whose stages only append to a trace file, so the bookkeeping is tested without
the cost of real stages (the real recipes are exercised in test_mini_tts_recipe.py / test_librispeech.py).
"""

from __future__ import annotations

import pytest

STAGE = '''
knob fail_{name} false "make stage {name} fail"
knob {name}_dir '$expdir/{name}_out' "where {name} writes"
stage_{name}() {{
  echo "{name} running with nj=$nj greeting=$greeting dir=${name}_dir" >> "$trace"
  echo "output of {name}"
  if [ "$fail_{name}" = true ]; then echo "{name} breaks" >&2; false; echo "not reached" >> "$trace"; fi
}}
'''

RUN_SH = '''#!/usr/bin/env bash
set -euo pipefail
cd "$(dirname "${{BASH_SOURCE[0]}}")"
AUDIOCL_ROOT={root}
stage_dir=$PWD/stages
trace=$PWD/trace.txt
greeting=hello
help_message="Usage: $0 [options]  (toy recipe)"
. "$AUDIOCL_ROOT/recipes/template.sh"
'''


@pytest.fixture
def toy(rt, tmp_path):
    (tmp_path / "stages").mkdir()
    for num, name in [(0, "download"), (1, "data"), (2, "features"), (3, "pretrain")]:
        (tmp_path / "stages" / f"{num:02d}_{name}.sh").write_text(STAGE.format(name=name))
    (tmp_path / "run.sh").write_text(RUN_SH.format(root=rt.repo))

    def run(*args: str):
        return rt.run(["bash", str(tmp_path / "run.sh"), *args], cwd=tmp_path, env=rt.env())

    return run


def _trace(tmp_path) -> list[str]:
    path = tmp_path / "trace.txt"
    return [line.split()[0] for line in path.read_text().splitlines()] if path.exists() else []


def test_stop_stage_then_continue_then_second_run_skips(toy, tmp_path):
    r = toy("--stop-stage", "1")
    assert r.returncode == 0, r.stderr
    assert _trace(tmp_path) == ["download", "data"]
    assert sorted(p.name for p in (tmp_path / "exp/stages").iterdir()) == ["stage0_download.done", "stage1_data.done"]

    r = toy("--stage", "2")
    assert r.returncode == 0, r.stderr
    assert _trace(tmp_path) == ["download", "data", "features", "pretrain"]

    r = toy()  # a second full run: everything is done
    assert r.returncode == 0, r.stderr
    assert _trace(tmp_path) == ["download", "data", "features", "pretrain"]
    assert r.stdout.count("skipping") == 4


def test_each_stage_has_a_log_under_exp(toy, tmp_path):
    assert toy("--stop-stage", "1").returncode == 0
    log = (tmp_path / "exp/log/stage1_data.log").read_text()
    assert "output of data" in log
    assert "output of download" in (tmp_path / "exp/log/stage0_download.log").read_text()


def test_force_reruns_and_invalidates_later_stages(toy, tmp_path):
    assert toy().returncode == 0
    r = toy("--stage", "1", "--stop-stage", "1", "--force", "true")
    assert r.returncode == 0, r.stderr
    assert _trace(tmp_path)[-1] == "data" and len(_trace(tmp_path)) == 5
    done = sorted(p.name for p in (tmp_path / "exp/stages").iterdir())
    assert done == ["stage0_download.done", "stage1_data.done"]  # 2 and 3 depend on 1: redone next time
    assert toy().returncode == 0
    assert _trace(tmp_path)[-2:] == ["features", "pretrain"]


def test_failed_stage_leaves_no_marker_and_stops_the_run(toy, tmp_path):
    r = toy("--fail-features", "true")
    assert r.returncode != 0
    assert "stage 2 (features): FAILED" in r.stderr and "stage2_features.log" in r.stderr
    assert _trace(tmp_path) == ["download", "data", "features"]  # set -e stopped it; pretrain never ran
    assert not (tmp_path / "exp/stages/stage2_features.done").exists()
    assert "features breaks" in (tmp_path / "exp/log/stage2_features.log").read_text()
    # A forced re-run that fails removes the old marker too.
    assert toy("--stage", "2").returncode == 0
    assert (tmp_path / "exp/stages/stage2_features.done").exists()
    assert toy("--stage", "2", "--force", "true", "--fail-features", "true").returncode != 0
    assert not (tmp_path / "exp/stages/stage2_features.done").exists()


def test_options_reach_stages_and_bad_options_fail(toy, tmp_path):
    r = toy("--stage", "3", "--nj", "7", "--greeting", "hi there")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "trace.txt").read_text() == "pretrain running with nj=7 greeting=hi there dir=exp/pretrain_out\n"
    r = toy("--no-such-knob", "1")
    assert r.returncode == 1 and "--no-such-knob" in r.stderr
    r = toy("--stage", "two")
    assert r.returncode == 1 and "--stage must be a non-negative integer" in r.stderr
    r = toy("positional")
    assert r.returncode == 1 and "unexpected argument 'positional'" in r.stderr


def test_help_lists_recipe_and_shared_options_and_stages(toy):
    r = toy("--help")
    assert r.returncode == 0
    assert "(toy recipe)" in r.stdout and "--stop-stage N" in r.stdout
    assert "0=download 1=data 2=features 3=pretrain" in r.stdout
    assert "--features-dir" in r.stdout and "(default: 'exp/features_out')" in r.stdout
    assert "Stage 2 (features)" in r.stdout and "where features writes" in r.stdout
    assert "--gpu-cmd" in r.stdout and "--fail-data true|false" in r.stdout


def test_skipped_stage_done_with_other_options_is_flagged(toy, tmp_path):
    assert toy("--stop-stage", "0", "--greeting", "a").returncode == 0
    r = toy("--stop-stage", "0", "--greeting", "a", "--nj", "3")  # run control differs only: no warning
    assert r.returncode == 0 and "WARNING" not in r.stdout
    r = toy("--stop-stage", "0", "--greeting", "b")
    assert r.returncode == 0 and _trace(tmp_path) == ["download"]
    assert "WARNING: stage 0 (download) was done with options '--greeting a', this run has '--greeting b'" in r.stdout


def test_stage_knob_defaults_follow_parsed_options(toy, tmp_path):
    # pretrain_dir defaults to "$expdir/pretrain_out": it must follow --expdir, and --pretrain-dir still wins.
    r = toy("--stage", "3", "--expdir", "other", "--features-dir", "mine")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "trace.txt").read_text().split()[-1] == "dir=other/pretrain_out"
    r = toy("--stage", "2", "--expdir", "third", "--features-dir", "mine")
    assert (tmp_path / "trace.txt").read_text().splitlines()[-2].split()[-1] == "dir=mine"


def test_explicit_option_equal_to_the_default_is_kept(toy, tmp_path):
    # --pretrain-dir given on the command line is kept even when it equals the default of another --expdir.
    r = toy("--stage", "3", "--expdir", "other", "--pretrain-dir", "exp/pretrain_out")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "trace.txt").read_text().split()[-1] == "dir=exp/pretrain_out"


def test_config_file_sets_knobs_and_defaults_follow_it(toy, tmp_path):
    (tmp_path / "my.conf").write_text("expdir=fromconf\ngreeting=conf\n")
    r = toy("--stage", "3", "--config", str(tmp_path / "my.conf"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "trace.txt").read_text() == "pretrain running with nj=4 greeting=conf dir=fromconf/pretrain_out\n"


def test_unknown_option_and_bad_boolean_are_clear_errors(toy, tmp_path):
    r = toy("--pretrain-dri", "x")
    assert r.returncode == 1 and "unknown option --pretrain-dri" in r.stderr and "see --help" in r.stderr
    r = toy("--fail-data", "yes")
    assert r.returncode == 1 and "option --fail-data expects true or false, got 'yes'" in r.stderr
    assert not (tmp_path / "trace.txt").exists()


def test_knob_declared_twice_or_malformed_is_an_error_naming_the_files(toy, tmp_path):
    (tmp_path / "stages" / "04_extra.sh").write_text(
        "knob pretrain_dir x 'again'\nstage_extra() { :; }\n")
    r = toy("--stop-stage", "0")
    assert r.returncode == 1
    assert "knob 'pretrain_dir' is declared twice" in r.stderr
    assert "03_pretrain.sh" in r.stderr and "04_extra.sh" in r.stderr
    (tmp_path / "stages" / "04_extra.sh").write_text("knob Extra x 'bad name'\nstage_extra() { :; }\n")
    r = toy("--stop-stage", "0")
    assert r.returncode == 1 and "04_extra.sh: knob name 'Extra'" in r.stderr
    (tmp_path / "stages" / "04_extra.sh").write_text("knob extra_opt x\nstage_extra() { :; }\n")
    r = toy("--stop-stage", "0")
    assert r.returncode == 1 and "04_extra.sh: usage: knob NAME DEFAULT" in r.stderr
    assert not (tmp_path / "trace.txt").exists()


def test_stage_files_are_sourced_once(toy, tmp_path):
    # Declaring knobs is the stage file's only side effect at load time, so loading it once is enough.
    (tmp_path / "stages" / "04_count.sh").write_text('echo loaded >> "$trace"\nstage_count() { :; }\n')
    assert toy("--stage", "4").returncode == 0
    assert (tmp_path / "trace.txt").read_text() == "loaded\n"
