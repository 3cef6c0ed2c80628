# launcher.sh BACKEND ARGS... — sourced (not run) by run.pl (BACKEND local) and slurm.pl (BACKEND slurm):
# runs audiocl/recipe/launcher.py, where the logic and its documentation live, with
# $AUDIOCL_PYTHON, else the checkout's .venv, else python3 on PATH; the checkout is importable either way.
# `cd -P` resolves egs/<corpus>/utils (a symlink to recipes/utils) to the real folder.
__root=$(cd -P "$__here/../.." && pwd)   # $__here: the folder of run.pl / slurm.pl
__py=${AUDIOCL_PYTHON:-}
if [ -z "$__py" ]; then
  if [ -x "$__root/.venv/bin/python" ]; then __py=$__root/.venv/bin/python; else __py=python3; fi
fi
export PYTHONPATH="$__root${PYTHONPATH:+:$PYTHONPATH}"
exec "$__py" -m audiocl.recipe.launcher "$@"
