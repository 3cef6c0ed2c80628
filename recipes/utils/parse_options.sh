#!/usr/bin/env bash
# parse_options.sh — Kaldi-style command-line options for recipe scripts (audiocl's own implementation).
#
# Source it, WITHOUT arguments, after defining the script's variables:
#
#     stage=0; nj=4; use_gpu=false
#     help_message="Usage: run.sh [options] <data-dir>"
#     . parse_options.sh || exit 1
#
# Semantics (as in Kaldi's utils/parse_options.sh):
#   --foo-bar VALUE   sets foo_bar=VALUE, but only if foo_bar is already defined; an unknown option is an
#                     error naming it (exit 1). --foo_bar VALUE and --foo-bar=VALUE are accepted too.
#   booleans          a variable whose current value is true|false only accepts true|false.
#   --config FILE     sources FILE (shell `name=value` lines) at that point; later options override it.
#   --help | -h       prints $help_message and exits 0.
#   --                ends option parsing. The first non-option argument ends it too; the remaining
#                     arguments are left in "$@" for the calling script.
# Afterwards $parse_options_set lists the variables the command line set (space separated), so a caller can
# tell "given, perhaps equal to the default" from "not given" (recipes/knobs.sh uses it).
# No eval: names are checked against [A-Za-z_][A-Za-z0-9_]* and values assigned with printf -v, so a value
# may contain spaces, quotes, `$` or `;` safely.

__po_name_of() {  # --foo-bar -> foo_bar
  local n=${1#--}
  printf '%s' "${n//-/_}"
}

__po_print_help() {
  if [ -n "${help_message:-}" ]; then
    printf '%s\n' "$help_message"
  else
    echo "Usage: $0 [options] (no help_message defined by the script)"
  fi
}

parse_options_set=""
while [ $# -gt 0 ]; do
  case "$1" in
    --help|-h)
      __po_print_help
      exit 0
      ;;
    --)
      shift
      break
      ;;
    --config|--config=*)
      if [ "$1" = --config ]; then
        if [ $# -lt 2 ]; then echo "$0: option --config needs a file argument" >&2; exit 1; fi
        __po_value=$2; shift 2
      else
        __po_value=${1#--config=}; shift
      fi
      if [ ! -f "$__po_value" ]; then echo "$0: --config: no such file: $__po_value" >&2; exit 1; fi
      # shellcheck disable=SC1090
      . "$__po_value" || { echo "$0: error sourcing config file $__po_value" >&2; exit 1; }
      ;;
    --?*)
      if [[ "$1" == *=* ]]; then
        __po_opt=${1%%=*}; __po_value=${1#*=}; shift
      else
        if [ $# -lt 2 ]; then echo "$0: option $1 needs a value" >&2; exit 1; fi
        __po_opt=$1; __po_value=$2; shift 2
      fi
      __po_var=$(__po_name_of "$__po_opt")
      if ! [[ "$__po_var" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]]; then
        echo "$0: invalid option name: $__po_opt" >&2; exit 1
      fi
      if [ -z "${!__po_var+defined}" ]; then
        echo "$0: unknown option $__po_opt (no variable '$__po_var' in this script; see --help)" >&2
        exit 1
      fi
      if [ "${!__po_var}" = true ] || [ "${!__po_var}" = false ]; then
        case "$__po_value" in
          true|false) ;;
          *) echo "$0: option $__po_opt expects true or false, got '$__po_value'" >&2; exit 1 ;;
        esac
      fi
      printf -v "$__po_var" '%s' "$__po_value"
      parse_options_set+="${parse_options_set:+ }$__po_var"
      ;;
    *)
      break
      ;;
  esac
done
unset -v __po_opt __po_value __po_var
unset -f __po_name_of __po_print_help
true
