# Stage 5 of mini_clap: evaluation (the template's scoring slot; the template sources this file).
# `audiocl clap evaluate` of every release under $clap_exp (the untrained baselines and every trained tag) on
# each of $test_sets: retrieval, zero-shot and CompA metrics plus a similarity PNG in <run>/eval_<set>/.
# One $cmd job per run; a run whose metrics are newer than its release is not evaluated again. The first
# job runs alone and caches the frozen text tower's caption features of the set for the others.

clap_evaluate_all() {
  local set release run runs
  for set in $test_sets; do
    runs=()
    for release in "$clap_exp"/*/seed*/release/model.safetensors; do
      [ -f "$release" ] || continue
      run=${release%/release/model.safetensors}
      if [ ! "$run/eval_$set/metrics.json" -nt "$release" ]; then runs+=("$run"); fi
    done
    if [ "${#runs[@]}" -eq 0 ]; then log "$set: every CLAP run under $clap_exp is evaluated already"; continue; fi
    printf '%s\n' "${runs[@]}" > "$clap_exp/eval_${set}.list"
    $cmd "$clap_exp/log/eval_${set}.1.log" local/clap_stage_eval_job 1 "$clap_exp/eval_${set}.list" \
      "$datadir/$set" "$set" "$clap_exp/text_cache"
    if [ "${#runs[@]}" -gt 1 ]; then
      $cmd JOB=2:"${#runs[@]}" "$clap_exp/log/eval_${set}.JOB.log" local/clap_stage_eval_job JOB \
        "$clap_exp/eval_${set}.list" "$datadir/$set" "$set" "$clap_exp/text_cache"
    fi
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
