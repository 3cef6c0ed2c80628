# Stage 1: data preparation + validation (recipes/template.sh sources this file).
# The corpus recipe's corpus_data hook writes Kaldi data dirs $datadir/<set>; every set the recipe uses
# ($train_set, $dev_set, $test_sets) is then validated with `audiocl validate-data`.

stage_data() {
  if ! declare -F corpus_data > /dev/null; then
    echo "the recipe does not define corpus_data (the data preparation hook)" >&2
    return 1
  fi
  corpus_data
  local set sets=()
  for set in $(recipe_sets); do sets+=("$datadir/$set"); done
  audiocl validate-data "${sets[@]}"
}
