#!/usr/bin/env bash
# egs/mini_tts/run.sh — the offline recipe: a multi-voice English corpus synthesized with espeak-ng and flite
# (plus real LibriVox utterances from Debian's pocketsphinx-testdata as data/real_smoke), so everything runs
# without downloads. Usage (from anywhere):
#   bash egs/mini_tts/run.sh                         # all stages
#   bash egs/mini_tts/run.sh --stop-stage 1          # data only; then --stage 2 continues
#   bash egs/mini_tts/run.sh --num-utts 600 --nj 8   # a bigger corpus
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
. ./path.sh
. ./cmd.sh

# Corpus knobs (each is an option: --num-utts N, --seed S).
num_utts=120        # utterances over train/dev/test; small so `make demo` stays fast
seed=0              # synthesis is deterministic for a seed
train_set=train
dev_set=dev
test_sets="test real_smoke"
nj=2                # parallel jobs (2 cores is the common laptop case)

help_message="Usage: $0 [options]
mini_tts: offline synthesized speech corpus (espeak-ng + flite voices, prosody styles) + real_smoke.
Corpus options:
  --num-utts N          utterances over train/dev/test (default: $num_utts)
  --seed S              synthesis seed (default: $seed)"

corpus_data() {
  local/data.sh --num-utts "$num_utts" --seed "$seed" --nj "$nj" "$datadir"
}

. "$AUDIOCL_ROOT/recipes/template.sh"
