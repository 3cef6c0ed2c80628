# Stage 2: feature extraction (recipes/template.sh sources this file).
# Knobs: --feature-type fbank|mfcc|logmel, --extract-opts '...' (more `audiocl extract` options).
# Each set is validated first, so `run.sh --stage 2` on missing or broken data fails with a clear message.
# One launcher job per set ($cmd, e.g. run.pl or slurm.pl) running `audiocl extract --nj $nj`; features go
# to $dumpdir/<feature_type>/<set>, feats.scp into the data dir.

: "${feature_type:=fbank}"
: "${extract_opts:=}"

stage_features() {
  local set
  for set in $(recipe_sets); do
    if [ ! -f "$datadir/$set/wav.scp" ]; then
      echo "no data dir $datadir/$set (missing wav.scp): run stage 1 first (--stage 1)" >&2
      return 1
    fi
    audiocl validate-data "$datadir/$set"
  done
  for set in $(recipe_sets); do
    # shellcheck disable=SC2086
    $cmd --num-threads "$nj" "$expdir/log/extract_${feature_type}_${set}.log" \
      audiocl extract "$datadir/$set" --out "$dumpdir/$feature_type/$set" \
        --feature-type "$feature_type" --nj "$nj" $extract_opts
  done
}
