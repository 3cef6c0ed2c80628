# path.sh — the recipe's environment (audiocl checkout, .venv, recipes/utils on PATH), shared by all recipes.
# shellcheck disable=SC1091
. "$(cd -P "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../../recipes/path.sh"
