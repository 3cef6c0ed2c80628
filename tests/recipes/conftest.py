"""Helpers for the recipe tests: run bash snippets and recipe scripts with the repository's tools on PATH."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UTILS = REPO / "recipes" / "utils"
FAKE_SLURM = Path(__file__).resolve().parent / "fake_slurm"


def recipe_env(extra_path: list[Path] | None = None, **overrides: str) -> dict[str, str]:
    env = dict(os.environ)
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([*(str(p) for p in (extra_path or [])), str(UTILS), venv_bin, env.get("PATH", "")])
    env["AUDIOCL_PYTHON"] = sys.executable
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["LC_ALL"] = "C"
    env.update(overrides)
    return env


def run_bash(script: str | list[str], cwd: Path, env: dict[str, str] | None = None, stdin: str | None = None):
    """Run ``bash -c script`` (or an argv list) and return the CompletedProcess (text, both streams)."""
    argv = ["bash", "-c", script] if isinstance(script, str) else script
    return subprocess.run(argv, cwd=cwd, env=env or recipe_env(), capture_output=True, text=True, input=stdin)


class RecipeTools:
    """What the recipe tests need, as one fixture (``--import-mode=importlib`` cannot import conftest)."""

    repo = REPO
    utils = UTILS
    fake_slurm = FAKE_SLURM
    env = staticmethod(recipe_env)
    run = staticmethod(run_bash)


@pytest.fixture
def rt() -> RecipeTools:
    return RecipeTools()
