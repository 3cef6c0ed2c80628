"""The shared rename-table mechanism behind the fairseq, HF and torchaudio converters."""

import pytest
import torch

from audiocl.errors import ConfigError
from audiocl.hub.rename_table import Rule, apply_rename_table, fit_codevectors, flatten_codevectors, transformer_layer_rules

RULES = [
    Rule(r"head\.(.+)", r"\1", kind="extra"),
    Rule(r"proj\.(weight|bias)", r"{enc}feature_proj.\1"),
    Rule(r"codebook", "quantizer.codevectors", pretraining_only=True, transform=flatten_codevectors),
    *transformer_layer_rules(r"blocks", r"attn", {"ln": "attn_layer_norm"}),
]


def _qkv(layer: int, kind: str = "weight") -> dict:
    return {f"blocks.{layer}.attn.{p}_proj.{kind}": torch.full((2, 3), float(i)) for i, p in enumerate("qkv")}


def test_renames_prefixes_fuses_qkv_and_keeps_extras():
    sd = {"outer.proj.weight": torch.ones(4, 4), "head.out.weight": torch.zeros(3), "codebook": torch.ones(1, 6, 5),
          "blocks.1.ln.bias": torch.ones(2), **_qkv(1)}
    state, extra = apply_rename_table(sd, RULES, source="toy", target="pretraining", strip_prefixes=("outer.",))
    assert set(state) == {"wav2vec2.feature_proj.weight", "quantizer.codevectors", "wav2vec2.encoder.layers.1.attn_layer_norm.bias",
                          "wav2vec2.encoder.layers.1.attention.qkv.weight"}
    assert extra == {"out.weight": sd["head.out.weight"]}
    fused = state["wav2vec2.encoder.layers.1.attention.qkv.weight"]
    assert fused.shape == (6, 3) and fused[:2].eq(0).all() and fused[2:4].eq(1).all() and fused[4:].eq(2).all()
    assert fit_codevectors(state, 2)["quantizer.codevectors"].shape == (2, 3, 5)


def test_encoder_only_target_drops_pretraining_rows_and_has_no_prefix():
    state, _ = apply_rename_table({"proj.bias": torch.ones(1), "codebook": torch.ones(1, 2, 2)}, RULES, source="toy",
                                  target="model")
    assert set(state) == {"feature_proj.bias"}


def test_unknown_keys_and_incomplete_qkv_are_named_errors():
    with pytest.raises(ConfigError, match="toy checkpoint has keys audiocl cannot map: mystery.weight"):
        apply_rename_table({"mystery.weight": torch.ones(1)}, RULES, source="toy")
    partial = {k: v for k, v in _qkv(0).items() if ".v_proj." not in k}
    with pytest.raises(ConfigError, match=r"incomplete q/k/v .*\['k', 'q'\]"):
        apply_rename_table(partial, RULES, source="toy")
    with pytest.raises(ValueError, match="target"):
        apply_rename_table({}, RULES, source="toy", target="encoder")
