# Stage 3 of mini_clap: CLAP training (the template's pretraining slot; the template sources this file).
# For the tag $clap_tag and seeds 1..$clap_num_seeds: `audiocl clap-train --init-only` writes the untrained
# baseline of each seed ($clap_exp/untrained/seedN/release) and caches the frozen text tower's caption
# features ($clap_exp/text_cache) and the training clips' log-mel ($clap_exp/feature_cache) once; then the
# seeds train in parallel, one $gpu_cmd job each, and each run exports its release to
# $clap_exp/<tag>/seedN/release. Re-running resumes unfinished runs.

knob clap_config conf/train.yaml "CLAP training YAML (model, objective, optimiser, steps)"
knob clap_opts "" "more key=value overrides for every CLAP run, e.g. 'trainer.max_steps=600'"
knob clap_tag infonce "the main configuration: an objective name, '_hn' = with compositional hard negatives"
knob clap_num_seeds 3 "seeds (1..N) of every configuration"
knob clap_exp '$expdir/clap' "CLAP experiments: CLAP_EXP/<tag>/seed<N>"

# key=value overrides of a tag: <objective>[_hn]
clap_tag_opts() {
  local tag=$1 name=${1%_hn}
  if [ "$name" != "$tag" ]; then echo "objective.name=$name objective.hard_negatives=true"
  else echo "objective.name=$name objective.hard_negatives=false"; fi
}

# clap_train_tag TAG: train seeds 1..clap_num_seeds of TAG (parallel jobs through $gpu_cmd)
clap_train_tag() {
  local tag=$1
  mkdir -p "$clap_exp/$tag"
  # shellcheck disable=SC2046,SC2086
  $gpu_cmd JOB=1:"$clap_num_seeds" "$clap_exp/$tag/log/train.JOB.log" \
    audiocl clap-train --config "$clap_config" --exp-dir "$clap_exp/$tag/seedJOB" \
      data.train_dir="$datadir/$train_set" data.text_cache_dir="$clap_exp/text_cache" \
      data.feature_cache_dir="$clap_exp/feature_cache" trainer.seed=JOB \
      $(clap_tag_opts "$tag") $clap_opts
}

stage_train() {
  if [ ! -f "$datadir/$train_set/wav.scp" ]; then
    echo "no data dir $datadir/$train_set (missing wav.scp): run stage 1 first (--stage 1)" >&2
    return 1
  fi
  local seed
  for seed in $(seq 1 "$clap_num_seeds"); do
    # the first one also fills the shared caption and log-mel caches (two threads: it runs alone)
    # shellcheck disable=SC2046,SC2086
    $gpu_cmd "$clap_exp/untrained/log/init.$seed.log" \
      audiocl clap-train --init-only --config "$clap_config" --exp-dir "$clap_exp/untrained/seed$seed" \
        data.train_dir="$datadir/$train_set" data.text_cache_dir="$clap_exp/text_cache" \
        data.feature_cache_dir="$clap_exp/feature_cache" trainer.seed="$seed" \
        $(clap_tag_opts "$clap_tag") $clap_opts trainer.num_threads=2
  done
  clap_train_tag "$clap_tag"
  log "CLAP runs: $clap_exp/$clap_tag/seed*/ (metrics.json, loss_curve.png, release/)"
}
