# Stage 6: utterance classification (style, emotion, speaker) from the frozen pretrained upstream (--pretrained,
# else stage 3's release) and, as the baseline, the same head on fbank (recipes/template.sh sources this file);
# one $gpu_cmd job per experiment $expdir/<label>_<upstream>_<train set>, with
# eval_<set>/{metrics.json,confusion.png,predictions}.
# The fbank upstream takes its options from --fbank-conf (stage 2), so it reads stage 2's feats.scp.
# A missing label file skips the task with a message. IEMOCAP sets one task per left-out session.

knob cls_label_file utt2style "label file of the data dirs: utt2style | utt2emo | utt2spk"
knob cls_config '$AUDIOCL_ROOT/configs/finetune/style_tiny.yaml' "classification YAML"
knob cls_upstreams "pretrained fbank" "upstreams to compare: pretrained, fbank, random"
knob cls_tasks "" "'TRAIN:EVAL,EVAL ...' (default: \$train_set:\$dev_set,<test sets>)"
knob cls_opts "" "more key=value overrides for every classification run"

stage_classify() {
  local tasks=$cls_tasks t tr evals e k label args extra up
  up=$(pretrained_upstream)
  log "upstream: $up${pretrained:+ (--pretrained)}"
  label=${cls_label_file#utt2}
  # shellcheck disable=SC2086  # unquoted: the set lists become one comma-separated list
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
      extra=()
      # shellcheck disable=SC2207  # key=value words without spaces; a missing file fails the stage here
      if [ "$k" = fbank ]; then extra=($(fbank_overrides upstream.fbank)); fi
      # shellcheck disable=SC2086
      $gpu_cmd "$expdir/log/classify_${label}_${k}_$tr.log" \
        audiocl classify --config "$cls_config" --exp-dir "$expdir/${label}_${k}_$tr" "${args[@]}" \
          upstream.kind="$k" upstream.path="$up" "${extra[@]}" \
          data.train="$datadir/$tr" data.label_file="$cls_label_file" $cls_opts
    done
  done
}
