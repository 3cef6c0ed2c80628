#!/usr/bin/env bash
# local/data.sh — render the mini_clap scene corpus into Kaldi data dirs <datadir>/{train,dev,test}.
# Usage: local/data.sh [--data-config conf/data.yaml] [--seed S] <datadir>
# Re-running renders only missing clips; a finished split (its .done marker) is skipped.
set -euo pipefail
data_config=conf/data.yaml
seed=0
help_message="Usage: $0 [--data-config conf/data.yaml] [--seed S] <datadir>"
. "${AUDIOCL_ROOT:?source path.sh first}/recipes/utils/parse_options.sh" || exit 1
if [ $# -ne 1 ]; then echo "$help_message" >&2; exit 1; fi
audiocl prepare-mini-clap --out "$1" --config "$data_config" --seed "$seed"
