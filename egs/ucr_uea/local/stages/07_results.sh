# Stage 7 (results): the UCR/UEA table and the DBPM corruption table from every result under $expdir, each
# with the commands that reproduce it (generated from the result files). The default file is inside exp/
# so that a quick run never rewrites the committed RESULTS.md; pass --results-file RESULTS.md to publish.

knob results_file '$expdir/RESULTS.md' "the RESULTS.md to write"

stage_results() {
  audiocl ts-recipe collect --exp "$expdir" --out "$results_file" --dbpm-dir "$expdir/dbpm_corrupt"
}
