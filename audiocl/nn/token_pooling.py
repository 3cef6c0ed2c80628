"""A trainable, order-aware pooling of a frozen text encoder's token states.

Why: in the mean of all-MiniLM-L6-v2's token states (its sentence embedding) an order-swapped caption lands
closer to the original than a paraphrase does: word order is a small direction of the pooled vector (a
linear reader still recovers which event a caption mentions first, see
``docs/experiments/clap-order-and-family.md``). Fine-tuning the encoder sees order directly but costs far
more than a small model's training budget. This module keeps the encoder frozen and replaces only the
pooling: the token states go through a narrow residual branch (down-projection, sinusoidal positions,
one pre-norm transformer layer, up-projection) and are then pooled with learned attention weights.

**Start = mean pooling.** The branch's up-projection and the attention query start at zero, so an untrained
pooler returns exactly the L2-normalised masked mean of the token states, the sentence feature the rest of
the CLAP recipe was tuned on; training moves away from it only as far as the loss asks.

**Padding-invariant.** Padded tokens are masked out of the attention keys and of the pooling weights, so a
caption's feature does not depend on the other captions of its batch.

Token states travel as :class:`TokenStates` (ragged rows, so a cached table of thousands of captions is not
padded to its longest one); the pooler pads only its narrow branch, ``(N, T, width)`` with ``True = padded``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class TokenPoolerConfig:
    """Size of the order branch; small, because it runs on every caption and hard negative of each step."""

    width: int = 64
    """Inner width of the branch (the token states are projected down to it and back)."""
    heads: int = 4
    ffn_dim: int = 128
    dropout: float = 0.0
    """Off by default: on CPU, dropout of the attention weights costs about as much as the layer itself."""


class TokenStates:
    """Per-token encoder outputs of ``N`` texts as ragged rows: ``values`` ``(sum(lengths), D)`` in text order.

    Indexing with text ids gives the subset (so a cached table is used like a feature matrix);
    :meth:`padding_mask` lays the rows out as an ``(N, T)`` batch, ``T`` the longest selected text.
    """

    def __init__(self, values: Tensor, lengths: Tensor):
        self.values = values
        self.lengths = lengths.to(torch.long)
        self.offsets = torch.cat([lengths.new_zeros(1, dtype=torch.long), self.lengths.cumsum(0)])

    @classmethod
    def from_padded(cls, states: Tensor, padding: Tensor) -> "TokenStates":
        keep = ~padding
        return cls(states[keep], keep.sum(1).cpu())

    @classmethod
    def cat(cls, parts: list["TokenStates"]) -> "TokenStates":
        return cls(torch.cat([p.values for p in parts]), torch.cat([p.lengths for p in parts]))

    def __len__(self) -> int:
        return int(self.lengths.shape[0])

    def __getitem__(self, ids: Tensor | slice) -> "TokenStates":
        ids = torch.arange(len(self))[ids] if isinstance(ids, slice) else ids.to("cpu", torch.long)
        lens = self.lengths[ids]
        starts = self.offsets[ids]
        rows = torch.repeat_interleave(starts - torch.cat([lens.new_zeros(1), lens.cumsum(0)[:-1]]), lens)
        return TokenStates(self.values[(rows + torch.arange(int(lens.sum()))).to(self.values.device)], lens)

    @property
    def dim(self) -> int:
        return int(self.values.shape[-1])

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> "TokenStates":
        return TokenStates(self.values.to(device=device, dtype=dtype), self.lengths)

    def detach(self) -> "TokenStates":
        return TokenStates(self.values.detach(), self.lengths)

    def padding_mask(self) -> Tensor:
        """``(N, T)`` with ``True = padded``; ``x[~mask] = values`` fills a padded ``(N, T, ...)`` batch."""
        t = int(self.lengths.max()) if len(self) else 0
        device = self.values.device
        return torch.arange(t, device=device)[None, :] >= self.lengths.to(device)[:, None]

    def owner(self) -> Tensor:
        """The text of each row of ``values`` ``(sum(lengths),)`` (for sums over each text's tokens)."""
        return torch.repeat_interleave(torch.arange(len(self)), self.lengths).to(self.values.device)

    def mean(self) -> Tensor:
        """L2-normalised mean over each text's tokens ``(N, D)``: the encoder's own sentence embedding."""
        values = self.values.float()
        return F.normalize(values.new_zeros(len(self), self.dim).index_add_(0, self.owner(), values), dim=-1)


TextFeatures = Union[Tensor, TokenStates]
"""What a text tower gives per text: a sentence embedding row of an ``(N, D)`` tensor, or token states."""


def sentence_features(feats: TextFeatures) -> Tensor:
    """``(N, D)`` sentence embeddings of either kind of text features (token states: their mean), for uses
    that compare captions with each other rather than with audio (CWCL's caption-similarity weights)."""
    return feats.mean() if isinstance(feats, TokenStates) else feats


def sinusoidal_positions(length: int, dim: int, device: torch.device | None = None) -> Tensor:
    """Transformer sine/cosine position codes ``(length, dim)`` (fixed: nothing to store or to overfit)."""
    pos = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    out = torch.zeros(length, dim, device=device)
    out[:, 0::2] = torch.sin(pos * freq)
    out[:, 1::2] = torch.cos(pos * freq)[:, : dim // 2]
    return out


class TokenPooler(nn.Module):
    """Order-aware residual branch over token states, then attention pooling (module docstring).

    With ``x_t = s_t + U h_t`` (token state plus the up-projected branch) and weights ``w_t`` summing to one,
    the pooled ``sum_t w_t x_t`` equals ``sum_t w_t s_t + U sum_t w_t h_t``: the up-projection runs once per
    text instead of once per token, and nothing of the encoder's width is ever padded, which keeps the
    module cheap next to the rest of a training step. The attention score of a token is likewise split
    into a term on its state and a term on its branch output.
    """

    def __init__(self, dim: int, cfg: TokenPoolerConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or TokenPoolerConfig()
        self.down = nn.Linear(dim, cfg.width)
        self.layer = nn.TransformerEncoderLayer(cfg.width, cfg.heads, cfg.ffn_dim, cfg.dropout, activation="gelu",
                                                batch_first=True, norm_first=True)
        self.up = nn.Linear(cfg.width, dim)
        self.score_state = nn.Linear(dim, 1)
        self.score_branch = nn.Linear(cfg.width, 1, bias=False)
        for lin in (self.up, self.score_state, self.score_branch):  # start as the plain masked mean
            nn.init.zeros_(lin.weight)
            if lin.bias is not None:
                nn.init.zeros_(lin.bias)

    def forward(self, tokens: TokenStates) -> Tensor:
        """L2-normalised ``(N, D)`` features of ``tokens`` (ragged token states of ``N`` texts)."""
        values = tokens.values.float()
        n = len(tokens)
        padding = tokens.padding_mask()
        keep, t = ~padding, padding.shape[1]
        h = values.new_zeros(n, t, self.cfg.width)
        h[keep] = self.down(values)
        h = self.layer(h + sinusoidal_positions(t, self.cfg.width, values.device), src_key_padding_mask=padding)
        scores = values.new_zeros(n, t)
        scores[keep] = self.score_state(values).squeeze(-1)
        scores = (scores + self.score_branch(h).squeeze(-1)).masked_fill(padding, float("-inf"))
        weights = torch.softmax(scores, dim=1)
        pooled = values.new_zeros(n, values.shape[1]).index_add_(0, tokens.owner(), weights[keep][:, None] * values)
        pooled = pooled + self.up((weights[..., None] * h).sum(1))
        return F.normalize(pooled, dim=-1)
