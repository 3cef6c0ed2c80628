# Stage 5 of mini_clap: evaluation (the template's scoring slot; the template sources this file).
# `audiocl clap evaluate` of every release under $clap_exp (the untrained baselines and every trained tag) on
# each of $test_sets: retrieval, zero-shot and CompA metrics plus a similarity PNG in <run>/eval_<set>/.
# One $cmd job per run; the caption features of the frozen text tower are cached once per set.

clap_evaluate_all() {
  local set release runs=()
  for release in "$clap_exp"/*/seed*/release; do
    [ -f "$release/model.safetensors" ] && runs+=("${release%/release}")
  done
  if [ "${#runs[@]}" -eq 0 ]; then echo "no CLAP releases under $clap_exp: run stage 3 first" >&2; return 1; fi
  printf '%s\n' "${runs[@]}" > "$clap_exp/runs.list"
  for set in $test_sets; do
    # first one run alone, so the caption features are cached before the others start
    $cmd "$clap_exp/log/eval_${set}.first.log" audiocl clap evaluate --model "${runs[0]}/release" \
      --data "$datadir/$set" --out "${runs[0]}/eval_$set" --text-cache "$clap_exp/text_cache" --num-threads 1
    if [ "${#runs[@]}" -gt 1 ]; then
      $cmd JOB=2:"${#runs[@]}" "$clap_exp/log/eval_${set}.JOB.log" \
        local/clap_stage_eval_job JOB "$clap_exp/runs.list" "$datadir/$set" "$set" "$clap_exp/text_cache"
    fi
  done
}

stage_evaluate() {
  clap_evaluate_all
  log "metrics: $clap_exp/<tag>/seed<N>/eval_<set>/metrics.json"
}
