# cmd.sh — how the recipe launches jobs. Local by default; on a SLURM cluster use slurm.pl, e.g.
#   export train_cmd="slurm.pl --mem 4G --time 2:00:00"
#   export cuda_cmd="slurm.pl --mem 16G --gpu 1"
# (options: see recipes/utils/slurm.pl; run.pl accepts and ignores the cluster ones). --cmd overrides.
export train_cmd="run.pl"
export cuda_cmd="run.pl"
