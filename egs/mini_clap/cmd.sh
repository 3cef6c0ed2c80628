# cmd.sh — the default job launchers of this recipe (Kaldi style); --cmd / --gpu-cmd on the command line win.
# CLAP training runs its seeds as parallel jobs of $cuda_cmd; on a SLURM cluster, e.g.
#   export train_cmd="slurm.pl --mem 4G --time 1:00:00"
#   export cuda_cmd="slurm.pl --mem 16G --gpu 1"
export train_cmd=${train_cmd:-run.pl}
export cuda_cmd=${cuda_cmd:-$train_cmd}
