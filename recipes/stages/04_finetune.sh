# Stage 4: CTC fine-tuning of the pretrained upstream, and the same architecture trained from scratch
# (recipes/template.sh sources this file). One experiment per training set, each one $gpu_cmd job:
#   $expdir/ctc_pretrained_<tag>   upstream = --pretrained, else stage 3's release (--pretrain-exp), its
#                                  front-end frozen
#   $expdir/ctc_scratch_<tag>      the same model (config of the release) with random weights, every part
#                                  trained, same masks / schedule / updates (--ctc-baseline false: skip;
#                                  --ctc-scratch-opts 'model.frontend=fbank' swaps in the CMVN fbank front-end)
# Training sets, first that applies: --ft-splits '10min 1h 10h 100h' (LibriSpeech: writes $datadir/train_<split>,
# the Libri-light lists when --librilight DIR exists, else nested seeded subsets of $train_set);
# --ctc-train-sets 'SET ...'; else label-fraction subsets of $train_set written by `audiocl subset-labels`
# (nested, reproducible by --label-seed): --label-fractions '0.01 0.1 1.0' gives <tag> = 1pct, 10pct, 100pct.
# Re-running resumes each training.

knob ctc_config '$AUDIOCL_ROOT/configs/finetune/tiny.yaml' "fine-tuning YAML"
knob ctc_opts "" "more key=value overrides for every fine-tuning run"
knob ctc_train_sets "" "fine-tune on these data sets ('SET ...') instead of label fractions"
knob label_fractions 0.1 "fractions of \$train_set's transcripts to fine-tune on ('0.01 0.1 1.0')"
knob label_seed 0 "seed of the label-fraction subsets and of the --ft-splits subsets"
knob ctc_baseline true "also train the same model from random weights"
knob ctc_scratch_opts model.freeze_feature_encoder=false "extra overrides for the from-scratch baseline"
knob ft_splits "" "LibriSpeech fine-tuning splits ('10min 1h 10h 100h')"
knob librilight "" "Libri-light fine-tuning lists (librispeech_finetuning folder) for --ft-splits"

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
  local line tag dir f up
  up=$(pretrained_upstream)
  log "upstream: $up${pretrained:+ (--pretrained)}"
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
    $gpu_cmd "$expdir/log/finetune_ctc_pretrained_$tag.log" \
      audiocl finetune --config "$ctc_config" --exp-dir "$expdir/ctc_pretrained_$tag" \
        upstream.path="$up" data.train="$dir" $ctc_opts
    if [ "$ctc_baseline" = true ]; then
      # shellcheck disable=SC2086
      $gpu_cmd "$expdir/log/finetune_ctc_scratch_$tag.log" \
        audiocl finetune --config "$ctc_config" --exp-dir "$expdir/ctc_scratch_$tag" \
          upstream.path="$up" upstream.kind=random model.freeze_finetune_updates=0 \
          $ctc_scratch_opts data.train="$dir" $ctc_opts
    fi
  done
}
