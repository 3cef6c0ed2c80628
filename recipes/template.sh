#!/usr/bin/env bash
# recipes/template.sh — the shared numbered stages of every audiocl recipe (ESPnet TEMPLATE style, thin).
#
# A corpus recipe egs/<corpus>/run.sh sets its knobs as shell variables, defines two hooks and SOURCES this
# file (it reads the recipe's "$@"):
#     corpus_download   stage 0 (optional): fetch the corpus
#     corpus_data       stage 1 (required): write Kaldi data dirs under $datadir (usually local/data.sh)
# Every variable defined before parse_options.sh runs is a command-line option: --num-utts 50 sets num_utts.
#
# Stages (numbers shared by all recipes); one file per stage in recipes/stages/NN_name.sh, which defines
# its knobs with `: "${knob:=default}"` and a function stage_<name>. Adding a stage = adding one file.
#     0 download   1 data preparation + validation   2 features   3 SSL pretraining   4 CTC fine-tuning
#     5 decoding + scoring   6 style/emotion classification   7 collect RESULTS.md
#
# Bookkeeping: a finished stage writes $expdir/stages/stageN_name.done and is skipped on the next run
# unless --force true; a stage that fails (or is interrupted) leaves no marker. Running a stage removes
# the markers of the later stages (their inputs changed). Each stage's output goes to
# $expdir/log/stageN_name.log (and the terminal).

if [ -z "${BASH_VERSION:-}" ]; then echo "template.sh: run with bash" >&2; exit 1; fi
set -euo pipefail

# ----------------------------------------------------------------------------------------- generic knobs
: "${AUDIOCL_ROOT:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
: "${stage:=0}"                 # first stage to run
: "${stop_stage:=100}"          # last stage to run
: "${nj:=4}"                    # parallel jobs inside a stage
: "${cmd:=${train_cmd:-run.pl}}"  # job launcher: run.pl (local) or "slurm.pl --mem 4G ..." (see cmd.sh)
: "${force:=false}"             # true: re-run stages even when their .done marker exists
: "${datadir:=data}"            # Kaldi data dirs: $datadir/<set>
: "${expdir:=exp}"              # logs, stage markers, models, results
: "${dumpdir:=dump}"            # features
: "${train_set:=train}"
: "${dev_set:=dev}"
: "${test_sets:=test}"
: "${stage_dir:=$AUDIOCL_ROOT/recipes/stages}"

# Stage files define their knobs (`: "${knob:=default}"`) and functions. They are sourced before the
# command line is parsed (so their knobs are options) and again after it, with every knob the stage files
# introduced and the command line did not change unset first: a default such as "$expdir/pretrain" then
# follows --expdir instead of keeping the value from before parsing.
__vars_before=" $(compgen -v | tr '\n' ' ') "
for __stage_file in "$stage_dir"/[0-9][0-9]_*.sh; do
  [ -e "$__stage_file" ] || continue
  # shellcheck disable=SC1090
  . "$__stage_file"
done
declare -A __stage_knob_default=()
for __v in $(compgen -v); do
  if [[ "$__v" =~ ^[a-z][a-z0-9_]*$ ]] && [[ "$__vars_before" != *" $__v "* ]]; then
    __stage_knob_default[$__v]=${!__v}
  fi
done

help_message="${help_message:-Usage: $0 [options]}

Options shared by all recipes (recipes/template.sh):
  --stage N             first stage to run (default: $stage)
  --stop-stage N        last stage to run (default: $stop_stage)
  --force true|false    re-run stages that are already done (default: $force)
  --nj N                parallel jobs (default: $nj)
  --cmd CMD             job launcher, e.g. run.pl or 'slurm.pl --mem 4G' (default: $cmd)
  --datadir DIR --expdir DIR --dumpdir DIR   where data dirs, logs/models and features go
  --train-set SET --dev-set SET --test-sets 'SET ...'
  --config FILE         source FILE (name=value lines) before the following options
Stages: $(for f in "$stage_dir"/[0-9][0-9]_*.sh; do b=$(basename "$f" .sh); printf '%d=%s ' "$((10#${b%%_*}))" "${b#*_}"; done)
Options of the stages (${stage_dir#$AUDIOCL_ROOT/}/*.sh):
$(for v in $(printf '%s\n' "${!__stage_knob_default[@]}" | LC_ALL=C sort); do
    printf "  --%-22s (default: '%s')\n" "${v//_/-}" "${__stage_knob_default[$v]}"; done)"

# The options that shape results (all but run control), recorded in each marker: a later run with other
# knobs is told that a finished stage it skips was made with different options.
__recipe_knobs() {
  local a skip=false out=""
  for a in "$@"; do
    if $skip; then skip=false; continue; fi
    case "$a" in
      --stage|--stop-stage|--stop_stage|--force|--nj|--cmd) skip=true ;;
      --stage=*|--stop-stage=*|--stop_stage=*|--force=*|--nj=*|--cmd=*) ;;
      *) out+="${out:+ }$a" ;;
    esac
  done
  printf '%s' "$out"
}
__recipe_knobs_now=$(__recipe_knobs "$@")
# shellcheck disable=SC1091
. "$AUDIOCL_ROOT/recipes/utils/parse_options.sh" || exit 1
for __v in "${!__stage_knob_default[@]}"; do
  if [ "${!__v}" = "${__stage_knob_default[$__v]}" ]; then unset -v "$__v"; fi
done
for __stage_file in "$stage_dir"/[0-9][0-9]_*.sh; do  # again: defaults now see the parsed options
  [ -e "$__stage_file" ] || continue
  # shellcheck disable=SC1090
  . "$__stage_file"
done
if [ $# -gt 0 ]; then
  echo "$0: unexpected argument '$1' (options only; see --help)" >&2
  exit 1
fi
for __n in stage stop_stage nj; do
  if ! [[ "${!__n}" =~ ^[0-9]+$ ]]; then echo "$0: --${__n//_/-} must be a non-negative integer, got '${!__n}'" >&2; exit 1; fi
done

# ----------------------------------------------------------------------------------------- helpers
log() { echo "$(date '+%Y-%m-%d %H:%M:%S') ($(basename "$0")) $*"; }

# All data sets the recipe works on: train, dev and tests, each once, in that order.
recipe_sets() {
  local s seen=" "
  for s in $train_set $dev_set $test_sets; do
    case "$seen" in *" $s "*) ;; *) seen="$seen$s "; echo "$s" ;; esac
  done
}

# run_stage NUM NAME FUNCTION: the one place that knows about ranges, markers and logs.
run_stage() {
  local num=$1 name=$2 fn=$3
  if [ "$num" -lt "$stage" ] || [ "$num" -gt "$stop_stage" ]; then return 0; fi
  local tag="stage${num}_${name}"
  local marker="$expdir/stages/$tag.done" logfile="$expdir/log/$tag.log"
  if [ -f "$marker" ] && [ "$force" != true ]; then
    log "stage $num ($name): done already ($marker); skipping (--force true re-runs it)"
    local before
    before=$(sed -n 's/^options: //p' "$marker")
    if [ "$before" != "$__recipe_knobs_now" ]; then
      log "WARNING: stage $num ($name) was done with options '$before', this run has '$__recipe_knobs_now';" \
        "its results do not reflect the new options unless you add --force true"
    fi
    return 0
  fi
  mkdir -p "$expdir/stages" "$expdir/log"
  rm -f "$marker"
  local later
  for later in "$expdir"/stages/stage*.done; do
    [ -e "$later" ] || continue
    local n=${later##*/stage}; n=${n%%_*}
    if [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -gt "$num" ]; then
      log "stage $num ($name) runs again, so stage $n is no longer up to date: removing $later"
      rm -f "$later"
    fi
  done
  log "stage $num ($name): started; log: $logfile"
  local start_s=$SECONDS rc
  set +e
  ( set -euo pipefail; "$fn" ) 2>&1 | tee "$logfile"
  rc=${PIPESTATUS[0]}
  set -e
  if [ "$rc" -ne 0 ]; then
    log "stage $num ($name): FAILED (exit $rc) after $((SECONDS - start_s)) s; see $logfile" >&2
    exit "$rc"
  fi
  printf 'finished %s after %d s\noptions: %s\n' "$(date '+%Y-%m-%d %H:%M:%S')" "$((SECONDS - start_s))" \
    "$__recipe_knobs_now" > "$marker.tmp"
  mv -f "$marker.tmp" "$marker"
  log "stage $num ($name): done in $((SECONDS - start_s)) s"
}

# ----------------------------------------------------------------------------------------- run
log "stages $stage..$stop_stage; data: $datadir, exp: $expdir, dump: $dumpdir, nj: $nj, cmd: $cmd"
for __stage_file in "$stage_dir"/[0-9][0-9]_*.sh; do
  [ -e "$__stage_file" ] || continue
  __b=$(basename "$__stage_file" .sh)
  __num=$((10#${__b%%_*}))
  __name=${__b#*_}
  if ! declare -F "stage_${__name}" > /dev/null; then
    echo "$0: $__stage_file does not define the function stage_${__name}" >&2
    exit 1
  fi
  run_stage "$__num" "$__name" "stage_${__name}"
done
log "finished stages $stage..$stop_stage"
