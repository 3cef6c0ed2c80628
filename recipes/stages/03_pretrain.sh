# Stage 3: self-supervised pretraining (recipes/template.sh sources this file).
# Trains on $datadir/$train_set with `audiocl pretrain` (one $gpu_cmd job; DDP/SLURM launch:
# docs/distributed.md), then exports the release to $pretrain_exp/release (model.safetensors + config.yaml).
# Re-running an interrupted stage resumes the training from $pretrain_exp/checkpoints/last.ckpt.
# --pretrained REF skips this stage: stages 4 and 6 then start from REF (anything audiocl.hub.resolve takes:
# a release dir or checkpoint, 'URL#sha256=HEX', a registry name from `audiocl models`, hf:ORG/NAME@REV).

knob ssl_type wav2vec2 "self-supervised model: wav2vec2 | cpc"
knob ssl_config "" "pretraining YAML (default: configs/pretrain/tiny.yaml, or cpc_tiny.yaml for cpc)"
knob ssl_opts "" "more key=value overrides, e.g. 'trainer.max_steps=2000 trainer.devices=4'"
knob pretrain_exp '$expdir/pretrain' "pretraining experiment dir; stages 4 and 6 take their upstream from it"
knob pretrained "" "start from this pretrained model instead of pretraining: stage 3 is skipped, stages 4 and 6 fine-tune / probe it (and its architecture with random weights for the baselines); a release dir or checkpoint, 'URL#sha256=HEX', a registry name (audiocl models) or hf:ORG/NAME@REV (docs/pretrained.md)"

# The upstream of stages 4 and 6: --pretrained when given, else the release stage 3 exported, else
# $pretrain_exp as given (a release dir, a checkpoint or an experiment dir).
pretrained_upstream() {
  if [ -n "$pretrained" ]; then echo "$pretrained"; return; fi
  local exp=${pretrain_exp:-$expdir/pretrain}
  if [ -f "$exp/release/model.safetensors" ]; then echo "$exp/release"; else echo "$exp"; fi
}

# Why stage 3 does not run this time (run_stage skips a stage whose skip_stage_<name> prints a reason).
skip_stage_pretrain() {
  if [ -n "$pretrained" ]; then echo "--pretrained $pretrained is given: stages 4 and 6 start from it"; fi
}

stage_pretrain() {
  local config=$ssl_config
  if [ -z "$config" ]; then
    if [ "$ssl_type" = cpc ]; then config=$AUDIOCL_ROOT/configs/pretrain/cpc_tiny.yaml
    else config=$AUDIOCL_ROOT/configs/pretrain/tiny.yaml; fi
  fi
  if [ ! -f "$datadir/$train_set/wav.scp" ]; then
    echo "no data dir $datadir/$train_set (missing wav.scp): run stage 1 first (--stage 1)" >&2
    return 1
  fi
  # shellcheck disable=SC2086
  $gpu_cmd "$expdir/log/pretrain_${ssl_type}.log" \
    audiocl pretrain --data "$datadir/$train_set" --exp-dir "$pretrain_exp" --ssl-type "$ssl_type" \
      --config "$config" trainer.progress_bar=false $ssl_opts
  audiocl export --ckpt "$pretrain_exp" --out "$pretrain_exp/release"
  log "pretraining metrics: $pretrain_exp/metrics.json, loss curve: $pretrain_exp/loss_curve.png"
}
