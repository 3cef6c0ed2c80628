# Stage 3 (pretrain): unsupervised pretraining on each train split, and the evaluation of the frozen
# embeddings (TS2Vec's SVM protocol, a linear probe) as part of the same run, so a run's result is one file:
# $expdir/<dataset>/<tag>/seed<k>/result.json, skipped when it exists (an interrupted stage resumes).
# The (seed, dataset) grid is split over --nj jobs, launched with $cmd (CPU: the models train on the CPU,
# one torch thread per job).

knob seeds "0 1 2 3 4" "seeds per dataset ('N ...')"
knob dbpm both "DBPM arms per (dataset, seed): off | on | both"
knob overrides "num_threads=1" "TSPretrainConfig key=value overrides ('method=ts_tcc' for TS-TCC, 'iters=50 encoder.depth=4' for quick runs)"

stage_pretrain() {
  # shellcheck disable=SC2086
  $cmd JOB=1:"$nj" "$expdir/log/pretrain.JOB.log" \
    audiocl ts-recipe run --exp "$expdir" --datasets $datasets --seeds $seeds --dbpm "$dbpm" \
      --job JOB --num-jobs "$nj" -- $overrides
}
