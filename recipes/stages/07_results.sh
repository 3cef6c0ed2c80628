# Stage 7: collect every scored decode/eval dir under $expdir into a RESULTS.md (Kaldi/ESPnet-style tables,
# one section per experiment, plus the pretrained-vs-scratch CER ratios); recipes/template.sh sources this
# file. Only the marked downstream block of the file is rewritten; hand-written notes around it stay.
# The default file is inside exp/ so that a run (make demo, a quick test) never rewrites the committed
# egs/<corpus>/RESULTS.md; pass --results-file RESULTS.md to publish a run there.

knob results_file '$expdir/RESULTS.md' "the RESULTS.md to write"

stage_results() {
  audiocl collect-results --exp "$expdir" --results "$results_file"
}
