#!/usr/bin/env bash
# Idempotent set-up used by `make`: Debian packages, then .venv with pinned versions.
# Fast the second time: each step checks before it acts.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(espeak-ng flite sox libsox-fmt-all libsndfile1 pocketsphinx-testdata fluidsynth timgm6mb-soundfont)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

venv=${VENV:-.venv}
if [ ! -x "$venv/bin/python" ]; then
  echo "setup: creating $venv"
  python3 -m venv "$venv"
fi
stamp="$venv/.audiocl-installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ constraints.txt -nt "$stamp" ]; then
  echo "setup: installing audiocl and pinned dependencies into $venv"
  "$venv/bin/python" -m pip install -q --upgrade pip
  "$venv/bin/python" -m pip install -q -c constraints.txt -e ".[dev]"
  touch "$stamp"
fi
