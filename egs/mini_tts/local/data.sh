#!/usr/bin/env bash
# local/data.sh — synthesize the mini_tts corpus into Kaldi data dirs <datadir>/{train,dev,test,real_smoke}.
# Usage: local/data.sh [--num-utts N] [--seed S] [--nj N] <datadir>
set -euo pipefail
num_utts=120
seed=0
nj=2
help_message="Usage: $0 [--num-utts N] [--seed S] [--nj N] <datadir>"
. "${AUDIOCL_ROOT:?source path.sh first}/recipes/utils/parse_options.sh" || exit 1
if [ $# -ne 1 ]; then echo "$help_message" >&2; exit 1; fi
audiocl prepare-mini-tts --out "$1" --num-utts "$num_utts" --seed "$seed" --nj "$nj"
