"""The recipe docs show only options that exist.

Every `--flag` in recipes/stages/README.md, recipes/README.md, the README's "Recipes" section, docs/distributed.md
and egs/*/conf/README.md is checked
against the `--help` of whatever it is an option of: `audiocl <sub>` when it follows that command, a recipe's
run.sh otherwise (egs/<corpus>/run.sh when the line names one, else mini_tts), `audiocl extract` for Kaldi
`--opt=value` lines (fbank.conf). Launcher lines (run.pl / slurm.pl) are left to test_launcher.py.
"""

from __future__ import annotations

import functools
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from audiocl.recipe.jobs import LauncherOptions

REPO = Path(__file__).resolve().parents[2]

DOCS = ["recipes/stages/README.md", "recipes/README.md", "README.md", "docs/distributed.md",
        "egs/mini_tts/conf/README.md", "egs/librispeech/conf/README.md", "egs/iemocap/conf/README.md"]
RECIPES = ("mini_tts", "librispeech", "iemocap")
FLAG = re.compile(r"^--[a-z][a-z0-9-]*")


def _units(text: str) -> list[str]:
    """Lines of fenced code blocks and inline `code` spans of the prose."""
    units, fenced = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
            continue
        if fenced and units and units[-1].endswith("\\"):  # a continued shell line
            units[-1] = units[-1][:-1] + line
        elif fenced:
            units.append(line)
        else:
            units.extend(re.findall(r"`([^`]+)`", line))
    return units


def _recipes_section(text: str) -> str:
    start = text.index("## Recipes")
    return text[start:text.index("\n## ", start + 1)]


def _flags(unit: str) -> list[tuple[str, str]]:
    """``(context, flag)`` pairs: context is ``audiocl SUB``, ``recipe NAME``, ``kaldi-conf``, ``launcher``,
    ``other program`` (sbatch, srun, torchrun: not checked) or ``any recipe`` (a flag in prose or a comment, without a command)."""
    if unit.startswith("#SBATCH"):
        return []
    hash_mark = re.search(r"(^|\s)#", unit)
    code, comment = (unit[:hash_mark.start()], unit[hash_mark.end():]) if hash_mark else (unit, "")
    try:
        tokens = shlex.split(code.replace("\\", ""))
    except ValueError:
        tokens = code.split()
    context, out = "any recipe", []
    if tokens and FLAG.match(tokens[0]) and "=" in tokens[0]:
        return [("kaldi-conf", FLAG.match(t).group()) for t in tokens if FLAG.match(t)]
    for i, tok in enumerate(tokens):
        if m := re.match(r"(?:bash )?egs/([a-z_]+)/run\.sh$", tok):
            context = f"recipe {m.group(1)}"
        elif tok == "audiocl" and i + 1 < len(tokens) and not tokens[i + 1].startswith("-"):
            context = f"audiocl {tokens[i + 1]}"
        elif tok in ("run.pl", "slurm.pl"):
            context = "launcher"
        elif tok in ("sbatch", "srun", "torchrun"):
            context = "other program"
        elif tok == "run.sh":
            context = "recipe mini_tts"
        elif FLAG.match(tok):
            out.append((context, FLAG.match(tok).group()))
    return out + [("any recipe", m.group()) for m in re.finditer(r"(?<![\w-])--[a-z][a-z0-9-]*", comment)]


@functools.lru_cache(maxsize=None)
def _help(context: str, repo: str) -> str:
    kind, _, name = context.partition(" ")
    if kind == "recipe":
        argv = ["bash", f"{repo}/egs/{name}/run.sh", "--help"]
    else:
        argv = [sys.executable, "-m", "audiocl", *(name.split() if kind == "audiocl" else ["extract"]), "--help"]
    r = subprocess.run(argv, capture_output=True, text=True, cwd=repo)
    assert r.returncode == 0, r.stderr
    return r.stdout


def _has(context: str, flag: str, rt) -> bool:
    return bool(re.search(rf"(^|[\s\[,]){re.escape(flag)}([\s=,\]]|$)", _help(context, str(rt.repo)), re.M))


@pytest.mark.parametrize("doc", DOCS)
def test_every_flag_shown_exists(doc, rt):
    text = (rt.repo / doc).read_text()
    if doc == "README.md":
        text = _recipes_section(text)
    launcher_flags = {"--" + f.replace("_", "-") for f in LauncherOptions.__dataclass_fields__}
    missing, checked = [], 0
    for unit in _units(text):
        for context, flag in _flags(unit):
            checked += 1
            if context == "launcher":
                ok = flag in launcher_flags
            elif context == "other program" or flag == "--help":
                ok = True
            elif context == "any recipe":
                ok = flag in launcher_flags or any(_has(f"recipe {r}", flag, rt) for r in RECIPES)
            else:
                ok = _has(context, flag, rt)
            if not ok:
                missing.append(f"{flag} ({context}) in: {unit.strip()}")
    assert checked >= 1, f"{doc}: found no flag; is the parser broken?"
    assert not missing, f"{doc} shows options that do not exist:\n" + "\n".join(missing)


def test_the_checker_catches_a_made_up_flag(rt):
    assert _flags("bash egs/librispeech/run.sh --stage 3 --cmd 'slurm.pl --gpu 1'") == [
        ("recipe librispeech", "--stage"), ("recipe librispeech", "--cmd")]
    assert _flags("audiocl extract data/x --type fbank") == [("audiocl extract", "--type")]
    assert _flags("--expdir DIR") == [("any recipe", "--expdir")]
    assert _has("recipe librispeech", "--base-url", rt) and not _has("recipe mini_tts", "--base-url", rt)
    assert not _has("recipe mini_tts", "--pretrain-config", rt)  # what the stages README used to show


@pytest.mark.parametrize("recipe", sorted(p.parent.name for p in (REPO / "egs").glob("*/run.sh")))
def test_recipe_help_lists_every_option(recipe, rt):
    """Every variable run.sh defines before the template (its corpus knobs and presets) and every knob its
    stages declare is listed by --help, so --help is the full list of what the command line accepts."""
    run_sh = (rt.repo / "egs" / recipe / "run.sh").read_text()
    names = set(re.findall(r"^([a-z][a-z0-9_]*)=", run_sh.split('. "$AUDIOCL_ROOT/recipes/template.sh"')[0], re.M))
    names -= {"help_message", "stage_dir"}
    own = re.search(r"^stage_dir=\$PWD/(\S+)", run_sh, re.M)
    stage_dir = rt.repo / "egs" / recipe / own.group(1) if own else rt.repo / "recipes" / "stages"
    for stage in stage_dir.glob("[0-9][0-9]_*.sh"):
        names |= set(re.findall(r"^knob ([a-z][a-z0-9_]*) ", stage.read_text(), re.M))
    assert "stage" in names or len(names) > 3
    unlisted = sorted(n for n in names if not _has(f"recipe {recipe}", "--" + n.replace("_", "-"), rt))
    assert not unlisted, f"egs/{recipe}/run.sh --help does not list: {unlisted}"
