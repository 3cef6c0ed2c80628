# path.sh — environment of the recipe: the audiocl checkout, its .venv and the Kaldi-style utilities.
AUDIOCL_ROOT=${AUDIOCL_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
export AUDIOCL_ROOT
if [ -d "$AUDIOCL_ROOT/.venv/bin" ]; then
  export PATH="$AUDIOCL_ROOT/.venv/bin:$PATH"
fi
export PATH="$AUDIOCL_ROOT/recipes/utils:$PATH"
export PYTHONPATH="$AUDIOCL_ROOT${PYTHONPATH:+:$PYTHONPATH}"
export LC_ALL=C
export PYTHONUNBUFFERED=1
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}   # small models: one thread per job is fastest on shared CPUs
