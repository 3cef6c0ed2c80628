# Stage 0: download the corpus (recipes/template.sh sources this file; see recipes/stages/README.md).
# The corpus recipe defines corpus_download (e.g. calling local/download.sh); corpora that need no
# download (synthesized or already on disk) simply do not define it.

stage_download() {
  if declare -F corpus_download > /dev/null; then
    corpus_download
  else
    echo "this recipe has nothing to download"
  fi
}
