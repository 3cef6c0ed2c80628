# Stage 1 (data): every dataset's sktime-shipped files load offline and pass the input checks (all-NaN
# series, too short, +/-inf); one summary line per split. Light work, run here (not through $cmd).

knob datasets "ACSF1 ArrowHead BasicMotions GunPoint ItalyPowerDemand JapaneseVowels OSULeaf PLAID" \
  "UCR/UEA classification sets shipped with sktime ('NAME ...'); stages 1 and 3 use them"

stage_data() {
  # shellcheck disable=SC2086
  audiocl ts-recipe check --datasets $datasets
}
