"""Helpers for the recipe tests: run bash snippets and recipe scripts with the repository's tools on PATH."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import hashlib
import io
import tarfile

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
    md5 = staticmethod(lambda data: md5_hex(data))


@pytest.fixture
def rt() -> RecipeTools:
    return RecipeTools()


# ------------------------------------------------------------------ a local HTTP server for downloads


@pytest.fixture
def file_server(http_server_class):
    """A threaded HTTP server on 127.0.0.1 (random port), stopped when the test ends."""
    server = http_server_class().start()
    yield server
    server.stop()


WORDS = ["HELLO", "WORLD", "SPEECH", "CONTRASTIVE", "AUDIO", "TONE", "TEST", "DATA"]


@pytest.fixture
def make_librispeech_tgz(tmp_path, write_tone):
    """Factory: a LibriSpeech-layout ``<part>.tar.gz`` (bytes) from synthesized tones, plus its transcripts.

    Layout: LibriSpeech/{SPEAKERS.TXT,<part>/<spk>/<chapter>/{<spk>-<chapter>-NNNN.flac,<spk>-<chapter>.trans.txt}}
    """

    def make(part: str = "dev-clean", speakers=(("1272", "128104"), ("84", "121123")), utts: int = 2,
             seconds: float = 0.4) -> tuple[bytes, dict[str, str]]:
        root = tmp_path / f"build-{part}"
        texts: dict[str, str] = {}
        for s_i, (spk, chapter) in enumerate(speakers):
            chap_dir = root / "LibriSpeech" / part / spk / chapter
            lines = []
            for u in range(utts):
                utt = f"{spk}-{chapter}-{u:04d}"
                write_tone(str((chap_dir / f"{utt}.flac").relative_to(tmp_path)), seconds=seconds,
                           seed=10 * s_i + u)
                words = " ".join(WORDS[(s_i + u + k) % len(WORDS)] for k in range(3))
                lines.append(f"{utt} {words}")
                texts[utt] = words
            (chap_dir / f"{spk}-{chapter}.trans.txt").write_text("\n".join(lines) + "\n")
        (root / "LibriSpeech" / "SPEAKERS.TXT").write_text(
            "; ID |SEX| SUBSET | MINUTES | NAME\n"
            + "".join(f"{spk:<4} | {'F' if i % 2 else 'M'} | {part} | 8.0 | Reader {i}\n"
                      for i, (spk, _) in enumerate(speakers)))
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            tar.add(root / "LibriSpeech", arcname="LibriSpeech")
        return buf.getvalue(), texts

    return make


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()  # noqa: S324
