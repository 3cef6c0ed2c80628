#!/usr/bin/env bash
# local/data.sh — Kaldi data dirs from the LibriSpeech layout: <datadir>/<part_with_underscores>.
# Usage: local/data.sh <LibriSpeech-dir> "<part> <part> ..." <datadir>
set -euo pipefail
help_message="Usage: $0 <LibriSpeech-dir> \"<part> ...\" <datadir>"
. "${AUDIOCL_ROOT:?source path.sh first}/recipes/utils/parse_options.sh" || exit 1
if [ $# -ne 3 ]; then echo "$help_message" >&2; exit 1; fi
audiocl prepare-librispeech --corpus-dir "$1" --parts "$2" --out "$3"
