"""``audiocl decode``: greedy or beam-search CTC decoding of a data dir (recipe stage 5)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "decode",
        help="decode a data dir with a fine-tuned CTC model (audiocl's or a converted HF / fairseq one) into a "
        "Kaldi text file of hypotheses",
        description="Greedy by default; --beam-size N uses torchaudio's flashlight CTC beam search, with a "
        "lexicon from --lexicon-from DATA (its text) and an n-gram LM (--lm FILE.arpa, or --lm-order N "
        "to build one from the same text).",
    )
    p.add_argument("--model", required=True,
                   help="a CTC model: a fine-tuning exp dir (or its model/ folder), or a CTC model fine-tuned "
                   "elsewhere (HF Wav2Vec2ForCTC with vocab.json, fairseq *_960h.pt with dict.ltr.txt) as a path, "
                   "URL, registry name or hf:ORG/NAME@REVISION (converted once into the model cache)")
    p.add_argument("--data", required=True, help="data dir to decode")
    p.add_argument("--out", required=True, help="output folder (hypotheses in OUT/text)")
    p.add_argument("--beam-size", type=int, default=0, help="0 = greedy")
    p.add_argument("--lexicon-from", default="", help="data dir whose transcripts give the lexicon words")
    p.add_argument("--lm", default="", help="ARPA or KenLM binary LM (needs --lexicon-from)")
    p.add_argument("--lm-order", type=int, default=0, help="build an ARPA LM of this order from --lexicon-from")
    p.add_argument("--lm-weight", type=float, default=2.0)
    p.add_argument("--word-score", type=float, default=0.0)
    p.add_argument("--num-threads", type=int, default=0)
    p.add_argument("--batch-seconds", type=float, default=100.0,
                   help="seconds of (padded) audio per batch; an utterance longer than this is a batch of its own")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import logging

    from audiocl.errors import ConfigError
    from audiocl.tasks.ctc_decode import DecodeConfig, decode_data_dir

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if (args.lm or args.lm_order) and not args.lexicon_from:
        raise ConfigError("an LM needs a lexicon: add --lexicon-from DATA")
    if args.batch_seconds <= 0:
        raise ConfigError(f"--batch-seconds must be > 0, got {args.batch_seconds}")
    if (args.lm or args.lm_order or args.lexicon_from) and args.beam_size <= 0:
        raise ConfigError("--lexicon-from/--lm/--lm-order need beam search: add --beam-size N")
    cfg = DecodeConfig(beam_size=args.beam_size, lexicon_from=args.lexicon_from, lm=args.lm, lm_order=args.lm_order,
                       lm_weight=args.lm_weight, word_score=args.word_score, num_threads=args.num_threads,
                       max_batch_seconds=args.batch_seconds)
    hyps = decode_data_dir(args.model, args.data, args.out, cfg)
    print(f"{args.out}/text: {len(hyps)} hypotheses")
    return 0
