# Stage 7 of mini_clap: RESULTS.md (the template sources this file). The generated block holds, for the first
# of $test_sets, mean ± std over seeds of $clap_tag beside chance and the untrained model, and the table of
# every trained tag under $clap_exp (the objective comparison once stage 8 has run).

knob results_file RESULTS.md "the RESULTS.md whose generated block is replaced"

stage_results() {
  local set
  set=$(echo "$test_sets" | awk '{print $1}')
  audiocl clap report --exp-root "$clap_exp" --trained "$clap_tag" --eval-set "$set" --out "$results_file"
}
