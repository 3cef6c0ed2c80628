"""Peer correctness against torchaudio's wav2vec 2.0 (identical weights, padded batch)."""

from __future__ import annotations

import pytest
import torch

ta_models = pytest.importorskip("torchaudio.models")

from audiocl.hub.convert_torchaudio import config_from_torchaudio, convert_torchaudio_state_dict  # noqa: E402
from audiocl.models.wav2vec2 import Wav2Vec2Model  # noqa: E402


@pytest.mark.parametrize("pre_ln", [False, True])
def test_matches_torchaudio_with_padding(pre_ln):
    torch.manual_seed(0)
    kw = dict(
        extractor_mode="layer_norm" if pre_ln else "group_norm",
        extractor_conv_layer_config=[(32, 10, 5), (32, 3, 2), (32, 3, 2)], extractor_conv_bias=pre_ln,
        encoder_embed_dim=48, encoder_projection_dropout=0.0, encoder_pos_conv_kernel=16,
        encoder_pos_conv_groups=4, encoder_num_layers=2, encoder_num_heads=4, encoder_attention_dropout=0.0,
        encoder_ff_interm_features=96, encoder_ff_interm_dropout=0.0, encoder_dropout=0.0,
        encoder_layer_norm_first=pre_ln, encoder_layer_drop=0.0, aux_num_out=5,
    )
    ta = ta_models.wav2vec2_model(**kw).eval()
    ours = Wav2Vec2Model(config_from_torchaudio(**kw)).eval()
    state, aux = convert_torchaudio_state_dict(ta.state_dict())
    state.setdefault("mask_emb", ours.mask_emb.detach())
    ours.load_state_dict(state)
    assert set(aux) == {"weight", "bias"}
    wav = 0.3 * torch.randn(2, 4000)
    lengths = torch.tensor([4000, 2600])
    wav[1, 2600:] = 0
    with torch.no_grad():
        ref_layers, ref_len = ta.extract_features(wav, lengths)
        layers, flen = ours.extract_layers(wav, lengths)
    assert flen.tolist() == ref_len.tolist()
    valid = torch.arange(layers[-1].shape[1])[None, :] < flen[:, None]
    # torchaudio returns the outputs of blocks 1..L (before the final pre-LN LayerNorm)
    for a, b in zip(layers[1:-1], ref_layers[:-1]):
        assert (a - b)[valid].abs().max() <= 1e-4
    if not pre_ln:
        assert (layers[-1] - ref_layers[-1])[valid].abs().max() <= 1e-4
    else:
        final = ours.encoder.layer_norm(ref_layers[-1])
        assert (layers[-1] - final)[valid].abs().max() <= 1e-4
