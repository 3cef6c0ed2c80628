# Stage 7: collect every scored decode/eval dir under $expdir into a RESULTS.md (Kaldi/ESPnet-style tables,
# one section per experiment, plus the pretrained-vs-scratch CER ratios). Only the marked downstream block
# of the file is rewritten; hand-written notes around it stay.
# --results-file FILE (default: $expdir/RESULTS.md). The default is inside exp/ so that a run (make demo, a
# quick test) never rewrites the committed egs/<corpus>/RESULTS.md; pass --results-file RESULTS.md to
# publish a run there.

: "${results_file:=}"

stage_results() {
  audiocl collect-results --exp "$expdir" --results "${results_file:-$expdir/RESULTS.md}"
}
