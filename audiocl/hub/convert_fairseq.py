"""Convert fairseq wav2vec 2.0 checkpoints (pre-trained, or the encoder of a fine-tuned CTC model)
to audiocl's :class:`~audiocl.models.wav2vec2.Wav2Vec2Config` + state dict.

Loading policy (never full unpickling): fairseq ``.pt`` files are pickles that hold, besides
tensors, the training config as ``argparse.Namespace`` (old) or omegaconf ``DictConfig`` (Hydra).
:func:`load_fairseq_checkpoint` reads them with ``torch.load(weights_only=True)`` and allows only
those config container classes (``torch.serialization.safe_globals``); anything else in the file
(arbitrary code) makes loading fail with an error that explains how to export a plain state dict.

Key mapping (fairseq -> audiocl, ``wav2vec2.`` prefix on the encoder parts):

- ``feature_extractor.conv_layers.i.0`` (conv) -> ``feature_extractor.convs.i``;
  ``conv_layers.0.2`` (GroupNorm, "default" mode) / ``conv_layers.i.2.1`` (LayerNorm, "layer_norm"
  mode) -> ``feature_extractor.norms.i``
- ``layer_norm`` / ``post_extract_proj`` / ``mask_emb`` -> ``feature_norm`` / ``feature_proj`` / ``mask_emb``
- ``encoder.pos_conv.0.{weight_g,weight_v,bias}`` -> ``encoder.pos_conv.*``
- ``encoder.layers.i.self_attn.{q,k,v}_proj`` -> fused ``attention.qkv``; ``self_attn.out_proj`` ->
  ``attention.out_proj``; ``self_attn_layer_norm`` -> ``attn_layer_norm``; ``fc1``/``fc2`` ->
  ``feed_forward.fc1``/``fc2``
- ``quantizer.vars (1, G*V, d)`` -> ``quantizer.codevectors (G, V, d)``; ``quantizer.weight_proj``,
  ``project_q``, ``final_proj`` keep their names.
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import Tensor

from audiocl.errors import AudioclError, ConfigError
from audiocl.hub.rename_table import (Rule, apply_rename_table, fit_codevectors, flatten_codevectors,
                                      transformer_layer_rules, weight_norm_rules)
from audiocl.models.wav2vec2 import Wav2Vec2Config


def parse_layer_spec(spec: str | list) -> list[list[int]]:
    """Evaluate fairseq's ``conv_feature_layers`` string (lists, tuples, ints, ``+`` and ``*`` only)."""
    if not isinstance(spec, str):
        return [[int(x) for x in layer] for layer in spec]

    def ev(node):
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return node.value
        if isinstance(node, (ast.List, ast.Tuple)):
            return [ev(e) for e in node.elts]
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mult)):
            left, right = ev(node.left), ev(node.right)
            return left + right if isinstance(node.op, ast.Add) else left * right
        raise ConfigError(f"unsupported expression in conv_feature_layers: {spec!r}")

    try:
        tree = ast.parse(spec, mode="eval")
    except SyntaxError as exc:
        raise ConfigError(f"cannot parse conv_feature_layers {spec!r}: {exc}") from None
    return [[int(x) for x in layer] for layer in ev(tree)]


def _temp(value) -> list[float]:
    if isinstance(value, str):
        value = ast.literal_eval(value)
    return [float(v) for v in value]


def config_from_fairseq(model_cfg: Mapping[str, Any] | argparse.Namespace) -> Wav2Vec2Config:
    """fairseq ``cfg.model`` (or old ``args``) of a wav2vec 2.0 pre-training run -> :class:`Wav2Vec2Config`."""
    d = vars(model_cfg) if isinstance(model_cfg, argparse.Namespace) else dict(model_cfg)
    get = d.get
    if get("activation_fn", "gelu") != "gelu":
        raise ConfigError(f"fairseq activation_fn={get('activation_fn')!r} is not supported (only gelu)")
    for key in ("quantize_input", "target_glu"):
        if get(key, False):
            raise ConfigError(f"fairseq option {key}=True is not supported")
    if int(get("pos_conv_depth", 1) or 1) != 1:
        raise ConfigError("fairseq pos_conv_depth > 1 is not supported")
    mode = get("extractor_mode", "default")
    return Wav2Vec2Config(
        conv_layers=parse_layer_spec(get("conv_feature_layers", "[(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512,2,2)] * 2")),
        extractor_mode="layer" if mode == "layer_norm" else "group",
        conv_bias=bool(get("conv_bias", False)),
        feature_grad_mult=float(get("feature_grad_mult", 0.1)),
        encoder_embed_dim=int(get("encoder_embed_dim", 768)),
        encoder_ffn_dim=int(get("encoder_ffn_embed_dim", 3072)),
        encoder_layers=int(get("encoder_layers", 12)),
        encoder_attention_heads=int(get("encoder_attention_heads", 12)),
        layer_norm_first=bool(get("layer_norm_first", False)),
        dropout=float(get("dropout", 0.1)),
        attention_dropout=float(get("attention_dropout", 0.1)),
        activation_dropout=float(get("activation_dropout", 0.0)),
        encoder_layerdrop=float(get("encoder_layerdrop", 0.05)),
        dropout_input=float(get("dropout_input", 0.1)),
        dropout_features=float(get("dropout_features", 0.1)),
        conv_pos=int(get("conv_pos", 128)),
        conv_pos_groups=int(get("conv_pos_groups", 16)),
        mask_prob=float(get("mask_prob", 0.65)),
        mask_length=int(get("mask_length", 10)),
        latent_vars=int(get("latent_vars", 320)),
        latent_groups=int(get("latent_groups", 2)),
        latent_dim=int(get("latent_dim", 0)),
        latent_temp=_temp(get("latent_temp", (2.0, 0.5, 0.999995))),
        final_dim=int(get("final_dim", 256) or 256),
        num_negatives=int(get("num_negatives", 100)),
        cross_sample_negatives=int(get("cross_sample_negatives", 0)),
        loss_kwargs={"temperature": float(get("logit_temp", 0.1))},
    )


FAIRSEQ_RULES: list[Rule] = [
    Rule(r"w2v_encoder\.(.+)", r"\1", kind="extra"),  # a fine-tuned model's CTC head
    Rule(r"feature_extractor\.conv_layers\.(\d+)\.0\.(weight|bias)", r"{enc}feature_extractor.convs.\1.\2"),
    Rule(r"feature_extractor\.conv_layers\.(\d+)\.2(?:\.1)?\.(weight|bias)", r"{enc}feature_extractor.norms.\1.\2"),
    Rule(r"layer_norm\.(weight|bias)", r"{enc}feature_norm.\1"),
    Rule(r"post_extract_proj\.(weight|bias)", r"{enc}feature_proj.\1"),
    Rule(r"mask_emb", r"{enc}mask_emb"),
    *weight_norm_rules(r"encoder\.pos_conv\.0", r"{enc}encoder.pos_conv"),
    Rule(r"encoder\.layer_norm\.(weight|bias)", r"{enc}encoder.layer_norm.\1"),
    *transformer_layer_rules(r"encoder\.layers", r"self_attn", {
        "self_attn.out_proj": "attention.out_proj", "self_attn_layer_norm": "attn_layer_norm",
        "fc1": "feed_forward.fc1", "fc2": "feed_forward.fc2", "final_layer_norm": "final_layer_norm"}),
    Rule(r"quantizer\.vars", "quantizer.codevectors", pretraining_only=True, transform=flatten_codevectors),
    Rule(r"(quantizer\.weight_proj|project_q|final_proj)\.(weight|bias)", r"\1.\2", pretraining_only=True),
]
"""fairseq ``Wav2Vec2Model`` (pre-trained, or inside ``w2v_encoder.w2v_model.`` of a fine-tuned model) -> audiocl."""


def convert_fairseq_state_dict(sd: Mapping[str, Tensor], target: str = "pretraining",
                               num_groups: int = 2) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """Map fairseq names to audiocl's. Returns ``(state, extra)``: ``extra`` holds what audiocl's
    models do not have (a fine-tuned model's ``w2v_encoder.proj`` CTC head), never silently dropped.
    Unknown keys raise :class:`ConfigError`."""
    state, extra = apply_rename_table(sd, FAIRSEQ_RULES, source="fairseq", target=target,
                                      strip_prefixes=("w2v_encoder.w2v_model.",))
    return fit_codevectors(state, num_groups), extra


def _safe_globals() -> list:
    allowed: list = [argparse.Namespace]
    try:  # the omegaconf containers a Hydra-era fairseq checkpoint pickles its config with
        import collections
        import typing

        from omegaconf import DictConfig, ListConfig
        from omegaconf.base import ContainerMetadata, Metadata
        from omegaconf.nodes import AnyNode, BooleanNode, EnumNode, FloatNode, IntegerNode, StringNode

        allowed += [DictConfig, ListConfig, ContainerMetadata, Metadata, AnyNode, BooleanNode, EnumNode,
                    FloatNode, IntegerNode, StringNode, typing.Any, dict, list, int, collections.defaultdict]
    except ImportError:  # pragma: no cover - omegaconf is a dependency
        pass
    return allowed


def load_fairseq_checkpoint(path: str | Path, target: str = "pretraining"):
    """Read a fairseq wav2vec 2.0 ``.pt`` with ``weights_only=True`` (config containers allow-listed).

    Returns ``(cfg, state, extra)``. A checkpoint holding anything else fails with an
    :class:`AudioclError` telling the user how to export a plain ``{"model": state_dict, "cfg": {...}}``.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioclError(f"fairseq checkpoint not found: {path}")
    try:
        with torch.serialization.safe_globals(_safe_globals()):
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError and friends: refuse, do not fall back to full pickle
        raise AudioclError(
            f"{path}: refusing to unpickle objects outside the weights-only allow list ({exc}). In a trusted "
            "environment with fairseq installed, export it once: ckpt = torch.load(p, weights_only=False); "
            "torch.save({'model': ckpt['model'], 'cfg': {'model': dict(ckpt['cfg']['model'])}}, 'plain.pt')"
        ) from None
    if not isinstance(ckpt, Mapping) or "model" not in ckpt:
        raise AudioclError(f"{path}: not a fairseq checkpoint (no 'model' entry)")
    model_cfg = None
    if ckpt.get("cfg") is not None:
        cfg_obj = ckpt["cfg"]
        model_cfg = cfg_obj["model"] if "model" in cfg_obj else cfg_obj
        if "w2v_args" in model_cfg and model_cfg.get("w2v_args"):  # fine-tuned: the pre-training config
            model_cfg = model_cfg["w2v_args"]["model"]
    elif ckpt.get("args") is not None:
        model_cfg = ckpt["args"]
        w2v_args = getattr(model_cfg, "w2v_args", None)
        if w2v_args:  # an older fine-tuned model: the pre-training config, as a Namespace or a dict
            model_cfg = w2v_args.get("model", w2v_args) if isinstance(w2v_args, Mapping) else w2v_args
    if model_cfg is None:
        raise AudioclError(f"{path}: checkpoint has neither 'cfg' nor 'args'; cannot rebuild the model config")
    if not isinstance(model_cfg, (Mapping, argparse.Namespace)):
        from omegaconf import OmegaConf

        model_cfg = OmegaConf.to_container(model_cfg)
    cfg = config_from_fairseq(model_cfg)
    state, extra = convert_fairseq_state_dict(ckpt["model"], target, cfg.latent_groups)
    return cfg, state, extra
