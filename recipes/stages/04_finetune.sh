# Stage 4: CTC fine-tuning of the pretrained upstream, and the same architecture trained from scratch
# (recipes/template.sh sources this file). One experiment per training set:
#   $expdir/ctc_pretrained_<tag>   upstream = $pretrain_exp (stage 3), its front-end frozen
#   $expdir/ctc_scratch_<tag>      the same model (config of the release) with random weights, every part trained,
#                                  same masks / schedule / updates (--ctc-baseline false: skip; --ctc-scratch-opts
#                                  'model.frontend=fbank' swaps in the CMVN fbank front-end instead)
# Training sets: --ctc-train-sets 'SET ...' (e.g. LibriSpeech train_10min train_1h), else label-fraction
# subsets of $train_set written by `audiocl subset-labels` (nested, reproducible by --label-seed):
# --label-fractions '0.01 0.1 1.0' gives <tag> = 1pct, 10pct, 100pct. LibriSpeech: --ft-splits '10min 1h 10h 100h'
# writes $datadir/train_<split> (Libri-light lists when --librilight DIR exists, else nested seeded subsets
# of $train_set) and fine-tunes on each. Re-running resumes each training.

: "${pretrain_exp:=}"                    # stage 3 output (release dir, checkpoint or exp dir); default $expdir/pretrain
: "${ctc_config:=$AUDIOCL_ROOT/configs/finetune/tiny.yaml}"
: "${ctc_opts:=}"                       # extra key=value overrides for every fine-tuning run
: "${ctc_train_sets:=}"
: "${label_fractions:=0.1}"
: "${label_seed:=0}"
: "${ctc_baseline:=true}"
: "${ctc_scratch_opts:=model.freeze_feature_encoder=false}"  # extra overrides for the from-scratch baseline
: "${ft_splits:=}"
: "${librilight:=}"

# The training sets of stage 4 as "tag:data_dir" lines (used by stages 4 and 5).
ctc_training_sets() {
  local s f tag
  if [ -n "$ft_splits" ]; then
    for s in $ft_splits; do echo "$s:$datadir/train_$s"; done
  elif [ -n "$ctc_train_sets" ]; then
    for s in $ctc_train_sets; do echo "$s:$datadir/$s"; done
  else
    for f in $label_fractions; do
      tag=$(awk -v f="$f" 'BEGIN { printf "%gpct", 100 * f }')
      echo "$tag:$datadir/${train_set}_$tag"
    done
  fi
}

stage_finetune() {
  local line tag dir f up=${pretrain_exp:-$expdir/pretrain}
  if [ -f "$up/release/model.safetensors" ]; then up=$up/release; fi  # stage 3 exports its release there
  if [ -n "$ft_splits" ]; then
    audiocl prepare-ft-splits --out "$datadir" --splits "$ft_splits" --train-data "$datadir/$train_set" \
      ${librilight:+--librilight "$librilight"} --seed "$label_seed"
  elif [ -z "$ctc_train_sets" ]; then
    for f in $label_fractions; do
      tag=$(awk -v f="$f" 'BEGIN { printf "%gpct", 100 * f }')
      audiocl subset-labels --src "$datadir/$train_set" --dst "$datadir/${train_set}_$tag" \
        --fraction "$f" --seed "$label_seed"
    done
  fi
  for line in $(ctc_training_sets); do
    tag=${line%%:*}; dir=${line#*:}
    # shellcheck disable=SC2086
    ${cuda_cmd:-$cmd} "$expdir/log/finetune_ctc_pretrained_$tag.log" \
      audiocl finetune --config "$ctc_config" --exp-dir "$expdir/ctc_pretrained_$tag" \
        upstream.path="$up" data.train="$dir" $ctc_opts
    if [ "$ctc_baseline" = true ]; then
      # shellcheck disable=SC2086
      ${cuda_cmd:-$cmd} "$expdir/log/finetune_ctc_scratch_$tag.log" \
        audiocl finetune --config "$ctc_config" --exp-dir "$expdir/ctc_scratch_$tag" \
          upstream.path="$up" upstream.init=random model.freeze_finetune_updates=0 \
          $ctc_scratch_opts data.train="$dir" $ctc_opts
    fi
  done
}
