# Stage 5 of mini_clap: evaluation (the template's scoring slot; the template sources this file).
# `audiocl clap evaluate` of every release under $clap_exp (the untrained baselines and every trained tag) on
# each of $test_sets: retrieval, zero-shot and CompA metrics plus a similarity PNG in <run>/eval_<set>/.
# One $cmd job per set evaluates all its runs in one process: the test audio is read and framed once, the
# frozen text tower encodes each caption (cached in $clap_exp/text_cache) and prompt once, and only the
# towers run per model. A run whose metrics are newer than its release is not evaluated again.

knob clap_eval_threads 2 "torch threads of the evaluation job"

clap_evaluate_all() {
  local set release run args
  for set in $test_sets; do
    args=()
    for release in "$clap_exp"/*/seed*/release/model.safetensors; do
      [ -f "$release" ] || continue
      run=${release%/release/model.safetensors}
      if [ ! "$run/eval_$set/metrics.json" -nt "$release" ]; then args+=(--model "$run/release" --out "$run/eval_$set"); fi
    done
    if [ "${#args[@]}" -eq 0 ]; then log "$set: every CLAP run under $clap_exp is evaluated already"; continue; fi
    $cmd "$clap_exp/log/eval_${set}.log" audiocl clap evaluate "${args[@]}" --data "$datadir/$set" \
      --text-cache "$clap_exp/text_cache" --num-threads "$clap_eval_threads"
  done
}

stage_evaluate() {
  if ! ls "$clap_exp"/*/seed*/release/model.safetensors > /dev/null 2>&1; then
    echo "no CLAP releases under $clap_exp: run stage 3 first (--stage 3)" >&2
    return 1
  fi
  clap_evaluate_all
  log "metrics: $clap_exp/<tag>/seed<N>/eval_<set>/metrics.json"
}
