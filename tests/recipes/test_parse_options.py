"""recipes/utils/parse_options.sh: Kaldi semantics, no eval, clear errors."""

from __future__ import annotations

import pytest


SCRIPT = r'''
set -euo pipefail
stage=0
stop_stage=100
train_set=train
use_gpu=false
help_message="Usage: demo.sh [options] <dir>"
. "{utils}/parse_options.sh" || exit 1
printf 'stage=%s\nstop_stage=%s\ntrain_set=%s\nuse_gpu=%s\nrest=%s\n' "$stage" "$stop_stage" "$train_set" "$use_gpu" "$*"
'''


@pytest.fixture
def run_demo(rt, tmp_path):
    script = tmp_path / "demo.sh"
    script.write_text(SCRIPT.replace("{utils}", str(rt.utils)))
    return lambda *args: rt.run(["bash", str(script), *args], cwd=tmp_path)


def _values(out: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in out.splitlines())


def test_dashes_map_to_underscores_and_positionals_remain(run_demo, tmp_path):
    r = run_demo("--stage", "3", "--stop-stage", "5", "--train_set=train clean", "data/x", "--not-an-option")
    assert r.returncode == 0, r.stderr
    v = _values(r.stdout)
    assert v == {"stage": "3", "stop_stage": "5", "train_set": "train clean", "use_gpu": "false",
                 "rest": "data/x --not-an-option"}


def test_unknown_option_is_an_error_naming_it(run_demo, tmp_path):
    r = run_demo("--stage", "1", "--num-epochs", "3")
    assert r.returncode == 1
    assert "--num-epochs" in r.stderr and "num_epochs" in r.stderr
    assert r.stdout == ""


def test_help_prints_help_message_and_exits_zero(run_demo, tmp_path):
    r = run_demo("--stage", "2", "--help")
    assert r.returncode == 0
    assert r.stdout.strip() == "Usage: demo.sh [options] <dir>"


def test_boolean_options_accept_only_true_false(run_demo, tmp_path):
    assert _values(run_demo("--use-gpu", "true").stdout)["use_gpu"] == "true"
    r = run_demo("--use-gpu", "yes")
    assert r.returncode == 1 and "true or false" in r.stderr and "--use-gpu" in r.stderr


def test_missing_value_is_an_error(run_demo, tmp_path):
    r = run_demo("--stage")
    assert r.returncode == 1 and "--stage needs a value" in r.stderr


def test_config_file_is_sourced_and_later_options_override(run_demo, tmp_path):
    conf = tmp_path / "my.conf"
    conf.write_text("stage=7\ntrain_set=from_conf\n")
    v = _values(run_demo("--config", str(conf), "--stage", "9").stdout)
    assert v["stage"] == "9" and v["train_set"] == "from_conf"
    r = run_demo("--config", str(tmp_path / "absent.conf"))
    assert r.returncode == 1 and "absent.conf" in r.stderr


def test_values_are_not_evaluated(run_demo, tmp_path):
    evil = f"$(touch {tmp_path}/pwned); `touch {tmp_path}/pwned2` \"quoted\" 'single'"
    r = run_demo("--train-set", evil)
    assert r.returncode == 0, r.stderr
    assert _values(r.stdout)["train_set"] == evil
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "pwned2").exists()


def test_double_dash_ends_options(run_demo, tmp_path):
    r = run_demo("--stage", "4", "--", "--stop-stage", "1")
    v = _values(r.stdout)
    assert v["stage"] == "4" and v["stop_stage"] == "100" and v["rest"] == "--stop-stage 1"
