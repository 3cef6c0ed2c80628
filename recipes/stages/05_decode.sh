# Stage 5: decoding + scoring of every stage-4 model on $dev_set and $test_sets, one $cmd job per model and
# set (recipes/template.sh sources this file). Greedy by default; beam search with a lexicon and an n-gram
# LM built from the training transcripts: --decode-opts '--beam-size 50 --lexicon-from data/train --lm-order 2'.
# Writes $expdir/ctc_*/decode_<set>/{text,metrics.json,result.md}; sets without a text file are decoded only.

knob decode_opts "" "more 'audiocl decode' options, e.g. '--beam-size 50 --lexicon-from data/train --lm-order 2'"

stage_decode() {
  local x s found=false
  for x in "$expdir"/ctc_*; do
    [ -f "$x/model/model.safetensors" ] || continue
    found=true
    for s in $dev_set $test_sets; do
      [ -f "$datadir/$s/wav.scp" ] || { log "no data dir $datadir/$s; skipping"; continue; }
      # shellcheck disable=SC2086
      $cmd "$expdir/log/decode_$(basename "$x")_$s.log" \
        audiocl decode --model "$x" --data "$datadir/$s" --out "$x/decode_$s" $decode_opts
      if [ -f "$datadir/$s/text" ]; then
        audiocl score --ref "$datadir/$s" --hyp "$x/decode_$s/text"
      fi
    done
  done
  if ! $found; then
    echo "no fine-tuned model under $expdir/ctc_*/model: run stage 4 first (--stage 4)" >&2
    return 1
  fi
}
