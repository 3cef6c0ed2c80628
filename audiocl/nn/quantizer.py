"""Gumbel-softmax product quantizer (wav2vec 2.0 targets).

Source: Baevski et al., 2020 (sec. 2, "Quantization module"); defaults as fairseq BASE:
G=2 groups x V=320 entries, codeword dim 256/G, temperature ``max(2 * 0.999995**step, 0.5)``.

Training: straight-through hard Gumbel sampling (one-hot forward, soft gradient). Eval: argmax.
The lookup is a per-group matmul ``(N, V) @ (V, d)`` (or a gather in eval), never the
``(N, G*V, d)`` broadcast product, which is what makes it cheap.

Two perplexities are reported: ``code_perplexity`` of the hard choices and ``prob_perplexity``
of the batch-averaged softmax; the diversity loss is ``(G*V - prob_perplexity) / (G*V)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class QuantizerOutput:
    quantized: Tensor
    """``(N, vq_dim)`` codeword concatenation over groups."""
    codes: Tensor
    """``(N, G)`` long: chosen entry per group (the sampled one in training)."""
    prob_perplexity: Tensor
    code_perplexity: Tensor
    temperature: float


class GumbelVectorQuantizer(nn.Module):
    def __init__(
        self,
        input_dim: int,
        num_groups: int = 2,
        num_vars: int = 320,
        vq_dim: int = 256,
        temperature: tuple[float, float, float] = (2.0, 0.5, 0.999995),
    ):
        super().__init__()
        if vq_dim % num_groups:
            raise ValueError(f"quantizer vq_dim {vq_dim} not divisible by num_groups {num_groups}")
        if len(temperature) != 3:
            raise ValueError(f"temperature must be (max, min, decay), got {temperature!r}")
        self.num_groups = num_groups
        self.num_vars = num_vars
        self.vq_dim = vq_dim
        self.max_temp, self.min_temp, self.temp_decay = (float(t) for t in temperature)
        self.curr_temp = self.max_temp
        self.weight_proj = nn.Linear(input_dim, num_groups * num_vars)
        nn.init.normal_(self.weight_proj.weight, mean=0.0, std=1.0)
        nn.init.zeros_(self.weight_proj.bias)
        self.codevectors = nn.Parameter(torch.rand(num_groups, num_vars, vq_dim // num_groups))

    def set_num_updates(self, num_updates: int) -> None:
        self.curr_temp = max(self.max_temp * self.temp_decay ** int(num_updates), self.min_temp)

    @staticmethod
    def _perplexity(probs: Tensor) -> Tensor:
        """``probs (G, V)`` -> sum over groups of ``exp(entropy)``."""
        return torch.exp(-torch.sum(probs * torch.log(probs + 1e-7), dim=-1)).sum()

    def forward(self, x: Tensor) -> QuantizerOutput:
        """``x (N, input_dim)`` -> :class:`QuantizerOutput`."""
        n = x.shape[0]
        g, v = self.num_groups, self.num_vars
        logits = self.weight_proj(x).float().view(n, g, v)
        with torch.no_grad():
            hard_idx = logits.argmax(-1)
            counts = torch.zeros(g, v, device=x.device, dtype=torch.float32)
            counts.scatter_add_(1, hard_idx.t(), torch.ones_like(hard_idx.t(), dtype=torch.float32))
            code_ppl = self._perplexity(counts / max(n, 1))
        prob_ppl = self._perplexity(torch.softmax(logits, dim=-1).mean(0)) if n else logits.sum() * 0 + g * v
        if self.training:
            onehot = F.gumbel_softmax(logits, tau=self.curr_temp, hard=True, dim=-1)
            codes = onehot.detach().argmax(-1)
            # (G, N, V) @ (G, V, d) -> (G, N, d)
            q = torch.bmm(onehot.transpose(0, 1).to(self.codevectors.dtype), self.codevectors)
            q = q.transpose(0, 1)
        else:
            codes = hard_idx
            q = self.codevectors[torch.arange(g, device=x.device), codes]
        return QuantizerOutput(
            quantized=q.reshape(n, -1).to(x.dtype),
            codes=codes,
            prob_perplexity=prob_ppl,
            code_perplexity=code_ppl,
            temperature=self.curr_temp,
        )
