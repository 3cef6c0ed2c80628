# Stage 6: utterance classification (style, emotion, speaker) from the frozen pretrained upstream and, as
# the baseline, the same head on fbank (recipes/template.sh sources this file).
# --cls-label-file utt2style|utt2emo|utt2spk, --cls-upstreams 'pretrained fbank' (or random, to check
# what pretraining adds), --cls-tasks 'TRAIN:EVAL,EVAL ...' (default "$train_set:$dev_set,<test sets>";
# IEMOCAP sets one task per left-out session). Experiments: $expdir/<label>_<upstream>_<train set>, with
# eval_<set>/{metrics.json,confusion.png,predictions}. A missing label file skips the stage with a message.
# --pretrain-exp DIR: the upstream (release dir, checkpoint or pretraining exp dir; default $expdir/pretrain).

: "${cls_label_file:=utt2style}"
: "${cls_config:=$AUDIOCL_ROOT/configs/finetune/style_tiny.yaml}"
: "${cls_upstreams:=pretrained fbank}"
: "${cls_tasks:=}"
: "${cls_opts:=}"

stage_classify() {
  local tasks=$cls_tasks t tr evals e k label args up=${pretrain_exp:-$expdir/pretrain}
  if [ -f "$up/release/model.safetensors" ]; then up=$up/release; fi  # stage 3 exports its release there
  label=${cls_label_file#utt2}
  [ -n "$tasks" ] || tasks="$train_set:$(echo $dev_set $test_sets | tr ' ' ',')"
  for t in $tasks; do
    tr=${t%%:*}; evals=${t#*:}
    if [ ! -f "$datadir/$tr/$cls_label_file" ]; then
      log "no $datadir/$tr/$cls_label_file: nothing to classify for $tr"
      continue
    fi
    args=()
    for e in ${evals//,/ }; do
      if [ -f "$datadir/$e/$cls_label_file" ]; then args+=(--eval "$datadir/$e"); fi
    done
    for k in $cls_upstreams; do
      # shellcheck disable=SC2086
      ${cuda_cmd:-$cmd} "$expdir/log/classify_${label}_${k}_$tr.log" \
        audiocl classify --config "$cls_config" --exp-dir "$expdir/${label}_${k}_$tr" "${args[@]}" \
          upstream.kind="$k" upstream.path="$up" data.train="$datadir/$tr" \
          data.label_file="$cls_label_file" $cls_opts
    done
  done
}
