#!/usr/bin/env bash
# run.pl — run JOB=1:N jobs on this machine, Kaldi style (a bash wrapper, not Perl; the name is for Kaldi users).
#   run.pl [--max-jobs-run N] JOB=1:N exp/log/name.JOB.log COMMAND [ARGS with JOB...]
# Logic and documentation: audiocl/recipe/launcher.py
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# Python: $AUDIOCL_PYTHON, else the repository's .venv, else python3 on PATH; the repo is importable either way.
py=${AUDIOCL_PYTHON:-}
if [ -z "$py" ]; then
  if [ -x "$root/.venv/bin/python" ]; then py=$root/.venv/bin/python; else py=python3; fi
fi
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
exec "$py" -m audiocl.recipe.launcher local "$@"
