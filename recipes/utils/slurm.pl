#!/usr/bin/env bash
# slurm.pl — run JOB=1:N jobs as one SLURM sbatch array, Kaldi style (a bash wrapper, not Perl).
#   slurm.pl [--mem 4G] [--num-threads N] [--gpu N] [--time T] [--partition P] [--max-jobs-run N]
#            [--sbatch-args "..."] [--poll true] JOB=1:N exp/log/name.JOB.log COMMAND [ARGS with JOB...]
# Logic and documentation: audiocl/recipe/launcher.py (started by launcher.sh, shared with run.pl).
__here=${BASH_SOURCE[0]%/*}; [ "$__here" != "${BASH_SOURCE[0]}" ] || __here=.   # its folder, without dirname
# shellcheck source=launcher.sh disable=SC1091
. "$__here/launcher.sh" slurm "$@"
