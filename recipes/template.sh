#!/usr/bin/env bash
# recipes/template.sh — the shared numbered stages of every audiocl recipe (ESPnet TEMPLATE style, thin).
#
# A corpus recipe egs/<corpus>/run.sh sets its corpus knobs as shell variables (each is an option too:
# --num-utts 50 sets num_utts; list them in its help_message), may preset stage knobs, defines two hooks and
# SOURCES this file (it reads the recipe's "$@"):
#     corpus_download   stage 0 (optional): fetch the corpus
#     corpus_data       stage 1 (required): write Kaldi data dirs under $datadir (usually local/data.sh)
#
# Stages (numbers shared by all recipes); one file per stage in recipes/stages/NN_name.sh, which declares
# its knobs in one list of `knob NAME DEFAULT "HELP"` lines (recipes/knobs.sh) and defines a function
# stage_<name>. Adding a stage = adding one file.
#     0 download   1 data preparation + validation   2 features   3 SSL pretraining   4 CTC fine-tuning
#     5 decoding + scoring   6 style/emotion classification   7 collect RESULTS.md
#
# Job launchers: CPU stages (2, 5) run their jobs with $cmd, GPU stages (3, 4, 6) with $gpu_cmd. --cmd
# reaches every stage: --gpu-cmd defaults to --cmd when it is given, otherwise to $cuda_cmd of cmd.sh.
#
# Bookkeeping: a finished stage writes $expdir/stages/stageN_name.done and is skipped on the next run
# unless --force true; a stage that fails (or is interrupted) leaves no marker. Running a stage removes
# the markers of the later stages (their inputs changed). Each stage's output goes to
# $expdir/log/stageN_name.log (and the terminal). A stage file may define skip_stage_<name>, which prints
# why the stage does not run this time (stage 3 with --pretrained): it is skipped without a marker.
# A stage whose training job was stopped by a signal after saving a checkpoint (exit 128 + SIGINT, SIGUSR1
# or SIGTERM; run.pl / slurm.pl pass that status on) is reported as stopped, not failed: re-run to resume.

if [ -z "${BASH_VERSION:-}" ]; then echo "template.sh: run with bash" >&2; exit 1; fi
set -euo pipefail

: "${AUDIOCL_ROOT:=$(cd -P "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
: "${stage_dir:=$AUDIOCL_ROOT/recipes/stages}"
# shellcheck disable=SC1091
. "$AUDIOCL_ROOT/recipes/knobs.sh"

# ----------------------------------------------------------------------------------------- generic knobs
knob stage       0     "first stage to run"
knob stop_stage  100   "last stage to run"
knob force       false "true: re-run stages even when their .done marker exists"
knob nj          4     "parallel jobs inside a stage"
knob cmd         ""    "launcher of the stages' jobs, training too unless --gpu-cmd is given: run.pl (here) or 'slurm.pl --mem 4G ...' (default: \$train_cmd of cmd.sh, else run.pl)"
knob gpu_cmd     ""    "launcher of the training jobs only (pretraining, fine-tuning, classification) (default: --cmd when given, else \$cuda_cmd of cmd.sh, else as --cmd)"
knob datadir     data  "Kaldi data dirs: DATADIR/<set>"
knob expdir      exp   "logs, stage markers, models, results"
knob dumpdir     dump  "features: DUMPDIR/<feature type>/<set>"
knob train_set   train "training set"
knob dev_set     dev   "development set"
knob test_sets   test  "test sets ('SET ...')"

# Stage files are sourced once: their `knob` lines declare their options, their functions the stages.
for __stage_file in "$stage_dir"/[0-9][0-9]_*.sh; do
  [ -e "$__stage_file" ] || continue
  __knob_file=${__stage_file#"$AUDIOCL_ROOT"/}
  # shellcheck disable=SC1090
  . "$__stage_file"
done

help_message="${help_message:-Usage: $0 [options]}

Stages: $(for f in "$stage_dir"/[0-9][0-9]_*.sh; do b=$(basename "$f" .sh); printf '%d=%s ' "$((10#${b%%_*}))" "${b#*_}"; done)
  --config FILE          source FILE (name=value lines) where it stands; later options override it
$(knobs_help)"

# The options that shape results (all but run control), recorded in each marker: a later run with other
# knobs is told that a finished stage it skips was made with different options.
__recipe_knobs() {
  local a skip=false out=""
  for a in "$@"; do
    if $skip; then skip=false; continue; fi
    case "$a" in
      --stage|--stop-stage|--stop_stage|--force|--nj|--cmd|--gpu-cmd|--gpu_cmd) skip=true ;;
      --stage=*|--stop-stage=*|--stop_stage=*|--force=*|--nj=*|--cmd=*|--gpu-cmd=*|--gpu_cmd=*) ;;
      *) out+="${out:+ }$a" ;;
    esac
  done
  printf '%s' "$out"
}
__recipe_knobs_now=$(__recipe_knobs "$@")
# shellcheck disable=SC1091
. "$AUDIOCL_ROOT/recipes/utils/parse_options.sh" || exit 1
knobs_resolve
# --cmd reaches every stage; cmd.sh's cuda_cmd is only the GPU default when --cmd was not given.
if [ -z "$gpu_cmd" ]; then gpu_cmd=${cmd:-${cuda_cmd:-${train_cmd:-run.pl}}}; fi
if [ -z "$cmd" ]; then cmd=${train_cmd:-run.pl}; fi
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
  local why=""
  if declare -F "skip_$fn" > /dev/null; then why=$("skip_$fn"); fi
  if [ -n "$why" ]; then
    log "stage $num ($name): skipped: $why"
    return 0
  fi
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
  case "$rc" in
    0) ;;
    130|138|143)  # 128 + SIGINT / SIGUSR1 / SIGTERM
      log "stage $num ($name): STOPPED by SIG$(kill -l "$((rc - 128))") (exit $rc) after $((SECONDS - start_s)) s;" \
        "a training saves a checkpoint when stopped: run the same command again to resume (see $logfile)" >&2
      exit "$rc" ;;
    *)
      log "stage $num ($name): FAILED (exit $rc) after $((SECONDS - start_s)) s; see $logfile" >&2
      exit "$rc" ;;
  esac
  printf 'finished %s after %d s\noptions: %s\n' "$(date '+%Y-%m-%d %H:%M:%S')" "$((SECONDS - start_s))" \
    "$__recipe_knobs_now" > "$marker.tmp"
  mv -f "$marker.tmp" "$marker"
  log "stage $num ($name): done in $((SECONDS - start_s)) s"
}

# ----------------------------------------------------------------------------------------- run
log "stages $stage..$stop_stage; data: $datadir, exp: $expdir, dump: $dumpdir, nj: $nj, cmd: $cmd, gpu-cmd: $gpu_cmd"
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
