# Stage 7: collect every scored decode/eval dir under $expdir into RESULTS.md (Kaldi/ESPnet-style tables,
# one section per experiment, plus the pretrained-vs-scratch CER ratios). Only the marked downstream block
# of --results-file is rewritten; hand-written notes around it stay.

: "${results_file:=RESULTS.md}"

stage_results() {
  audiocl collect-results --exp "$expdir" --results "$results_file"
}
