# Stage 1: every dataset's sktime-shipped files load offline and pass the input checks.
: "${datasets:=ItalyPowerDemand JapaneseVowels GunPoint BasicMotions ArrowHead OSULeaf ACSF1 PLAID}"

stage_check() {
  # shellcheck disable=SC2086
  python -m audiocl.ts.recipe check --datasets $datasets
}
