# Stage 2: feature extraction (recipes/template.sh sources this file).
# Knobs: --feature-type fbank|mfcc|logmel (`audiocl extract --type`), --extract-opts '...' (more `audiocl extract` options).
# A missing data dir fails at once; `audiocl extract` validates each data dir before computing anything,
# so `run.sh --stage 2` on broken data fails with the file, line and utterance.
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
  done
  for set in $(recipe_sets); do
    # shellcheck disable=SC2086
    $cmd --num-threads "$nj" "$expdir/log/extract_${feature_type}_${set}.log" \
      audiocl extract "$datadir/$set" --out "$dumpdir/$feature_type/$set" \
        --type "$feature_type" --nj "$nj" --no-progress $extract_opts
  done
}
