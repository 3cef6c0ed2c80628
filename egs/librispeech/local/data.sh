#!/usr/bin/env bash
# local/data.sh — Kaldi data dirs from the LibriSpeech layout: <datadir>/<set>.
# Usage: local/data.sh <LibriSpeech-dir> "<set> <set> ..." <datadir>   (e.g. "train_960 dev_clean")
set -euo pipefail
help_message="Usage: $0 <LibriSpeech-dir> \"<set> ...\" <datadir>"
. "${AUDIOCL_ROOT:?source path.sh first}/recipes/utils/parse_options.sh" || exit 1
if [ $# -ne 3 ]; then echo "$help_message" >&2; exit 1; fi
audiocl prepare-librispeech --corpus-dir "$1" --sets "$2" --out "$3"
