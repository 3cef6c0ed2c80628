"""The mini_clap recipe is hosted by the shared template: its stages and options are listed, bad ones refused."""

from __future__ import annotations

import subprocess
from pathlib import Path

RUN = Path(__file__).resolve().parents[2] / "egs" / "mini_clap" / "run.sh"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(RUN), *args], capture_output=True, text=True)


def test_help_lists_the_clap_stages_and_knobs():
    out = _run("--help")
    text = out.stdout + out.stderr
    assert "Stages: 1=data 3=train 5=evaluate 7=results 8=objectives" in text
    for option in ("--clap-config", "--clap-tag", "--clap-num-seeds", "--clap-objectives", "--results-file"):
        assert option in text
    assert "(default: '7')" in text  # the objective table runs only on request


def test_unknown_option_is_refused():
    out = _run("--clap-seeds", "2", "--stage", "99")
    assert out.returncode != 0
    assert "clap-seeds" in out.stderr
