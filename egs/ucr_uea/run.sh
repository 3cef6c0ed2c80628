#!/usr/bin/env bash
# egs/ucr_uea/run.sh — time-series contrastive learning (TS2Vec objective with and without Dynamic Bad Pair
# Mining; TS-TCC with --overrides "method=ts_tcc ...") on the UCR/UEA classification sets that ship inside
# the sktime wheel (no download). Thin: the shared stage machinery is recipes/template.sh (ranges, .done
# markers that record the options, logs in exp/log), the stages are local/stages/NN_name.sh, and the logic
# is in audiocl/ts/recipe.py and audiocl/ts/dbpm_experiment.py.
#   bash egs/ucr_uea/run.sh                                   # all stages, 5 seeds, all shipped sets
#   bash egs/ucr_uea/run.sh --seeds "0 1" --datasets "GunPoint ArrowHead" --stage 3 --stop-stage 3
#   bash egs/ucr_uea/run.sh --overrides "num_threads=1 iters=50 encoder.depth=4"   # smaller / faster runs
#   bash egs/ucr_uea/run.sh --stage 3 --stop-stage 3 --force true --dbpm off --overrides "num_threads=1 method=ts_tcc"
# Stages: 1 data check   3 pretrain + evaluate (resumable per run)   6 DBPM on data with a known fraction of
#         corrupted positive pairs   7 collect RESULTS.md            (bash run.sh --help lists every option)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
. ./path.sh

stage=1
stage_dir=$PWD/local/stages
help_message="Usage: $0 [options]
UCR/UEA time-series classification sets shipped with sktime: pretrain (TS2Vec / SimCLR / TS-TCC, optional
DBPM), evaluate with TS2Vec's SVM protocol and a linear probe, collect RESULTS.md."

. "$AUDIOCL_ROOT/recipes/template.sh"
