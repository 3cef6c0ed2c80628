#!/usr/bin/env bash
# egs/iemocap/run.sh — emotion recognition on IEMOCAP, 4 classes (neutral, happy+excited, angry, sad),
# leave-one-session-out: 5 folds, each trained on four sessions and tested on the fifth. IEMOCAP is licensed
# (https://sail.usc.edu/iemocap/): there is no download stage; point --iemocap-root at your copy.
#   bash egs/iemocap/run.sh --iemocap-root /data/IEMOCAP_full_release --pretrain-exp ../mini_tts/exp/pretrain
#   bash egs/iemocap/run.sh --iemocap-root /data/IEMOCAP_full_release --pretrained wav2vec2-base-fairseq
# Stages: 1 data (audiocl prepare-iemocap + validation), 6 classification per fold from the frozen pretrained
# upstream and from fbank, 7 RESULTS.md (per-fold and mean UA/WA/macro-F1). CTC stages 4-5 are not run by
# default (--stage 4 --ctc-train-sets all would fine-tune on the IEMOCAP transcripts).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
. ./path.sh
. ./cmd.sh

iemocap_root=           # IEMOCAP_full_release (Session1..Session5)
train_set=all
dev_set=fold1_test      # validated in stage 1 with the other held-out sessions
test_sets="fold1_test fold2_test fold3_test fold4_test fold5_test"
stage=1
cls_label_file=utt2emo
cls_tasks="fold1_train:fold1_test fold2_train:fold2_test fold3_train:fold3_test fold4_train:fold4_test fold5_train:fold5_test"

help_message="Usage: $0 --iemocap-root DIR [options]
IEMOCAP emotion recognition, leave-one-session-out.
Corpus options:
  --iemocap-root DIR    IEMOCAP_full_release folder (default: '$iemocap_root')
The recipe presets train/dev/test sets, --stage 1, --cls-label-file utt2emo and --cls-tasks (one TRAIN:TEST
pair per fold). The upstream: --pretrained REF (a release or checkpoint, 'URL#sha256=HEX', a registry name,
hf:ORG/NAME@REV), or --pretrain-exp DIR (e.g. ../mini_tts/exp/pretrain)."

corpus_data() {
  if [ -z "$iemocap_root" ]; then
    echo "give the IEMOCAP folder: --iemocap-root /path/to/IEMOCAP_full_release" >&2
    return 1
  fi
  local/data.sh "$iemocap_root" "$datadir"
}

. "$AUDIOCL_ROOT/recipes/template.sh"
