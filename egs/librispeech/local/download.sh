#!/usr/bin/env bash
# local/download.sh — download, MD5-verify and extract LibriSpeech parts (resumes interrupted downloads).
# Usage: local/download.sh [--base-url URL] [--md5-file FILE] <db-dir> "<set> <set> ..."   (e.g. "train_960 dev_clean")
set -euo pipefail
base_url=https://www.openslr.org/resources/12
md5_file=""
help_message="Usage: $0 [--base-url URL] [--md5-file FILE] <db-dir> \"<set> ...\""
. "${AUDIOCL_ROOT:?source path.sh first}/recipes/utils/parse_options.sh" || exit 1
if [ $# -ne 2 ]; then echo "$help_message" >&2; exit 1; fi
audiocl download-librispeech --dest "$1" --sets "$2" --base-url "$base_url" ${md5_file:+--md5-file "$md5_file"}
