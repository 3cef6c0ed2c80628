"""fairseq converter: key/shape mapping round trip, config parsing, and the weights-only loading policy."""

from __future__ import annotations

import argparse
import re

import pytest
import torch

from audiocl.errors import AudioclError, ConfigError
from audiocl.hub.convert_fairseq import (
    config_from_fairseq, convert_fairseq_state_dict, load_fairseq_checkpoint, parse_layer_spec)
from audiocl.models.wav2vec2 import Wav2Vec2ForPretraining

FAIRSEQ_MODEL_CFG = dict(
    conv_feature_layers="[(32, 10, 5)] + [(32, 3, 2)] * 4 + [(32, 2, 2)] * 2", extractor_mode="default",
    encoder_layers=2, encoder_embed_dim=32, encoder_ffn_embed_dim=64, encoder_attention_heads=4,
    conv_pos=8, conv_pos_groups=4, latent_vars=16, latent_groups=2, final_dim=16, latent_temp="(2,0.5,0.999995)",
    logit_temp=0.1, activation_fn="gelu",
)


def _to_fairseq_names(model: Wav2Vec2ForPretraining) -> dict[str, torch.Tensor]:
    """fairseq's module layout, written out from fairseq's wav2vec2.py module tree."""
    out = {}
    for k, v in model.state_dict().items():
        if k.startswith("objective."):
            continue
        k = k.removeprefix("wav2vec2.")
        k = re.sub(r"feature_extractor\.convs\.(\d+)", r"feature_extractor.conv_layers.\1.0", k)
        k = re.sub(r"feature_extractor\.norms\.(\d+)", r"feature_extractor.conv_layers.\1.2", k)
        k = k.replace("feature_norm.", "layer_norm.").replace("feature_proj.", "post_extract_proj.")
        k = k.replace("encoder.pos_conv.", "encoder.pos_conv.0.")
        k = k.replace("attention.out_proj", "self_attn.out_proj").replace("attn_layer_norm", "self_attn_layer_norm")
        k = k.replace("feed_forward.", "")
        if k == "quantizer.codevectors":
            out["quantizer.vars"] = v.reshape(1, -1, v.shape[-1])
            continue
        m = re.fullmatch(r"(encoder\.layers\.\d+)\.attention\.qkv\.(weight|bias)", k)
        if m:
            for name, part in zip("qkv", v.chunk(3, dim=0)):
                out[f"{m.group(1)}.self_attn.{name}_proj.{m.group(2)}"] = part
            continue
        out[k] = v
    return out


def test_config_parsing():
    assert parse_layer_spec("[(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512,2,2)] * 2")[-2:] == [[512, 2, 2]] * 2
    with pytest.raises(ConfigError):
        parse_layer_spec("__import__('os').system('true')")
    cfg = config_from_fairseq(FAIRSEQ_MODEL_CFG)
    assert cfg.encoder_ffn_dim == 64 and cfg.latent_temp == [2.0, 0.5, 0.999995] and cfg.extractor_mode == "group"
    assert config_from_fairseq(argparse.Namespace(**FAIRSEQ_MODEL_CFG)) == cfg


def test_round_trip_through_fairseq_names_and_weights_only_loader(tmp_path):
    torch.manual_seed(0)
    cfg = config_from_fairseq(FAIRSEQ_MODEL_CFG)
    src = Wav2Vec2ForPretraining(cfg).eval()
    fs = _to_fairseq_names(src)
    path = tmp_path / "checkpoint_best.pt"
    torch.save({"model": fs, "args": argparse.Namespace(**FAIRSEQ_MODEL_CFG)}, path)
    cfg2, state, extra = load_fairseq_checkpoint(path)
    assert cfg2 == cfg and extra == {}
    dst = Wav2Vec2ForPretraining(cfg2).eval()
    missing = dst.load_state_dict(state, strict=False)
    assert [k for k in missing.missing_keys if not k.startswith("objective.")] == []
    assert missing.unexpected_keys == []
    wav = 0.3 * torch.randn(2, 4000)
    with torch.no_grad():
        a, _ = src.extract_layers(wav)
        b, _ = dst.extract_layers(wav)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    # a fine-tuned CTC checkpoint: encoder under w2v_encoder.w2v_model., head returned separately
    ft = {f"w2v_encoder.w2v_model.{k}": v for k, v in fs.items() if not k.startswith(("quantizer", "project_q", "final_proj"))}
    ft["w2v_encoder.proj.weight"] = torch.zeros(5, 32)
    enc_state, extra = convert_fairseq_state_dict(ft, target="model")
    assert set(extra) == {"proj.weight"} and "mask_emb" in enc_state
    # an older fine-tuned checkpoint keeps the pre-training config as args.w2v_args (a Namespace); a fine-tuning
    # run's own args lack the architecture, so reading them instead would silently give BASE defaults
    old_ft = tmp_path / "old_finetuned.pt"
    ft_args = argparse.Namespace(w2v_path="/pretrained.pt", w2v_args=argparse.Namespace(**FAIRSEQ_MODEL_CFG))
    torch.save({"model": ft, "args": ft_args}, old_ft)
    cfg3, _, extra3 = load_fairseq_checkpoint(old_ft, target="model")
    assert cfg3 == cfg and set(extra3) == {"proj.weight"}
    with pytest.raises(ConfigError, match="cannot map"):
        convert_fairseq_state_dict({**fs, "label_embs_concat": torch.zeros(1)})


class _Evil:
    def __reduce__(self):
        return (exec, ("raise SystemExit('code ran')",))


def test_loader_refuses_arbitrary_pickled_objects(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"model": {}, "args": _Evil()}, path)
    with pytest.raises(AudioclError, match="refusing to unpickle"):
        load_fairseq_checkpoint(path)


def test_hydra_era_checkpoint_with_omegaconf_config_loads_weights_only(tmp_path):
    from omegaconf import OmegaConf

    torch.manual_seed(0)
    cfg = config_from_fairseq(FAIRSEQ_MODEL_CFG)
    fs = _to_fairseq_names(Wav2Vec2ForPretraining(cfg))
    path = tmp_path / "hydra.pt"
    torch.save({"model": fs, "cfg": OmegaConf.create({"model": FAIRSEQ_MODEL_CFG, "task": {"sample_rate": 16000}})},
               path)
    cfg2, state, _ = load_fairseq_checkpoint(path)
    assert cfg2 == cfg and "quantizer.codevectors" in state
