"""Text tokenizers for CTC: characters and sentencepiece BPE, saved next to the model; and the fixed
vocabulary of a CTC model fine-tuned elsewhere (:class:`VocabTokenizer`, for decoding it).

Why two: characters need no training and suit tiny label sets (mini_tts, 10 min of LibriLight);
BPE units shorten the label sequence, which matters under CTC because an utterance needs at least
as many frames as labels (plus one per repeated label).

Conventions of the two trainable tokenizers (so the CTC model and the decoders never special-case them):

- id 0 is the CTC blank ``<blank>``; id 1 is ``<unk>``; the word separator is ``|`` for characters
  (wav2vec 2.0 / fairseq letter dictionaries use the same symbol) and sentencepiece's ``▁`` for BPE.
- Text is normalised before encoding (:func:`normalize_text`): upper case by default, runs of
  whitespace collapsed. Characters outside the vocabulary either map to ``<unk>`` (``oov="unk"``,
  counted in :attr:`Tokenizer.oov_counts`) or raise :class:`~audiocl.errors.DataDirError` naming the
  utterance (``oov="error"``).
- ``save(dir)`` / :func:`load_tokenizer` round-trip through plain files (``tokenizer.json`` and, for
  BPE, ``bpe.model``), never pickle.
"""

from __future__ import annotations

import collections
import json
import re
import unicodedata
from pathlib import Path
from typing import Iterable, Sequence

from audiocl.errors import ConfigError, DataDirError
from audiocl.utils.io import atomic_write_bytes, atomic_write_text

BLANK = "<blank>"
UNK = "<unk>"
WORD_SEP = "|"
TOKENIZER_FILE = "tokenizer.json"
BPE_MODEL_FILE = "bpe.model"


def normalize_text(text: str, case: str = "upper") -> str:
    """NFKC-normalise, fix the case and collapse whitespace (the form that is tokenized and scored)."""
    text = unicodedata.normalize("NFKC", text)
    if case == "upper":
        text = text.upper()
    elif case == "lower":
        text = text.lower()
    elif case != "keep":
        raise ConfigError(f"tokenizer case must be upper, lower or keep, got {case!r}")
    return re.sub(r"\s+", " ", text).strip()


class Tokenizer:
    """Common interface: ``encode(text, utt_id) -> list[int]``, ``decode(ids) -> str``."""

    kind = "base"
    blank_id = 0
    unk_id: int | None = 1

    def __init__(self, case: str = "upper", oov: str = "unk"):
        if oov not in ("unk", "error"):
            raise ConfigError(f"tokenizer oov must be 'unk' or 'error', got {oov!r}")
        self.case = case
        self.oov = oov
        self.oov_counts: collections.Counter[str] = collections.Counter()
        """How often each out-of-vocabulary character was mapped to ``<unk>`` (reported by training)."""

    # -- to be provided by subclasses
    @property
    def vocab(self) -> list[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def encode(self, text: str, utt_id: str | None = None) -> list[int]:  # pragma: no cover
        raise NotImplementedError

    def decode(self, ids: Sequence[int]) -> str:  # pragma: no cover
        raise NotImplementedError

    def save(self, directory: str | Path) -> None:  # pragma: no cover
        raise NotImplementedError

    # -- shared helpers
    def __len__(self) -> int:
        return len(self.vocab)

    @property
    def word_separator(self) -> str:
        return WORD_SEP

    def _oov(self, char: str, text: str, utt_id: str | None) -> None:
        if self.oov == "error" or self.unk_id is None:
            where = f"utterance {utt_id}: " if utt_id else ""
            fix = ("the vocabulary has no unknown symbol" if self.unk_id is None else
                   f"rebuild the tokenizer on this text or use oov=unk to map it to {UNK}")
            raise DataDirError(
                f"{where}character {char!r} (U+{ord(char[0]):04X}) in {text!r} is not in the tokenizer "
                f"vocabulary; {fix}"
            )
        self.oov_counts[char] += 1

    def _encode_chars(self, text: str, utt_id: str | None, index: dict[str, int], separator: str) -> list[int]:
        """Ids of the normalised text's characters, spaces as ``separator``; out-of-vocabulary ones via :meth:`_oov`."""
        norm = normalize_text(text, self.case)
        ids = []
        for ch in norm.replace(" ", separator):
            idx = index.get(ch)
            if idx is None:
                self._oov(ch, norm, utt_id)
                idx = self.unk_id
            ids.append(idx)
        return ids

    def oov_report(self) -> str:
        """One line naming the mapped characters and their counts (empty when none)."""
        if not self.oov_counts:
            return ""
        items = ", ".join(f"{c!r}x{n}" for c, n in self.oov_counts.most_common())
        return f"{sum(self.oov_counts.values())} out-of-vocabulary characters mapped to {UNK}: {items}"


class CharTokenizer(Tokenizer):
    """Characters of the normalised text; spaces become ``|``."""

    kind = "char"

    def __init__(self, symbols: Sequence[str], case: str = "upper", oov: str = "unk"):
        super().__init__(case=case, oov=oov)
        symbols = [s for s in symbols if s not in (BLANK, UNK)]
        if WORD_SEP not in symbols:
            symbols = [WORD_SEP] + list(symbols)
        if len(set(symbols)) != len(symbols):
            raise ConfigError(f"duplicate symbols in character vocabulary: {symbols}")
        self._vocab = [BLANK, UNK] + list(symbols)
        self._index = {s: i for i, s in enumerate(self._vocab)}

    @classmethod
    def build(cls, texts: Iterable[str], case: str = "upper", oov: str = "unk") -> "CharTokenizer":
        """Vocabulary = every character seen in ``texts`` after normalisation (sorted, ``|`` first)."""
        chars: set[str] = set()
        for text in texts:
            chars.update(normalize_text(text, case).replace(" ", WORD_SEP))
        chars.discard(WORD_SEP)
        return cls([WORD_SEP] + sorted(chars), case=case, oov=oov)

    @property
    def vocab(self) -> list[str]:
        return list(self._vocab)

    def encode(self, text: str, utt_id: str | None = None) -> list[int]:
        return self._encode_chars(text, utt_id, self._index, WORD_SEP)

    def decode(self, ids: Sequence[int]) -> str:
        out = []
        for i in ids:
            i = int(i)
            if i == self.blank_id:
                continue
            out.append(self._vocab[i])
        text = "".join(out).replace(WORD_SEP, " ")
        return re.sub(r"\s+", " ", text).strip()

    def save(self, directory: str | Path) -> None:
        meta = {"kind": self.kind, "case": self.case, "oov": self.oov, "vocab": self._vocab}
        atomic_write_text(Path(directory) / TOKENIZER_FILE, json.dumps(meta, ensure_ascii=False, indent=1) + "\n")


class BpeTokenizer(Tokenizer):
    """Sentencepiece BPE pieces; ids shifted so that 0 stays the CTC blank.

    Sentencepiece is trained with ``unk_id=1`` and ``bos/eos`` disabled, and id 0 is reserved with a
    user-defined ``<blank>`` piece, so sentencepiece ids equal CTC ids with no offset arithmetic.
    """

    kind = "bpe"

    def __init__(self, model_bytes: bytes, case: str = "upper", oov: str = "unk"):
        super().__init__(case=case, oov=oov)
        import sentencepiece as spm

        self._model_bytes = model_bytes
        self._sp = spm.SentencePieceProcessor(model_proto=model_bytes)
        self._vocab = [self._sp.id_to_piece(i) for i in range(self._sp.get_piece_size())]
        if self._vocab[0] != BLANK or self._vocab[1] != UNK:
            raise ConfigError(f"sentencepiece model must have {BLANK} at id 0 and {UNK} at id 1")
        self._chars = {c for p in self._vocab[2:] for c in p}

    @classmethod
    def build(cls, texts: Iterable[str], vocab_size: int = 100, case: str = "upper", oov: str = "unk",
              character_coverage: float = 1.0) -> "BpeTokenizer":
        """Train a BPE model on ``texts`` in memory (sentencepiece's trainer; no temp files left)."""
        import io

        import sentencepiece as spm

        lines = [normalize_text(t, case) for t in texts]
        lines = [ln for ln in lines if ln]
        if not lines:
            raise DataDirError("cannot train a BPE tokenizer: every transcript is empty")
        buf = io.BytesIO()
        kwargs = dict(
            sentence_iterator=iter(lines), model_writer=buf, model_type="bpe", vocab_size=vocab_size,
            character_coverage=character_coverage, pad_id=-1, bos_id=-1, eos_id=-1, unk_id=1,
            user_defined_symbols=[BLANK], unk_piece=UNK, hard_vocab_limit=False,
            minloglevel=2, num_threads=1,
        )
        try:
            spm.SentencePieceTrainer.train(**kwargs)
        except RuntimeError as exc:
            raise ConfigError(f"sentencepiece training failed: {exc}") from None
        return cls(buf.getvalue(), case=case, oov=oov)

    @property
    def vocab(self) -> list[str]:
        return list(self._vocab)

    @property
    def word_separator(self) -> str:
        return "\u2581"

    def encode(self, text: str, utt_id: str | None = None) -> list[int]:
        norm = normalize_text(text, self.case)
        for ch in norm:
            if ch != " " and ch not in self._chars:
                self._oov(ch, norm, utt_id)
        return [int(i) for i in self._sp.encode(norm)]

    def decode(self, ids: Sequence[int]) -> str:
        ids = [int(i) for i in ids if int(i) != self.blank_id]
        return re.sub(r"\s+", " ", self._sp.decode(ids)).strip()

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        atomic_write_bytes(directory / BPE_MODEL_FILE, self._model_bytes)
        meta = {"kind": self.kind, "case": self.case, "oov": self.oov, "model": BPE_MODEL_FILE,
                "vocab": self._vocab}
        atomic_write_text(directory / TOKENIZER_FILE, json.dumps(meta, ensure_ascii=False, indent=1) + "\n")


class VocabTokenizer(Tokenizer):
    """A fixed character vocabulary in the order a foreign CTC head emits it (HF ``vocab.json``, fairseq
    ``dict.ltr.txt``), with the blank, unknown and word-separator symbols wherever that vocabulary puts them.

    :attr:`vocab` names the blank ``<blank>`` and the word separator ``|`` (the names the decoders of
    :mod:`audiocl.models.ctc_decoding` share, so beam search needs no special case); :attr:`symbols`
    keeps the source's own names. ``silent`` symbols are dropped from decoded text like the blank
    (fairseq's ``Dictionary.string`` drops ``<s>`` and ``</s>``); other specials such as ``<unk>`` stay
    in the text, as the source toolkits print them. ``lower_output`` lower-cases decoded text (HF's
    ``do_lower_case``).
    """

    kind = "vocab"

    def __init__(self, symbols: Sequence[str], *, blank: str, word_separator: str = WORD_SEP, unk: str | None = UNK,
                 silent: Sequence[str] = (), case: str = "keep", lower_output: bool = False, oov: str = "unk"):
        super().__init__(case=case, oov=oov)
        self.symbols = list(symbols)
        index = {s: i for i, s in enumerate(self.symbols)}
        if len(index) != len(self.symbols):
            raise ConfigError(f"duplicate symbols in the CTC vocabulary: {self.symbols}")
        for role, sym in (("blank", blank), ("word separator", word_separator)):
            if sym not in index:
                raise ConfigError(f"the CTC vocabulary has no {role} symbol {sym!r}: {self.symbols[:12]}...")
        self.blank_id = index[blank]
        self.unk_id = index.get(unk) if unk is not None else None
        self.separator = word_separator
        self.silent = [s for s in silent if s in index]
        self.lower_output = lower_output
        self._index = index
        self._dropped = {self.blank_id} | {index[s] for s in self.silent}
        shown = {blank: BLANK, word_separator: WORD_SEP}
        self._vocab = [shown.get(s, s) for s in self.symbols]
        if len(set(self._vocab)) != len(self._vocab):
            raise ConfigError(f"the CTC vocabulary uses {BLANK!r} or {WORD_SEP!r} for another symbol than its blank "
                              f"{blank!r} / word separator {word_separator!r}")

    @property
    def vocab(self) -> list[str]:
        return list(self._vocab)

    def encode(self, text: str, utt_id: str | None = None) -> list[int]:
        return self._encode_chars(text, utt_id, self._index, self.separator)

    def decode(self, ids: Sequence[int]) -> str:
        text = "".join(self.symbols[int(i)] for i in ids if int(i) not in self._dropped)
        text = re.sub(r"\s+", " ", text.replace(self.separator, " ")).strip()
        return text.lower() if self.lower_output else text

    def save(self, directory: str | Path) -> None:
        meta = {"kind": self.kind, "case": self.case, "oov": self.oov, "symbols": self.symbols,
                "blank": self.symbols[self.blank_id], "word_separator": self.separator,
                "unk": self.symbols[self.unk_id] if self.unk_id is not None else None, "silent": self.silent,
                "lower_output": self.lower_output}
        atomic_write_text(Path(directory) / TOKENIZER_FILE, json.dumps(meta, ensure_ascii=False, indent=1) + "\n")


def build_tokenizer(kind: str, texts: Iterable[str], *, vocab_size: int = 100, case: str = "upper",
                    oov: str = "unk") -> Tokenizer:
    """``kind`` is ``char`` or ``bpe``."""
    if kind == "char":
        return CharTokenizer.build(texts, case=case, oov=oov)
    if kind == "bpe":
        return BpeTokenizer.build(texts, vocab_size=vocab_size, case=case, oov=oov)
    raise ConfigError(f"unknown tokenizer kind {kind!r}; use char or bpe")


def load_tokenizer(directory: str | Path) -> Tokenizer:
    """Load a tokenizer written by ``Tokenizer.save(directory)``."""
    directory = Path(directory)
    path = directory / TOKENIZER_FILE
    if not path.is_file():
        raise ConfigError(f"no tokenizer found: {path} does not exist")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc})") from None
    kind = meta.get("kind")
    if kind == "char":
        return CharTokenizer(meta["vocab"], case=meta.get("case", "upper"), oov=meta.get("oov", "unk"))
    if kind == "bpe":
        model = directory / meta.get("model", BPE_MODEL_FILE)
        if not model.is_file():
            raise ConfigError(f"{path}: sentencepiece model {model} is missing")
        return BpeTokenizer(model.read_bytes(), case=meta.get("case", "upper"), oov=meta.get("oov", "unk"))
    if kind == VocabTokenizer.kind:
        return VocabTokenizer(meta["symbols"], blank=meta["blank"], word_separator=meta["word_separator"],
                              unk=meta.get("unk"), silent=meta.get("silent", ()), case=meta.get("case", "keep"),
                              lower_output=bool(meta.get("lower_output")), oov=meta.get("oov", "unk"))
    raise ConfigError(f"{path}: unknown tokenizer kind {kind!r}")
