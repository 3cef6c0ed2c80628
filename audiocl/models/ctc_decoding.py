"""CTC decoding: greedy (best path) and beam search with torchaudio's flashlight-text decoder.

- :func:`greedy_decode` takes the arg-max label per frame, merges repeats, drops blanks (what
  fairseq's ``viterbi`` decoder and HF ``Wav2Vec2CTCTokenizer`` do).
- :class:`BeamSearchDecoder` wraps ``torchaudio.models.decoder.ctc_decoder`` (flashlight-text's
  lexicon / lexicon-free beam search) with an optional lexicon (words spelled in the tokenizer's
  units, built from training transcripts) and an optional KenLM n-gram LM in ARPA format.
- :func:`write_arpa` builds that ARPA LM from transcripts in pure Python (interpolated absolute
  discounting, "On structuring probabilistic dependences in stochastic language modelling", Ney,
  Essen & Kneser 1994; discount D = 0.5 is a common default), so a recipe needs no KenLM binaries;
  any KenLM/SRILM ARPA file works as well.

Beam-search defaults (beam 50, LM weight 2, word score 0, beam threshold 25) follow the order of
magnitude of torchaudio's LibriSpeech tutorial; they are knobs, not tuned values.
"""

from __future__ import annotations

import collections
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import torch
from torch import Tensor

from audiocl.data.tokenizer import BLANK, UNK, WORD_SEP, BpeTokenizer, Tokenizer, normalize_text
from audiocl.errors import ConfigError, DataDirError
from audiocl.utils.io import atomic_write_text


def greedy_decode(log_probs: Tensor, lengths: Tensor | None = None, blank_id: int = 0) -> list[list[int]]:
    """``(B, T, V)`` scores -> per utterance the label ids after merging repeats and removing blanks."""
    best = log_probs.argmax(dim=-1).cpu()
    out = []
    for b in range(best.shape[0]):
        n = int(lengths[b]) if lengths is not None else best.shape[1]
        seq = best[b, :n]
        if n == 0:
            out.append([])
            continue
        keep = torch.ones(n, dtype=torch.bool)
        keep[1:] = seq[1:] != seq[:-1]
        seq = seq[keep]
        out.append([int(i) for i in seq if int(i) != blank_id])
    return out


@dataclass
class BeamSearchConfig:
    """Knobs of the flashlight beam search (see module docstring for where the defaults come from)."""

    beam_size: int = 50
    beam_size_token: int | None = None
    beam_threshold: float = 25.0
    lm_weight: float = 2.0
    word_score: float = 0.0
    unk_score: float = float("-inf")
    sil_score: float = 0.0
    log_add: bool = False
    nbest: int = 1


def build_lexicon(words: Iterable[str], tokenizer: Tokenizer) -> dict[str, list[str]]:
    """Spell every word in the tokenizer's units (characters + ``|``, or BPE pieces).

    Words whose spelling needs ``<unk>`` are left out (the decoder could never produce them sensibly).
    """
    vocab = tokenizer.vocab
    lex: dict[str, list[str]] = {}
    for word in sorted(set(words)):
        if not word or word == UNK:
            continue
        saved = tokenizer.oov_counts.copy()
        try:
            ids = tokenizer.encode(word)
        except DataDirError:  # oov="error" tokenizers refuse the word: it cannot be spelled
            tokenizer.oov_counts = saved
            continue
        needs_unk = tokenizer.oov_counts != saved
        tokenizer.oov_counts = saved  # spelling the lexicon is not a training-text OOV
        if needs_unk:
            continue
        if not ids or tokenizer.unk_id in ids:
            continue
        spelled = [vocab[i] for i in ids]
        if not isinstance(tokenizer, BpeTokenizer):
            spelled = spelled + [WORD_SEP]
        lex[word] = spelled
    return lex


def write_lexicon(lexicon: dict[str, list[str]], path: str | Path) -> Path:
    atomic_write_text(Path(path), "".join(f"{w} {' '.join(sp)}\n" for w, sp in sorted(lexicon.items())))
    return Path(path)


def write_arpa(texts: Iterable[str], path: str | Path, order: int = 2, discount: float = 0.5) -> Path:
    """Write an interpolated absolute-discounting n-gram LM of ``texts`` (already normalised words).

    Unigrams are add-one smoothed over the vocabulary plus ``<unk>`` so that every word, including
    unseen ones, has a finite probability. Sentence boundaries are ``<s>`` and ``</s>``.
    """
    if order < 1:
        raise ConfigError(f"LM order must be >= 1, got {order}")
    if not 0.0 < discount < 1.0:
        raise ConfigError(f"LM discount must be in (0, 1), got {discount}")
    counts: list[collections.Counter] = [collections.Counter() for _ in range(order + 1)]
    for text in texts:
        words = text.split()
        if not words:
            continue
        sent = ["<s>"] + words + ["</s>"]
        for n in range(1, order + 1):
            for i in range(len(sent) - n + 1):
                gram = tuple(sent[i:i + n])
                if n == 1 and gram == ("<s>",):
                    continue
                counts[n][gram] += 1
    if not counts[1]:
        raise ConfigError("cannot build an LM: no words in the training text")
    vocab = sorted({g[0] for g in counts[1]} | {UNK})
    total = sum(counts[1].values())
    prob: list[dict[tuple, float]] = [dict() for _ in range(order + 1)]
    for w in vocab:
        prob[1][(w,)] = (counts[1].get((w,), 0) + 1) / (total + len(vocab))
    backoff: list[dict[tuple, float]] = [dict() for _ in range(order + 1)]
    for n in range(2, order + 1):
        hist_total: collections.Counter = collections.Counter()
        hist_types: collections.Counter = collections.Counter()
        for gram, c in counts[n].items():
            hist_total[gram[:-1]] += c
            hist_types[gram[:-1]] += 1
        for gram, c in counts[n].items():
            h = gram[:-1]
            gamma = discount * hist_types[h] / hist_total[h]
            prob[n][gram] = max(c - discount, 0.0) / hist_total[h] + gamma * prob[n - 1][gram[1:]]
        # backoff weight of each history h so that the ARPA model sums to one
        seen_hi: collections.defaultdict = collections.defaultdict(float)
        seen_lo: collections.defaultdict = collections.defaultdict(float)
        for gram, p in prob[n].items():
            seen_hi[gram[:-1]] += p
            seen_lo[gram[:-1]] += prob[n - 1][gram[1:]]
        for h in seen_hi:
            num, den = max(1.0 - seen_hi[h], 1e-12), max(1.0 - seen_lo[h], 1e-12)
            backoff[n - 1][h] = num / den
    lines = ["\\data\\"]
    lines += [f"ngram {n}={len(prob[n]) + (1 if n == 1 else 0)}" for n in range(1, order + 1)]
    for n in range(1, order + 1):
        lines.append("")
        lines.append(f"\\{n}-grams:")
        entries = sorted(prob[n].items())
        if n == 1:
            if order > 1:
                lines.append(f"-99\t<s>\t{math.log10(backoff[1].get(('<s>',), 1.0)):.6f}")
            else:
                lines.append("-99\t<s>")
        for gram, p in entries:
            line = f"{math.log10(p):.6f}\t{' '.join(gram)}"
            if n < order:
                bo = backoff[n].get(gram, 1.0)
                line += f"\t{math.log10(bo):.6f}"
            lines.append(line)
    lines += ["", "\\end\\", ""]
    atomic_write_text(Path(path), "\n".join(lines))
    return Path(path)


class BeamSearchDecoder:
    """Flashlight beam search over CTC log-probabilities ``(B, T, V)``.

    ``lexicon``: ``None`` = lexicon-free (any token sequence), or a dict ``word -> spelling`` (see
    :func:`build_lexicon`), or a path to a lexicon file. ``lm``: ``None`` or a path to an ARPA /
    KenLM binary file (requires a lexicon, as in flashlight).
    """

    def __init__(self, tokenizer: Tokenizer, lexicon: dict[str, list[str]] | str | Path | None = None,
                 lm: str | Path | None = None, config: BeamSearchConfig | None = None):
        from torchaudio.models.decoder import ctc_decoder

        self.tokenizer = tokenizer
        self.config = config or BeamSearchConfig()
        if lm is not None and lexicon is None:
            raise ConfigError("an n-gram LM needs a lexicon (flashlight decodes words against the LM)")
        if lm is not None and not Path(lm).is_file():
            raise ConfigError(f"language model not found: {lm}")
        self._tmp = tempfile.TemporaryDirectory(prefix="audiocl_decoder_")
        tokens_path = Path(self._tmp.name) / "tokens.txt"
        tokens_path.write_text("".join(f"{t}\n" for t in tokenizer.vocab), encoding="utf-8")
        lex_path: str | None
        if isinstance(lexicon, dict):
            if not lexicon:
                raise ConfigError("the lexicon is empty: no word could be spelled with the tokenizer")
            lex_path = str(write_lexicon(lexicon, Path(self._tmp.name) / "lexicon.txt"))
        elif lexicon is not None:
            if not Path(lexicon).is_file():
                raise ConfigError(f"lexicon not found: {lexicon}")
            lex_path = str(lexicon)
        else:
            lex_path = None
        self.uses_lexicon = lex_path is not None
        sil = WORD_SEP if WORD_SEP in tokenizer.vocab else BLANK
        c = self.config
        try:
            self._decoder = ctc_decoder(
                lexicon=lex_path, tokens=str(tokens_path), lm=str(lm) if lm is not None else None,
                nbest=c.nbest, beam_size=c.beam_size, beam_size_token=c.beam_size_token,
                beam_threshold=c.beam_threshold, lm_weight=c.lm_weight, word_score=c.word_score,
                unk_score=c.unk_score, sil_score=c.sil_score, log_add=c.log_add,
                blank_token=BLANK, sil_token=sil, unk_word=UNK,
            )
        except RuntimeError as exc:
            raise ConfigError(f"could not build the beam-search decoder: {exc}") from None

    def __call__(self, log_probs: Tensor, lengths: Tensor | None = None) -> list[str]:
        emissions = log_probs.detach().float().cpu().contiguous()
        lens = lengths.cpu().to(torch.int32) if lengths is not None else None
        results = self._decoder(emissions, lens)
        texts = []
        for hyps in results:
            if not hyps:
                texts.append("")
                continue
            best = hyps[0]
            if self.uses_lexicon:
                texts.append(" ".join(w for w in best.words if w not in (UNK, "<s>", "</s>")))
            else:
                texts.append(self.tokenizer.decode([int(t) for t in best.tokens]))
        return texts


def decode_batch(log_probs: Tensor, lengths: Tensor | None, tokenizer: Tokenizer,
                 beam: BeamSearchDecoder | None = None) -> list[str]:
    """Texts for a batch: beam search when ``beam`` is given, else greedy."""
    if beam is not None:
        return beam(log_probs, lengths)
    return [tokenizer.decode(ids) for ids in greedy_decode(log_probs, lengths, tokenizer.blank_id)]


def texts_to_words(texts: Sequence[str], case: str = "upper") -> list[str]:
    return [w for t in texts for w in normalize_text(t, case).split()]
