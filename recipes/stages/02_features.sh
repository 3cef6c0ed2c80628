# Stage 2: feature extraction (recipes/template.sh sources this file).
# One launcher job per set ($cmd, e.g. run.pl or slurm.pl) running `audiocl extract --nj $nj`; features go
# to $dumpdir/<feature_type>/<set>, feats.scp into the data dir. A missing data dir fails at once, and
# `audiocl extract` validates each data dir first, so broken data fails with the file, line and utterance.
# Fbank options come from --fbank-conf, the file the fbank baselines of stage 6 use too (fbank_overrides),
# so they read these features from feats.scp instead of computing them again.

knob feature_type fbank "feature type: fbank | mfcc | logmel (audiocl extract --type)"
knob fbank_conf '$AUDIOCL_ROOT/recipes/conf/fbank.conf' "Kaldi fbank options (--opt=value lines) of stage 2 and of the fbank baselines"
knob extract_opts "" "more 'audiocl extract' options (set fbank options in --fbank-conf, not here)"

# The options of $fbank_conf as key=value overrides under PREFIX (e.g. upstream.fbank.num_mel_bins=80).
fbank_overrides() {
  if [ ! -f "$fbank_conf" ]; then echo "no fbank options file $fbank_conf (--fbank-conf)" >&2; return 1; fi
  sed -e 's/#.*//' -e 's/^[[:space:]]*--//' -e 's/[[:space:]]*$//' "$fbank_conf" | awk -v p="$1" -F= '
    NF >= 2 { v = substr($0, index($0, "=") + 1); k = $1; gsub(/-/, "_", k); printf "%s.%s=%s\n", p, k, v }'
}

stage_features() {
  local set conf=()
  for set in $(recipe_sets); do
    if [ ! -f "$datadir/$set/wav.scp" ]; then
      echo "no data dir $datadir/$set (missing wav.scp): run stage 1 first (--stage 1)" >&2
      return 1
    fi
  done
  if [ "$feature_type" = fbank ]; then
    fbank_overrides check > /dev/null  # the same file the fbank baselines read: fail early if it is missing
    conf=(--config "$fbank_conf")
  fi
  for set in $(recipe_sets); do
    # shellcheck disable=SC2086
    $cmd --num-threads "$nj" "$expdir/log/extract_${feature_type}_${set}.log" \
      audiocl extract "$datadir/$set" --out "$dumpdir/$feature_type/$set" \
        --type "$feature_type" "${conf[@]}" --nj "$nj" --no-progress $extract_opts
  done
}
