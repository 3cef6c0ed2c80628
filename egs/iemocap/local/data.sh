#!/usr/bin/env bash
# local/data.sh IEMOCAP_ROOT DATADIR: Kaldi data dirs all, Session<k>, fold<k>_train, fold<k>_test with utt2emo.
set -euo pipefail
if [ $# -ne 2 ]; then echo "usage: $0 IEMOCAP_ROOT DATADIR" >&2; exit 1; fi
audiocl prepare-iemocap --root "$1" --out "$2"
