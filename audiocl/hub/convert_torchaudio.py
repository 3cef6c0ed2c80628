"""Convert torchaudio ``wav2vec2_model`` / ``wav2vec2_base`` / ... weights to audiocl's ``Wav2Vec2Model``.

torchaudio's module tree is HF's with two prefixes moved (``encoder.feature_projection`` ->
``feature_projection``, ``encoder.transformer`` -> ``encoder``), so the renamed dict goes through
:data:`audiocl.hub.convert_hf.HF_RULES`. torchaudio checkpoints carry no quantizer
(encoder only); a CTC head (``aux.*``) is returned separately instead of being dropped silently.
Pure functions on tensors; nothing is unpickled here.
"""

from __future__ import annotations

from typing import Any, Mapping

from torch import Tensor

from audiocl.errors import ConfigError
from audiocl.hub.convert_hf import HF_RULES
from audiocl.hub.rename_table import Rule, apply_rename_table
from audiocl.models.wav2vec2 import Wav2Vec2Config


def config_from_torchaudio(**kw: Any) -> Wav2Vec2Config:
    """Arguments of ``torchaudio.models.wav2vec2_model(...)`` -> :class:`Wav2Vec2Config`."""
    mode = kw.get("extractor_mode", "group_norm")
    if mode not in ("group_norm", "layer_norm"):
        raise ConfigError(f"torchaudio extractor_mode {mode!r} is not supported")
    conv = kw.get("extractor_conv_layer_config") or [(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512, 2, 2)] * 2
    return Wav2Vec2Config(
        conv_layers=[[int(c), int(k), int(s)] for c, k, s in conv],
        extractor_mode="group" if mode == "group_norm" else "layer",
        conv_bias=bool(kw.get("extractor_conv_bias", False)),
        encoder_embed_dim=int(kw["encoder_embed_dim"]),
        encoder_ffn_dim=int(kw["encoder_ff_interm_features"]),
        encoder_layers=int(kw["encoder_num_layers"]),
        encoder_attention_heads=int(kw["encoder_num_heads"]),
        layer_norm_first=bool(kw["encoder_layer_norm_first"]),
        dropout=float(kw.get("encoder_dropout", 0.1)),
        attention_dropout=float(kw.get("encoder_attention_dropout", 0.1)),
        activation_dropout=float(kw.get("encoder_ff_interm_dropout", 0.0)),
        encoder_layerdrop=float(kw.get("encoder_layer_drop", 0.05)),
        dropout_input=float(kw.get("encoder_projection_dropout", 0.1)),
        conv_pos=int(kw.get("encoder_pos_conv_kernel", 128)),
        conv_pos_groups=int(kw.get("encoder_pos_conv_groups", 16)),
    )


TORCHAUDIO_PREFIXES: list[Rule] = [
    Rule(r"aux\.(.+)", r"\1", kind="extra"),  # the CTC head
    Rule(r"encoder\.(feature_projection\..+)", r"\1"),
    Rule(r"encoder\.transformer\.(.+)", r"encoder.\1"),
    Rule(r"(.+)", r"\1"),
]
"""torchaudio's tree is HF's with two prefixes moved; these rows move them back before :data:`HF_RULES`."""


def convert_torchaudio_state_dict(sd: Mapping[str, Tensor]) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """torchaudio ``Wav2Vec2Model.state_dict()`` -> ``(audiocl Wav2Vec2Model state dict, aux head)``."""
    hf_named, aux = apply_rename_table(sd, TORCHAUDIO_PREFIXES, source="torchaudio", target="model")
    state, _ = apply_rename_table(hf_named, HF_RULES, source="torchaudio", target="model")
    return state, aux
