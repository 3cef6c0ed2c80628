"""Assembled models: wav2vec 2.0, CPC, downstream CTC and classifiers.

Upstream models live in one registry (:mod:`audiocl.models.registry`): ``build(name, cfg)``,
``names()``, ``config_from_dict(name, d)``. Every registered model follows one interface (see
:mod:`audiocl.models.pretrain_common`)::

    model = build("wav2vec2", "tiny")
    out = model(wav (B, T) float, lengths (B,) long | None)   # -> PretrainOutput(loss, logs, per_sample)
    model.set_num_updates(step)                                # schedules (Gumbel temperature)
    layers, frame_lengths = model.extract_layers(wav, lengths) # [input of context net, layer 1, ...]
    model.min_samples                                          # receptive field in samples
"""

from audiocl.models.cpc import CPCConfig, CPCForPretraining
from audiocl.models.pretrain_common import InputTooShortError, NonFiniteInputError, PretrainOutput
from audiocl.models.registry import build, config_class, config_from_dict, make_config, model_class, names, register
from audiocl.models.wav2vec2 import Wav2Vec2Config, Wav2Vec2ForPretraining, Wav2Vec2Model

register("wav2vec2", Wav2Vec2Config, Wav2Vec2ForPretraining,
         "wav2vec 2.0 (Baevski et al., 2020): masked contrastive prediction of quantized targets")
register("cpc", CPCConfig, CPCForPretraining,
         "CPC (van den Oord et al., 2018; CPC_audio): autoregressive contrastive predictive coding")

__all__ = [
    "build", "names", "config_class", "model_class", "config_from_dict", "make_config", "register",
    "CPCConfig", "CPCForPretraining", "Wav2Vec2Config", "Wav2Vec2ForPretraining",
    "Wav2Vec2Model", "PretrainOutput", "InputTooShortError", "NonFiniteInputError",
]
