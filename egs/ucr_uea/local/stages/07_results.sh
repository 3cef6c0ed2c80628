# Stage 7: collect every result under $expdir into --results-file (default: RESULTS.md of the recipe) with
# the notes of conf/results_note.md and the DBPM corruption table.
: "${results_file:=RESULTS.md}"

stage_results() {
  python -m audiocl.ts.recipe collect --exp "$expdir" --out "$results_file" --note conf/results_note.md \
    --dbpm-dir "$expdir/dbpm_corrupt"
}
