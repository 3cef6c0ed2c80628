#!/usr/bin/env bash
# egs/librispeech/run.sh — LibriSpeech (OpenSLR resource 12).
#   stage 0: download the archives of every set the recipe uses (resume + MD5 against the published sums)
#   stage 1: Kaldi data dirs from the LibriSpeech layout, validated
#   stage 2: features; later stages (pretraining, fine-tuning, scoring) come from recipes/stages/.
# `bash egs/librispeech/run.sh --stage 2` means "data is prepared; run the rest".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
. ./path.sh
. ./cmd.sh

# Corpus knobs (each is an option, e.g. --base-url URL).
base_url=https://www.openslr.org/resources/12   # or a mirror
md5_file=""          # md5sum-format file replacing the official checksums (only for repackaged mirrors)
db=db                # archives go here, the corpus to $db/LibriSpeech
train_set=train_clean_100
dev_set=dev_clean
test_sets="test_clean test_other"

help_message="Usage: $0 [options]
LibriSpeech (OpenSLR 12). The parts downloaded are those of the sets (dev_clean -> dev-clean.tar.gz;
train_960 -> the three training parts, combined into one data dir).
Corpus options:
  --base-url URL        where <part>.tar.gz lives (default: $base_url)
  --md5-file FILE       md5sum-format checksums for a mirror with repackaged archives (default: official)
  --db DIR              archives and extracted corpus (default: $db)"

# The data sets name their parts: dev_clean = dev-clean.tar.gz; train_960 and train_clean_460 combine the
# training parts as in Kaldi's egs/librispeech/s5 (audiocl/corpora/librispeech.py: COMBINED_SETS).
corpus_download() {
  local/download.sh --base-url "$base_url" --md5-file "$md5_file" "$db" "$(recipe_sets | tr '\n' ' ')"
}

corpus_data() {
  local/data.sh "$db/LibriSpeech" "$(recipe_sets | tr '\n' ' ')" "$datadir"
}

. "$AUDIOCL_ROOT/recipes/template.sh"
