# recipes/knobs.sh — the option registry of a recipe (sourced by recipes/template.sh).
#
# Every option of the shared template and of each stage is declared once, in one explicit list at the top of
# its file, with a default and a line of help:
#
#     knob ssl_type     wav2vec2          "wav2vec2 | cpc"
#     knob pretrain_exp '$expdir/pretrain' "pretraining experiment dir; stages 4 and 6 take the upstream from it"
#
# The registry is what makes a knob an option (--ssl-type cpc sets ssl_type), what --help lists, and what
# lets a default follow other options: a default is written in single quotes and may name knobs declared
# before it ($expdir above). It is expanded once before the command line is parsed (so parse_options.sh sees
# a value, and a true|false default makes the option boolean) and once after, for every knob the command
# line did not set, so "$expdir/pretrain" follows --expdir. Only defaults, which are code of the recipe,
# are expanded; values from run.sh or the command line are used as given.
#
# A knob that the recipe's run.sh sets before sourcing the template keeps that value as its default
# (e.g. egs/iemocap sets cls_label_file=utt2emo). A name declared twice is an error naming both files.

declare -a __knob_names=()
declare -A __knob_default=() __knob_help=() __knob_where=() __knob_preset=() __knob_before=()
__knob_file="recipes/template.sh"   # the file whose declarations come next (set by the template)

__knob_fail() {
  echo "$0: $*" >&2
  exit 1
}

# knob NAME DEFAULT HELP: declare an option of the file being sourced.
knob() {
  if [ $# -ne 3 ]; then __knob_fail "$__knob_file: usage: knob NAME DEFAULT \"HELP\" (got: knob $*)"; fi
  local name=$1
  if ! [[ "$name" =~ ^[a-z][a-z0-9_]*$ ]]; then
    __knob_fail "$__knob_file: knob name '$name' must be lower case letters, digits and _"
  fi
  if [ -n "${__knob_where[$name]+x}" ]; then
    __knob_fail "knob '$name' is declared twice: in ${__knob_where[$name]} and in $__knob_file (declare it once; other stages may read it)"
  fi
  __knob_names+=("$name")
  __knob_default[$name]=$2
  __knob_help[$name]=$3
  __knob_where[$name]=$__knob_file
  if [ -n "${!name+x}" ]; then
    __knob_preset[$name]=1   # set by the recipe's run.sh before the template: that value is the default
  else
    __knob_expand "$name"
  fi
  __knob_before[$name]=${!name}
}

# Set knob NAME to its expanded default (a default is recipe code; see the header).
__knob_expand() {
  local __value
  eval "__value=\"${__knob_default[$1]}\""
  printf -v "$1" '%s' "$__value"
}

# After parse_options.sh: re-expand, in declaration order, the defaults of knobs that neither run.sh nor the
# command line set ($parse_options_set names those the command line set; a --config file is seen by the value
# having changed), so defaults see the final values of the knobs they name.
knobs_resolve() {
  local name
  for name in "${__knob_names[@]}"; do
    [ -z "${__knob_preset[$name]+x}" ] || continue
    [[ " ${parse_options_set:-} " != *" $name "* ]] || continue
    [ "${!name}" = "${__knob_before[$name]}" ] || continue
    __knob_expand "$name"
  done
}

# The names of all declared knobs, one per line.
knobs_list() {
  printf '%s\n' "${__knob_names[@]}"
}

# --help text: one block per file, each knob with its help and default (unless the help states its default).
knobs_help() {
  local name file="" value flag
  for name in "${__knob_names[@]}"; do
    if [ "${__knob_where[$name]}" != "$file" ]; then
      file=${__knob_where[$name]}
      printf '%s:\n' "$(__knob_heading "$file")"
    fi
    value=${!name}
    flag=--${name//_/-}
    case "$value" in
      true|false) flag+=" true|false" ;;
      ''|*[!0-9]*) ;;
      *) flag+=" N" ;;
    esac
    if [[ "${__knob_help[$name]}" == *"default:"* ]]; then
      printf '  %-22s %s\n' "$flag" "${__knob_help[$name]}"
    else
      printf "  %-22s %s (default: '%s')\n" "$flag" "${__knob_help[$name]}" "$value"
    fi
  done
}

__knob_heading() {
  local base
  base=$(basename "$1" .sh)
  if [[ "$base" =~ ^([0-9][0-9])_(.*)$ ]]; then
    printf 'Stage %d (%s), %s' "$((10#${BASH_REMATCH[1]}))" "${BASH_REMATCH[2]}" "$1"
  else
    printf 'Options shared by all recipes, %s' "$1"
  fi
}
