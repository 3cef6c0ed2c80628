"""The committed results files: links resolve, and no machine paths (a reader's clone has none of them)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FILES = sorted([*REPO.glob("docs/experiments/*.md"), *REPO.glob("benchmarks/results/*.md"),
                REPO / "egs" / "mini_tts" / "RESULTS.md"])
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
MACHINE_PATH = re.compile(r"(?<![\w.])/(?:tmp|work|home|root|scratch)/")


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_resolve_and_no_machine_paths(path):
    text = path.read_text(encoding="utf-8")
    missing = [t for t in LINK.findall(text) if "://" not in t and not (path.parent / t).exists()]
    assert not missing, f"{path}: links to missing files {missing}"
    assert not MACHINE_PATH.findall(text), f"{path}: names a machine path"
