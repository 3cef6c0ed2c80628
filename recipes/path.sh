# recipes/path.sh — the environment of every recipe: the audiocl checkout, its .venv and the Kaldi-style
# utilities. Each egs/<corpus>/path.sh sources this file, and so (on a cluster) does every job, so it has
# no side effects beyond exports.
AUDIOCL_ROOT=${AUDIOCL_ROOT:-$(cd -P "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
export AUDIOCL_ROOT
if [ -d "$AUDIOCL_ROOT/.venv/bin" ]; then
  export PATH="$AUDIOCL_ROOT/.venv/bin:$PATH"
fi
export PATH="$AUDIOCL_ROOT/recipes/utils:$PATH"
export PYTHONPATH="$AUDIOCL_ROOT${PYTHONPATH:+:$PYTHONPATH}"
export LC_ALL=C   # Kaldi data dirs are sorted in the C locale
export PYTHONUNBUFFERED=1
