"""Assembled models: wav2vec 2.0, CPC, time-series contrastive, downstream CTC and classifiers.

``PRETRAIN_MODELS`` maps a pre-training model name to ``(ConfigDataclass, ModelClass)``; every model
class follows one interface (see :mod:`audiocl.models.pretrain_common`)::

    model = Model(cfg)
    out = model(wav (B, T) float, lengths (B,) long | None)   # -> PretrainOutput(loss, logs, per_sample)
    model.set_num_updates(step)                                # schedules (Gumbel temperature)
    layers, frame_lengths = model.extract_layers(wav, lengths) # [input of context net, layer 1, ...]
    model.min_samples                                          # receptive field in samples
"""

from audiocl.models.cpc import CPCConfig, CPCForPretraining
from audiocl.models.pretrain_common import InputTooShortError, NonFiniteInputError, PretrainOutput
from audiocl.models.wav2vec2 import Wav2Vec2Config, Wav2Vec2ForPretraining, Wav2Vec2Model

PRETRAIN_MODELS = {
    "wav2vec2": (Wav2Vec2Config, Wav2Vec2ForPretraining),
    "cpc": (CPCConfig, CPCForPretraining),
}

__all__ = [
    "PRETRAIN_MODELS", "CPCConfig", "CPCForPretraining", "Wav2Vec2Config", "Wav2Vec2ForPretraining",
    "Wav2Vec2Model", "PretrainOutput", "InputTooShortError", "NonFiniteInputError",
]
