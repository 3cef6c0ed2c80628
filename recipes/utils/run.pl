#!/usr/bin/env bash
# run.pl — run JOB=1:N jobs on this machine, Kaldi style (a bash wrapper, not Perl; the name is for Kaldi users).
#   run.pl [--max-jobs-run N] JOB=1:N exp/log/name.JOB.log COMMAND [ARGS with JOB...]
# Logic and documentation: audiocl/recipe/launcher.py (started by launcher.sh, shared with slurm.pl).
__here=${BASH_SOURCE[0]%/*}; [ "$__here" != "${BASH_SOURCE[0]}" ] || __here=.   # its folder, without dirname
# shellcheck source=launcher.sh disable=SC1091
. "$__here/launcher.sh" local "$@"
