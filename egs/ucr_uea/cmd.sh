# cmd.sh — the default job launcher of this recipe (Kaldi style). --cmd on the command line wins over it.
# Every job of this recipe runs on the CPU (stages 3 and 6 use $cmd). On a SLURM cluster, e.g.
#   export train_cmd="slurm.pl --mem 4G --time 2:00:00"
# (options: recipes/utils/slurm.pl; run.pl accepts and ignores the cluster ones). A value already in the
# environment is kept.
export train_cmd=${train_cmd:-run.pl}
