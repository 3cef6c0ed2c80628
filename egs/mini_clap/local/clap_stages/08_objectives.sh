# Stage 8 of mini_clap (not run by default: run.sh stops at 7): the objective comparison. Trains every tag of
# $clap_objectives (seeds 1..$clap_num_seeds, same data, steps and model as stage 3), evaluates them
# (stage 5's evaluation of every run under $clap_exp; finished evaluations are redone) and rewrites the
# results (stage 7). Usage: bash run.sh --stage 8 --stop-stage 8

knob clap_objectives "infonce infonce_hn dcl debiased cwcl" "tags to compare: <objective>[_hn]"

stage_objectives() {
  local tag
  for tag in $clap_objectives; do
    clap_train_tag "$tag"
  done
  clap_evaluate_all
  stage_results
}
