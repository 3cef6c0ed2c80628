"""A CTC model fine-tuned elsewhere (HF ``Wav2Vec2ForCTC``, fairseq ``*_960h.pt``), rebuilt for decoding.

The hub converts such a checkpoint once into a release (:mod:`audiocl.hub.conversion`): the encoder as
``model.safetensors`` + ``config.yaml``, the CTC head (HF ``lm_head``, fairseq ``w2v_encoder.proj``)
as ``ctc_head.safetensors``, the vocabulary file(s) it came with, and ``conversion.json`` naming the
source format. Here that release becomes a :class:`~audiocl.models.ctc_asr.CtcAsrModel` (the same
model audiocl's own fine-tuning saves) and a :class:`~audiocl.data.tokenizer.VocabTokenizer` that
decodes the head's ids the way the source toolkit does:

- **HF** (``vocab.json``: symbol -> id; special tokens from ``tokenizer_config.json`` /
  ``special_tokens_map.json``, else ``Wav2Vec2CTCTokenizer``'s defaults): the CTC blank is the pad
  token ``<pad>`` (``Wav2Vec2ForCTC`` trains with ``blank=pad_token_id``; the tokenizer drops the pad
  token after merging repeats), ``|`` is the word delimiter, ``<unk>`` the unknown token; the other
  specials stay in the text (``batch_decode``'s default). ``do_lower_case`` upper-cases text to encode
  and lower-cases what is decoded.
- **fairseq** (``dict.ltr.txt``: one ``SYMBOL COUNT`` line per symbol): ``Dictionary`` puts ``<s>``,
  ``<pad>``, ``</s>``, ``<unk>`` at ids 0-3 and the file's symbols after them, in file order. The blank
  is ``<ctc_blank>`` when the dictionary has one, else ``<s>`` (id 0): what fairseq's CTC decoders
  (``W2lViterbiDecoder``, ``examples/speech_recognition`` ``BaseDecoder``) use. ``Dictionary.string``
  drops ``<s>`` and ``</s>``, and ``letter`` post-processing turns ``|`` into spaces.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from audiocl.data.tokenizer import UNK, WORD_SEP, VocabTokenizer
from audiocl.errors import ConfigError
from audiocl.hub.release import load_release
from audiocl.models.ctc_asr import CtcAsrModel, CtcModelConfig, build_ctc_model

CTC_HEAD = "ctc_head.safetensors"
HF_VOCAB = "vocab.json"
FAIRSEQ_DICTS = ("dict.ltr.txt", "dict.txt")
HF_DEFAULTS = {"pad_token": "<pad>", "unk_token": UNK, "word_delimiter_token": WORD_SEP, "do_lower_case": False}
FAIRSEQ_SPECIALS = ("<s>", "<pad>", "</s>", UNK)


def is_foreign_ctc(folder: str | Path) -> bool:
    """Whether ``folder`` is a converted release that carries a CTC head."""
    folder = Path(folder)
    return folder.is_dir() and (folder / CTC_HEAD).is_file() and (folder / "model.safetensors").is_file()


def _case_of(symbols: list[str]) -> str:
    """``upper`` / ``lower`` when every letter of the vocabulary has that case (text is normalised to it)."""
    letters = [c for s in symbols if len(s) == 1 for c in s if c.isalpha()]
    if letters and all(c.isupper() for c in letters):
        return "upper"
    if letters and all(c.islower() for c in letters):
        return "lower"
    return "keep"


def _token(value: Any) -> Any:
    """HF writes a special token as a string or as ``{"content": ...}`` (an ``AddedToken``)."""
    return value.get("content") if isinstance(value, dict) else value


def hf_tokenizer(folder: str | Path) -> VocabTokenizer:
    """The vocabulary of an HF ``Wav2Vec2CTCTokenizer`` saved in ``folder`` (see the module docstring)."""
    folder = Path(folder)
    path = folder / HF_VOCAB
    try:
        vocab = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the CTC vocabulary ({exc})") from None
    if not isinstance(vocab, dict) or not vocab:
        raise ConfigError(f"{path}: expected a JSON object mapping symbols to ids")
    if any(isinstance(v, dict) for v in vocab.values()):
        raise ConfigError(f"{path}: a vocabulary per language (target_lang) is not supported; save the "
                          "tokenizer with the one language you decode")
    ids = sorted(vocab.values())
    if ids != list(range(len(ids))):
        raise ConfigError(f"{path}: symbol ids must be 0..{len(ids) - 1} without gaps or repeats")
    special = dict(HF_DEFAULTS)
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        if (folder / name).is_file():
            try:
                cfg = json.loads((folder / name).read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{folder / name}: not valid JSON ({exc})") from None
            special.update({k: _token(cfg[k]) for k in HF_DEFAULTS if cfg.get(k) is not None})
    symbols = [s for s, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
    lower = bool(special["do_lower_case"])
    return VocabTokenizer(symbols, blank=special["pad_token"], word_separator=special["word_delimiter_token"],
                          unk=special["unk_token"] if special["unk_token"] in vocab else None,
                          case="upper" if lower else _case_of(symbols), lower_output=lower)


def fairseq_tokenizer(path: str | Path) -> VocabTokenizer:
    """The target dictionary of a fairseq fine-tuned model from its ``dict.ltr.txt`` (see the module docstring)."""
    path = Path(path)
    symbols = list(FAIRSEQ_SPECIALS)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the fairseq dictionary ({exc})") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        fields = line.rstrip().rsplit(" ", 1)
        if len(fields) != 2:
            raise ConfigError(f"{path}:{number}: expected 'SYMBOL COUNT', got {line!r}")
        word, flag = fields
        overwrite = flag == "#fairseq:overwrite"
        if overwrite:
            word = word.rsplit(" ", 1)[0]
        if word in symbols:
            if not overwrite:
                raise ConfigError(f"{path}:{number}: duplicate symbol {word!r}")
            continue
        symbols.append(word)
    blank = "<ctc_blank>" if "<ctc_blank>" in symbols else "<s>"
    return VocabTokenizer(symbols, blank=blank, word_separator=WORD_SEP, unk=UNK, silent=("<s>", "</s>"),
                          case=_case_of(symbols[len(FAIRSEQ_SPECIALS):]))


def foreign_tokenizer(folder: str | Path) -> VocabTokenizer:
    """The vocabulary shipped beside a converted CTC head, read with its source toolkit's conventions."""
    folder = Path(folder)
    source = ""
    if (folder / "conversion.json").is_file():
        source = str(json.loads((folder / "conversion.json").read_text(encoding="utf-8")).get("source_format", ""))
    fairseq_dict = next((folder / n for n in FAIRSEQ_DICTS if (folder / n).is_file()), None)
    if (folder / HF_VOCAB).is_file() and (source != "fairseq" or fairseq_dict is None):
        return hf_tokenizer(folder)
    if fairseq_dict is not None:
        return fairseq_tokenizer(fairseq_dict)
    raise ConfigError(f"{folder}: the CTC head came without a vocabulary ({HF_VOCAB} or {FAIRSEQ_DICTS[0]}); "
                      "put the one the model was fine-tuned with beside the checkpoint and convert it again")


def load_foreign_ctc_model(folder: str | Path) -> tuple[CtcAsrModel, VocabTokenizer]:
    """``(model in eval mode, tokenizer)`` of a converted fine-tuned release (:func:`is_foreign_ctc`)."""
    from safetensors.torch import load_file

    folder = Path(folder)
    tokenizer = foreign_tokenizer(folder)
    upstream, info = load_release(folder)
    if info.ssl_type != "wav2vec2":
        raise ConfigError(f"{folder}: a CTC head on a {info.ssl_type!r} encoder; only wav2vec 2.0 heads are decoded")
    head = load_file(str(folder / CTC_HEAD))
    weight = head.get("weight")
    dim = int(upstream.cfg.encoder_embed_dim)
    if weight is None or "bias" not in head or tuple(weight.shape) != (len(tokenizer), dim):
        shape = None if weight is None else tuple(weight.shape)
        raise ConfigError(f"{folder / CTC_HEAD}: expected weight ({len(tokenizer)}, {dim}) and bias for the "
                          f"{len(tokenizer)}-symbol vocabulary, got keys {sorted(head)} and weight {shape}")
    model = build_ctc_model("wav2vec2", upstream, len(tokenizer), CtcModelConfig())
    model.head.load_state_dict({"weight": weight, "bias": head["bias"]})
    model.eval()
    return model, tokenizer
