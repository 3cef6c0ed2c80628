# Stage 6: DBPM on data with a known fraction of corrupted positive pairs, one experiment per line of
# --corrupt-specs (dataset mode fraction tag overrides...), seeds --corrupt-seeds; results (one JSON per
# seed, resumable per arm) in $expdir/dbpm_corrupt. --corrupt-arms: untrained / clean reference arms, base
# (corrupted, no DBPM), dbpm (corrupted + DBPM), oracle (only the uncorrupted series: perfect removal).
: "${corrupt_specs:=conf/dbpm_corrupt.txt}"
: "${corrupt_seeds:=0 1 2}"
: "${corrupt_arms:=untrained clean base dbpm oracle}"

stage_dbpm_corrupt() {
  mkdir -p "$expdir/dbpm_corrupt"
  grep -v '^#' "$corrupt_specs" | while read -r ds mode fraction tag ovr; do
    [ -n "$ds" ] || continue
    # shellcheck disable=SC2086
    python -m audiocl.ts.dbpm_experiment --dataset "$ds" --fraction "$fraction" --mode "$mode" --tag "$tag" \
      --seeds $corrupt_seeds --arms $corrupt_arms --out "$expdir/dbpm_corrupt" -- $ovr < /dev/null
  done
}
