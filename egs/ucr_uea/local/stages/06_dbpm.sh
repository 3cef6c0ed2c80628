# Stage 6 (dbpm): where the shared template classifies utterances, this recipe runs its classification
# experiment on DBPM: training with a known fraction of corrupted positive pairs, with and without DBPM,
# one `audiocl ts-dbpm` job per line of --corrupt-specs ("dataset mode fraction tag overrides..."), launched
# with $cmd. One JSON per seed in $expdir/dbpm_corrupt, resumable per arm.

knob corrupt_specs conf/dbpm_corrupt.txt "the experiments, one per line"
knob corrupt_seeds "0 1 2" "seeds of every experiment"
knob corrupt_arms "untrained clean base dbpm oracle" \
  "arms: untrained / clean references, base (corrupted), dbpm (corrupted + DBPM), oracle (uncorrupted series only)"

stage_dbpm() {
  local ds mode fraction tag ovr
  mkdir -p "$expdir/dbpm_corrupt"
  grep -v '^#' "$corrupt_specs" | while read -r ds mode fraction tag ovr; do
    [ -n "$ds" ] || continue
    # shellcheck disable=SC2086
    $cmd "$expdir/log/dbpm_${ds}_${mode}_f${fraction}${tag}.log" \
      audiocl ts-dbpm --dataset "$ds" --fraction "$fraction" --mode "$mode" --tag "$tag" \
        --seeds $corrupt_seeds --arms $corrupt_arms --out "$expdir/dbpm_corrupt" -- $ovr < /dev/null
  done
}
