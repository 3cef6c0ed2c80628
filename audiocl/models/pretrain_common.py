"""What every pre-training model shares: its output type and the checks on a waveform batch.

The training loop relies on these guarantees: a non-finite input never turns into a silent NaN
loss (it raises :class:`~audiocl.errors.TrainingError` naming the batch positions, so the loop can
skip and count the batch), and an utterance shorter than the encoder's receptive field is either a
clear error or, when the config asks for it, dropped from the loss and counted in the logs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from audiocl.errors import FeatureError, TrainingError


class InputTooShortError(TrainingError, FeatureError):
    """An utterance is shorter than the model's receptive field (``model.min_samples``)."""


class NonFiniteInputError(TrainingError):
    """The waveform batch holds NaN/Inf; ``positions`` lists the offending batch rows."""

    def __init__(self, message: str, positions: list[int]):
        self.positions = positions
        super().__init__(message)


@dataclass
class PretrainOutput:
    loss: Tensor
    """Scalar to minimise (all loss parts already weighted)."""
    logs: dict[str, float | Tensor] = field(default_factory=dict)
    """Scalars for logging: loss parts, contrastive accuracy, perplexities, temperature, counts."""
    per_sample: Tensor | None = None
    """``(B,)`` contrastive loss of each utterance (0 where it contributed nothing)."""


def check_waveforms(
    wav: Tensor,
    lengths: Tensor | None,
    min_samples: int,
    drop_short: bool = False,
    utt_ids: list[str] | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Validate ``wav (B, T)`` + ``lengths`` and zero the padding.

    Returns ``(wav, lengths, keep)`` where ``keep (B,)`` bool is False for utterances dropped as too
    short (only with ``drop_short``).
    """
    if wav.dim() != 2:
        raise TrainingError(f"waveform batch must be (batch, samples), got shape {tuple(wav.shape)}")
    b, t = wav.shape
    if lengths is None:
        lengths = torch.full((b,), t, dtype=torch.long, device=wav.device)
    else:
        lengths = lengths.to(device=wav.device, dtype=torch.long)
        if lengths.shape != (b,):
            raise TrainingError(f"lengths must have shape ({b},), got {tuple(lengths.shape)}")
        if bool((lengths > t).any()) or bool((lengths < 0).any()):
            raise TrainingError(f"lengths must lie in [0, {t}], got {lengths.tolist()}")
    pad = torch.arange(t, device=wav.device)[None, :] >= lengths[:, None]
    bad_rows = (~(torch.isfinite(wav) | pad)).any(dim=1)
    if bool(bad_rows.any()):
        pos = bad_rows.nonzero().flatten().tolist()
        names = f" (utterances {[utt_ids[i] for i in pos]})" if utt_ids else ""
        raise NonFiniteInputError(
            f"non-finite (NaN/Inf) samples in waveform batch at positions {pos}{names}; skip this batch", pos
        )
    short = lengths < min_samples
    keep = ~short
    if bool(short.any()) and not drop_short:
        pos = short.nonzero().flatten().tolist()
        names = f" (utterances {[utt_ids[i] for i in pos]})" if utt_ids else ""
        raise InputTooShortError(
            f"utterances at batch positions {pos}{names} have {lengths[short].tolist()} samples, fewer than "
            f"the model's receptive field of {min_samples} samples; filter them out (e.g. by utt2dur) "
            f"or set drop_short=true to drop and count them"
        )
    if bool(pad.any()):
        wav = wav.masked_fill(pad, 0.0)
    return wav, lengths, keep
