#!/usr/bin/env bash
# egs/ucr_uea/run.sh — time-series contrastive learning (TS2Vec, with and without Dynamic Bad Pair Mining;
# SimCLR or TS-TCC with --overrides "method=...") on the UCR/UEA classification sets that ship inside the
# sktime wheel (no download). Thin: the shared stage machinery is recipes/template.sh (ranges, .done markers,
# logs in exp/log), the stages are local/stages/NN_name.sh, each one `audiocl ts-*` call.
#   bash egs/ucr_uea/run.sh                                   # all stages, 5 seeds, all shipped sets
#   bash egs/ucr_uea/run.sh --seeds "0 1" --datasets "GunPoint ArrowHead" --stage 3 --stop-stage 3
#   bash egs/ucr_uea/run.sh --overrides "num_threads=1 iters=50 encoder.depth=4"   # smaller / faster runs
#   bash egs/ucr_uea/run.sh --stage 3 --stop-stage 3 --force true --dbpm off --overrides "num_threads=1 method=ts_tcc"
#   bash egs/ucr_uea/run.sh --stage 7 --results-file RESULTS.md                     # publish the tables
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
. ./path.sh
. ./cmd.sh

stage=1             # there is no download stage: the data ships with sktime
nj=2                # parallel jobs of stage 3 (one torch thread each)
stage_dir=$PWD/local/stages
help_message="Usage: $0 [options]
UCR/UEA time-series classification sets shipped with sktime: pretrain (TS2Vec / SimCLR / TS-TCC, optional
DBPM), evaluate with TS2Vec's SVM protocol and a linear probe, collect RESULTS.md.
Stage numbers are the shared template's; where the work differs:
  1 data      checks the shipped sets (nothing to prepare: no Kaldi data dirs, no features, so no stage 2)
  3 pretrain  pretrains AND evaluates each (dataset, seed, DBPM arm): one result file per run
  6 dbpm      the DBPM experiment on corrupted positive pairs (the template's 6 classifies utterances)
  7 results   RESULTS.md: generated tables and the commands behind them
Every job runs on the CPU: stages 3 and 6 launch with --cmd (--gpu-cmd is not used); 1 and 7 run here."

. "$AUDIOCL_ROOT/recipes/template.sh"
