#!/usr/bin/env bash
# egs/mini_clap/run.sh — CLAP audio-text alignment on the offline mini_clap scene corpus (fluidsynth GM
# instruments and percussion, numpy noises/tones/sweeps/beeps, espeak-ng speech; captions with structured
# labels; the test split holds out event combinations and caption templates). Usage (from anywhere):
#   bash egs/mini_clap/run.sh                          # data, training (3 seeds), evaluation, RESULTS.md
#   bash egs/mini_clap/run.sh --stage 8 --stop-stage 8 # the objective comparison table (longer)
#   bash egs/mini_clap/run.sh --clap-opts 'trainer.max_steps=1200' --force true --stage 3
#
# The stages are the shared template's (recipes/template.sh, same numbers and bookkeeping) with CLAP stage
# files from local/clap_stages/: 1 data (the shared stage), 3 train + export, 5 evaluate, 7 RESULTS.md,
# 8 objective table. Stages 2, 4 and 6 of speech recipes do not apply.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
. ./path.sh
. ./cmd.sh

data_config=conf/train_corpus.yaml  # corpus sizes (conf/data.yaml: the larger corpus; conf/data_small.yaml: a quick look)
seed=0                       # corpus seed
stop_stage=7                 # stage 8 (objective table) only on request
nj=3

help_message="Usage: $0 [options]
mini_clap: offline audio-caption scene corpus; CLAP training with any contrastive objective.
Corpus options:
  --data-config FILE    corpus sizes YAML (default: $data_config)
  --seed S              corpus seed (default: $seed)"

corpus_data() {
  local/data.sh --data-config "$data_config" --seed "$seed" "$datadir"
}

stage_dir=$PWD/local/clap_stages
. "$AUDIOCL_ROOT/recipes/template.sh"
