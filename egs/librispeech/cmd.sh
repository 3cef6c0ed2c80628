# cmd.sh — the default job launchers of this recipe (Kaldi style). --cmd and --gpu-cmd on the command line
# win over these, and --cmd alone reaches every stage (run.sh --help). On a SLURM cluster, e.g.
#   export train_cmd="slurm.pl --mem 4G --time 2:00:00"   # CPU stages: features, decoding
#   export cuda_cmd="slurm.pl --mem 16G --gpu 1"          # GPU stages: pretraining, fine-tuning, classification
# (options: recipes/utils/slurm.pl; run.pl accepts and ignores the cluster ones). Values already in the
# environment are kept.
export train_cmd=${train_cmd:-run.pl}
export cuda_cmd=${cuda_cmd:-$train_cmd}
