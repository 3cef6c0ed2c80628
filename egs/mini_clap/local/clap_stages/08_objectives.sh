# Stage 8 of mini_clap (not run by default: run.sh stops at 7): the objective comparison. Trains every tag of
# $clap_objectives (seeds 1..$clap_num_seeds, same data, steps and model as stage 3), evaluates them
# (stage 5's evaluation of every run under $clap_exp not evaluated yet) and rewrites the
# results (stage 7), also into $objectives_file. Usage: bash run.sh --stage 8 --stop-stage 8

knob clap_objectives "infonce infonce_hn dcl debiased cwcl" "tags to compare: <objective>[_hn]"
knob objectives_file '$AUDIOCL_ROOT/benchmarks/results/clap_objectives.md' "a second copy of the tables (benchmarks)"

stage_objectives() {
  local tag pid pids=() failed=0
  for tag in $clap_objectives; do  # every tag at once: on a cluster all jobs are submitted together
    clap_train_tag "$tag" &
    pids+=("$!")
  done
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  if [ "$failed" -ne 0 ]; then echo "a CLAP training failed; see $clap_exp/<tag>/log/train.*.log" >&2; return 1; fi
  clap_evaluate_all
  stage_results
  local set
  set=$(echo "$test_sets" | awk '{print $1}')
  # shellcheck disable=SC2086
  audiocl clap report --exp-root "$clap_exp" --trained "$clap_tag" --eval-set "$set" --out "$objectives_file" \
    --objectives untrained "$clap_tag" $clap_objectives > /dev/null
}
