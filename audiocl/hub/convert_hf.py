"""Convert HF transformers wav2vec 2.0 checkpoints (``Wav2Vec2Model`` / ``Wav2Vec2ForPreTraining``)
into audiocl's :class:`~audiocl.models.wav2vec2.Wav2Vec2Config` and state dict.

Pure functions on dicts and tensors; transformers itself is not needed. A checkpoint directory is
read from ``config.json`` + ``model.safetensors`` (preferred) or ``pytorch_model.bin`` loaded with
``torch.load(weights_only=True)`` (tensors only, no arbitrary unpickling).

Key mapping (HF -> audiocl, ``wav2vec2.`` prefix for the pre-training model):

- ``feature_extractor.conv_layers.i.conv`` -> ``feature_extractor.convs.i``;
  ``...conv_layers.i.layer_norm`` -> ``feature_extractor.norms.i`` (GroupNorm or LayerNorm)
- ``feature_projection.layer_norm`` / ``.projection`` -> ``feature_norm`` / ``feature_proj``
- ``masked_spec_embed`` -> ``mask_emb``
- ``encoder.pos_conv_embed.conv.{weight_g,weight_v}`` (or the ``parametrizations.weight.original0/1``
  form) -> ``encoder.pos_conv.{weight_g,weight_v}``
- ``encoder.layers.i.attention.{q,k,v}_proj`` -> one fused ``encoder.layers.i.attention.qkv``
- ``layer_norm`` / ``feed_forward.intermediate_dense`` / ``output_dense`` -> ``attn_layer_norm`` /
  ``feed_forward.fc1`` / ``fc2``
- ``quantizer.codevectors (1, G*V, d)`` -> ``quantizer.codevectors (G, V, d)``;
  ``project_hid`` -> ``final_proj``; ``quantizer.weight_proj`` and ``project_q`` keep their names.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import Tensor

from audiocl.errors import AudioclError, ConfigError
from audiocl.hub.rename_table import (Rule, apply_rename_table, fit_codevectors, flatten_codevectors,
                                      transformer_layer_rules, weight_norm_rules)
from audiocl.models.wav2vec2 import Wav2Vec2Config


def config_from_hf(hf: Mapping[str, Any] | Any) -> Wav2Vec2Config:
    """Build a :class:`Wav2Vec2Config` from a HF ``Wav2Vec2Config`` (object or ``config.json`` dict)."""
    d = hf if isinstance(hf, Mapping) else hf.to_dict()

    def get(key, default=None):
        return d.get(key, default)

    for key, want in (("hidden_act", "gelu"), ("feat_extract_activation", "gelu")):
        if get(key, want) != want:
            raise ConfigError(f"HF config {key}={get(key)!r} is not supported (only {want!r})")
    if get("add_adapter", False) or get("adapter_attn_dim") is not None:
        raise ConfigError("HF configs with adapters are not supported")
    conv = [[int(c), int(k), int(s)] for c, k, s in zip(get("conv_dim"), get("conv_kernel"), get("conv_stride"))]
    return Wav2Vec2Config(
        conv_layers=conv,
        extractor_mode="layer" if get("feat_extract_norm", "group") == "layer" else "group",
        conv_bias=bool(get("conv_bias", False)),
        encoder_embed_dim=int(get("hidden_size")),
        encoder_ffn_dim=int(get("intermediate_size")),
        encoder_layers=int(get("num_hidden_layers")),
        encoder_attention_heads=int(get("num_attention_heads")),
        layer_norm_first=bool(get("do_stable_layer_norm", False)),
        dropout=float(get("hidden_dropout", 0.1)),
        attention_dropout=float(get("attention_dropout", 0.1)),
        activation_dropout=float(get("activation_dropout", 0.0)),
        encoder_layerdrop=float(get("layerdrop", 0.1)),
        dropout_input=float(get("feat_proj_dropout", 0.0)),
        dropout_features=float(get("feat_quantizer_dropout", 0.0)),
        conv_pos=int(get("num_conv_pos_embeddings", 128)),
        conv_pos_groups=int(get("num_conv_pos_embedding_groups", 16)),
        layer_norm_eps=float(get("layer_norm_eps", 1e-5)),
        mask_prob=float(get("mask_time_prob", 0.05)),
        mask_length=int(get("mask_time_length", 10)),
        mask_min_masks=int(get("mask_time_min_masks", 2)),
        latent_vars=int(get("num_codevectors_per_group", 320)),
        latent_groups=int(get("num_codevector_groups", 2)),
        latent_dim=int(get("codevector_dim", 256)),
        final_dim=int(get("proj_codevector_dim", 256)),
        num_negatives=int(get("num_negatives", 100)),
        loss_kwargs={"temperature": float(get("contrastive_logits_temperature", 0.1))},
        diversity_weight=float(get("diversity_loss_weight", 0.1)),
    )


HF_RULES: list[Rule] = [
    Rule(r"feature_extractor\.conv_layers\.(\d+)\.conv\.(weight|bias)", r"{enc}feature_extractor.convs.\1.\2"),
    Rule(r"feature_extractor\.conv_layers\.(\d+)\.layer_norm\.(weight|bias)", r"{enc}feature_extractor.norms.\1.\2"),
    Rule(r"feature_projection\.layer_norm\.(weight|bias)", r"{enc}feature_norm.\1"),
    Rule(r"feature_projection\.projection\.(weight|bias)", r"{enc}feature_proj.\1"),
    Rule(r"masked_spec_embed", r"{enc}mask_emb"),
    *weight_norm_rules(r"encoder\.pos_conv_embed\.conv", r"{enc}encoder.pos_conv"),
    Rule(r"encoder\.layer_norm\.(weight|bias)", r"{enc}encoder.layer_norm.\1"),
    *transformer_layer_rules(r"encoder\.layers", r"attention", {
        "attention.out_proj": "attention.out_proj", "layer_norm": "attn_layer_norm",
        "feed_forward.intermediate_dense": "feed_forward.fc1", "feed_forward.output_dense": "feed_forward.fc2",
        "final_layer_norm": "final_layer_norm"}),
    Rule(r"quantizer\.codevectors", "quantizer.codevectors", pretraining_only=True, transform=flatten_codevectors),
    Rule(r"(quantizer\.weight_proj|project_q)\.(weight|bias)", r"\1.\2", pretraining_only=True),
    Rule(r"project_hid\.(weight|bias)", r"final_proj.\1", pretraining_only=True),
]
"""HF transformers ``Wav2Vec2Model`` / ``Wav2Vec2ForPreTraining`` -> audiocl (after stripping ``wav2vec2.``)."""


def convert_hf_state_dict(sd: Mapping[str, Tensor], target: str = "pretraining") -> dict[str, Tensor]:
    """Map a HF wav2vec 2.0 state dict to audiocl names.

    ``target="pretraining"`` gives keys for :class:`Wav2Vec2ForPretraining` (quantizer and heads
    included when present; codevectors as ``(G*V, d)``, see :func:`fit_codevectors`), ``"model"`` for
    the encoder-only :class:`Wav2Vec2Model`. Unknown keys (CTC heads, adapters) raise, so nothing is
    silently dropped.
    """
    state, _ = apply_rename_table(sd, HF_RULES, source="HF", target=target, strip_prefixes=("wav2vec2.",))
    return state


def load_hf_checkpoint(directory: str | Path, target: str = "pretraining") -> tuple[Wav2Vec2Config, dict[str, Tensor]]:
    """Read a local HF wav2vec 2.0 checkpoint directory -> ``(cfg, audiocl state dict)``."""
    directory = Path(directory)
    cfg_path = directory / "config.json"
    if not cfg_path.is_file():
        raise AudioclError(f"{directory}: no config.json (is this a HF transformers checkpoint directory?)")
    cfg = config_from_hf(json.loads(cfg_path.read_text()))
    st, binf = directory / "model.safetensors", directory / "pytorch_model.bin"
    if st.is_file():
        from safetensors.torch import load_file

        sd = load_file(str(st))
    elif binf.is_file():
        sd = torch.load(binf, map_location="cpu", weights_only=True)
    else:
        raise AudioclError(f"{directory}: neither model.safetensors nor pytorch_model.bin found")
    return cfg, fit_codevectors(convert_hf_state_dict(sd, target), cfg.latent_groups)


def load_hf_into(model: torch.nn.Module, hf_state_dict: Mapping[str, Tensor], strict: bool = True):
    """Convert ``hf_state_dict`` and load it into an audiocl ``Wav2Vec2Model`` or ``Wav2Vec2ForPretraining``."""
    from audiocl.models.wav2vec2 import Wav2Vec2ForPretraining

    pre = isinstance(model, Wav2Vec2ForPretraining)
    state = convert_hf_state_dict(hf_state_dict, "pretraining" if pre else "model")
    if pre:
        state = fit_codevectors(state, model.cfg.latent_groups)
    # keep audiocl's own values for what HF does not store: the loss objective's buffers (InfoNCE's
    # temperature) and the mask embedding of models saved with masking disabled
    for k, v in model.state_dict().items():
        if k.startswith("objective.") or k.endswith("mask_emb"):
            state.setdefault(k, v)
    return model.load_state_dict(state, strict=strict)


def config_to_hf(cfg: Wav2Vec2Config) -> dict[str, Any]:
    """The HF ``Wav2Vec2Config`` keyword arguments of an audiocl config (benchmarks, export to HF)."""
    vq = cfg.latent_dim or cfg.final_dim
    if cfg.loss != "infonce":
        raise ConfigError(f"HF transformers only implements the infonce objective, not {cfg.loss!r}")
    if cfg.frontend != "conv":
        raise ConfigError(f"HF transformers' wav2vec 2.0 has only the raw-waveform conv front-end, not {cfg.frontend!r}")
    return dict(
        conv_dim=[c[0] for c in cfg.conv_layers], conv_kernel=[c[1] for c in cfg.conv_layers],
        conv_stride=[c[2] for c in cfg.conv_layers], conv_bias=cfg.conv_bias,
        num_feat_extract_layers=len(cfg.conv_layers),
        feat_extract_norm=cfg.extractor_mode, do_stable_layer_norm=cfg.layer_norm_first,
        hidden_size=cfg.encoder_embed_dim, intermediate_size=cfg.encoder_ffn_dim,
        num_hidden_layers=cfg.encoder_layers, num_attention_heads=cfg.encoder_attention_heads,
        hidden_dropout=cfg.dropout, attention_dropout=cfg.attention_dropout,
        activation_dropout=cfg.activation_dropout, layerdrop=cfg.encoder_layerdrop,
        feat_proj_dropout=cfg.dropout_input, feat_quantizer_dropout=cfg.dropout_features,
        num_conv_pos_embeddings=cfg.conv_pos, num_conv_pos_embedding_groups=cfg.conv_pos_groups,
        layer_norm_eps=cfg.layer_norm_eps, mask_time_prob=cfg.mask_prob, mask_time_length=cfg.mask_length,
        mask_time_min_masks=cfg.mask_min_masks, num_codevector_groups=cfg.latent_groups,
        num_codevectors_per_group=cfg.latent_vars, codevector_dim=vq, proj_codevector_dim=cfg.final_dim,
        num_negatives=cfg.num_negatives,
        contrastive_logits_temperature=float(cfg.loss_kwargs.get("temperature", 0.1)),
        diversity_loss_weight=cfg.diversity_weight, hidden_act="gelu", feat_extract_activation="gelu",
    )
