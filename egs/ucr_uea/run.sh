#!/usr/bin/env bash
# egs/ucr_uea/run.sh — time-series contrastive learning (TS2Vec objective, with and without Dynamic Bad Pair
# Mining) on the UCR/UEA classification sets that ship inside the sktime wheel (no download). Thin: each
# stage is one Python call; the logic is in audiocl/ts/recipe.py and audiocl/ts/dbpm_experiment.py.
#   bash egs/ucr_uea/run.sh                                   # all stages, 5 seeds, all shipped sets
#   bash egs/ucr_uea/run.sh --seeds "0 1" --datasets "GunPoint ArrowHead" --stage 3 --stop-stage 3
#   bash egs/ucr_uea/run.sh --overrides "iters=50 encoder.depth=4"   # smaller / faster runs
# Stages: 1 data check   3 pretrain + evaluate (TS2Vec SVM protocol + linear probe; resumable per run)
#         6 DBPM on data with a known fraction of corrupted positive pairs   7 collect RESULTS.md
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
. ./path.sh

stage=1
stop_stage=7
force=false
expdir=exp
datasets="ItalyPowerDemand JapaneseVowels GunPoint BasicMotions ArrowHead OSULeaf ACSF1 PLAID"
seeds="0 1 2 3 4"
dbpm=both                        # off | on | both
overrides="num_threads=1"        # TSContrastiveConfig key=value overrides (see configs/ts/ts2vec.yaml)
corrupt_specs=conf/dbpm_corrupt.txt   # one experiment per line: dataset mode fraction tag overrides...
corrupt_seeds="0 1 2"

help_message="Usage: $0 [options]
  --stage N --stop-stage M    stages to run (1 check, 3 pretrain+evaluate, 6 DBPM corruption experiment, 7 RESULTS.md)
  --datasets \"A B\"            sktime-shipped sets (default: $datasets)
  --seeds \"0 1\"               seeds (default: $seeds)
  --dbpm off|on|both          train without / with DBPM (default: $dbpm)
  --overrides \"k=v ...\"       model config overrides (default: $overrides)
  --force true                re-run stages that have a .done marker"
. "$AUDIOCL_ROOT/recipes/utils/parse_options.sh"

mkdir -p "$expdir/log" "$expdir/stages"
run_stage() {  # run_stage N name command...: skip when done, log to exp/log, mark when finished
  local n=$1 name=$2; shift 2
  local marker="$expdir/stages/stage${n}_${name}.done"
  if [ "$n" -lt "$stage" ] || [ "$n" -gt "$stop_stage" ]; then return 0; fi
  if [ -f "$marker" ] && [ "$force" != true ]; then echo "stage $n ($name): done, skipping"; return 0; fi
  echo "stage $n ($name): $*"
  "$@" 2>&1 | tee "$expdir/log/stage${n}_${name}.log"
  touch "$marker"
}

# shellcheck disable=SC2086
run_stage 1 check python -m audiocl.ts.recipe check --datasets $datasets
# shellcheck disable=SC2086
run_stage 3 pretrain_eval python -m audiocl.ts.recipe run --exp "$expdir" --datasets $datasets --seeds $seeds \
  --dbpm "$dbpm" -- $overrides
corrupt() {
  mkdir -p "$expdir/dbpm_corrupt"
  grep -v '^#' "$corrupt_specs" | while read -r ds mode fraction tag ovr; do
    [ -n "$ds" ] || continue
    # shellcheck disable=SC2086
    python -m audiocl.ts.dbpm_experiment --dataset "$ds" --fraction "$fraction" --mode "$mode" --tag "$tag" \
      --seeds $corrupt_seeds --out "$expdir/dbpm_corrupt" -- $ovr < /dev/null
  done
}
run_stage 6 dbpm_corrupt corrupt
run_stage 7 results python -m audiocl.ts.recipe collect --exp "$expdir" --out RESULTS.md --note conf/results_note.md \
  --dbpm-dir "$expdir/dbpm_corrupt"
