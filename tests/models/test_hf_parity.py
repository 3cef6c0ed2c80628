"""Peer correctness: identical weights give HF transformers' wav2vec 2.0 outputs (max abs diff <= 1e-4).

The HF models are built offline from small random configs (no downloads)."""

from __future__ import annotations

import pytest
import torch

transformers = pytest.importorskip("transformers")

from audiocl.hub.convert_hf import config_from_hf, load_hf_into  # noqa: E402
from audiocl.models.wav2vec2 import Wav2Vec2ForPretraining, Wav2Vec2Model  # noqa: E402

TOL = 1e-4


def _hf_config(stable: bool, conv_bias: bool):
    return transformers.Wav2Vec2Config(
        hidden_size=48, num_hidden_layers=3, num_attention_heads=4, intermediate_size=96,
        conv_dim=(32, 32, 32), conv_kernel=(10, 3, 3), conv_stride=(5, 2, 2), conv_bias=conv_bias,
        feat_extract_norm="layer" if stable else "group", do_stable_layer_norm=stable,
        num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4,
        num_codevector_groups=2, num_codevectors_per_group=12, codevector_dim=16, proj_codevector_dim=16,
        hidden_dropout=0.0, attention_dropout=0.0, activation_dropout=0.0, feat_proj_dropout=0.0,
        feat_quantizer_dropout=0.0, layerdrop=0.0, mask_time_prob=0.5,
    )


def _batch():
    g = torch.Generator().manual_seed(0)
    wav = torch.randn(3, 4000, generator=g) * 0.3
    lengths = torch.tensor([4000, 2700, 1500])
    att = torch.arange(4000)[None, :] < lengths[:, None]
    return wav * att, lengths, att.long()


@pytest.mark.parametrize("stable,conv_bias", [(False, False), (True, True)], ids=["post_ln_group", "pre_ln_layer"])
def test_encoder_matches_hf_with_padding(stable, conv_bias):
    torch.manual_seed(0)
    hf_cfg = _hf_config(stable, conv_bias)
    hf = transformers.Wav2Vec2Model(hf_cfg).eval()
    ours = Wav2Vec2Model(config_from_hf(hf_cfg)).eval()
    load_hf_into(ours, hf.state_dict())
    wav, lengths, att = _batch()
    with torch.no_grad():
        ref = hf(wav, attention_mask=att, output_hidden_states=True)
        out = ours(wav, lengths)
        layers, flen = ours.extract_layers(wav, lengths)
    valid = torch.arange(out.last_hidden_state.shape[1])[None, :] < flen[:, None]
    assert flen.tolist() == hf._get_feat_extract_output_lengths(lengths).tolist()
    diff = (out.last_hidden_state - ref.last_hidden_state)[valid].abs().max().item()
    assert diff <= TOL, diff
    assert len(layers) == len(ref.hidden_states)
    # HF keeps the last block's output before the final pre-LN LayerNorm in hidden_states; audiocl's
    # last entry is the normalised one, i.e. HF's last_hidden_state
    expected = list(ref.hidden_states[:-1]) + [ref.last_hidden_state]
    for i, (a, b) in enumerate(zip(layers, expected)):
        d = (a - b)[valid].abs().max().item()
        assert d <= TOL, (i, d)
    # the comparison is meaningful: a perturbed weight changes the output well beyond the tolerance
    with torch.no_grad():
        w = ours.encoder.layers[0].feed_forward.fc1.weight
        w.add_(0.1 * torch.randn_like(w))
        moved = (ours(wav, lengths).last_hidden_state - ref.last_hidden_state)[valid].abs().max().item()
    assert moved > 100 * TOL


def test_pretraining_heads_and_quantizer_match_hf_in_eval():
    torch.manual_seed(1)
    hf_cfg = _hf_config(False, False)
    hf = transformers.Wav2Vec2ForPreTraining(hf_cfg).eval()
    ours = Wav2Vec2ForPretraining(config_from_hf(hf_cfg)).eval()
    load_hf_into(ours, hf.state_dict())
    wav, lengths, att = _batch()
    with torch.no_grad():
        ref = hf(wav, attention_mask=att)
        normed, _, padding, flen = ours.wav2vec2.encode_features(wav, lengths)
        enc = ours.wav2vec2(wav, lengths).last_hidden_state
        valid = ~padding
        q = ours.quantizer(normed[valid])
        target = ours.project_q(q.quantized)
        pred = ours.final_proj(enc[valid])
    assert (target - ref.projected_quantized_states[valid]).abs().max().item() <= TOL
    assert (pred - ref.projected_states[valid]).abs().max().item() <= TOL
