# Stage 3: unsupervised pretraining on each train split + evaluation (TS2Vec SVM protocol, linear probe).
# Resumable per run: each (dataset, method, DBPM, seed) writes $expdir/<dataset>/<tag>/seed<k>/result.json
# and is skipped when that file exists, so an interrupted stage continues where it stopped.
# --seeds "0 1 2 3 4"  --dbpm off|on|both  --overrides "k=v ..." (TSPretrainConfig; method=ts_tcc for TS-TCC)
: "${seeds:=0 1 2 3 4}"
: "${dbpm:=both}"
: "${overrides:=num_threads=1}"

stage_pretrain_eval() {
  # shellcheck disable=SC2086
  python -m audiocl.ts.recipe run --exp "$expdir" --datasets $datasets --seeds $seeds --dbpm "$dbpm" -- $overrides
}
