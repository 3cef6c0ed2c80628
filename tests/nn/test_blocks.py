from __future__ import annotations

import pytest
import torch

from audiocl.nn.conv_encoder import ConvFeatureEncoder, receptive_field
from audiocl.nn.grad import grad_multiply
from audiocl.nn.quantizer import GumbelVectorQuantizer
from audiocl.nn.transformer import TransformerEncoder


@pytest.mark.parametrize("mode", ["group", "layer"])
def test_conv_encoder_lengths_match_real_outputs(mode):
    enc = ConvFeatureEncoder([(8, 10, 5), (8, 3, 2), (8, 2, 2)], mode=mode)
    for n in (enc.receptive_field, enc.receptive_field + 1, 97, 400, 1001):
        out = enc(torch.randn(1, n))
        assert out.shape[-1] == int(enc.output_lengths(torch.tensor([n]))[0])
    assert receptive_field([(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512, 2, 2)] * 2) == 400
    assert receptive_field([(256, k, s, p) for k, s, p in zip([10, 8, 4, 4, 4], [5, 4, 2, 2, 2], [3, 2, 1, 1, 1])]) == 465


def test_grad_multiply_scales_gradient_only():
    x = torch.ones(3, requires_grad=True)
    y = grad_multiply(x, 0.1)
    assert torch.equal(y, x)
    y.sum().backward()
    assert torch.allclose(x.grad, torch.full((3,), 0.1))


def test_quantizer_temperature_schedule_and_hard_codewords():
    torch.manual_seed(0)
    q = GumbelVectorQuantizer(16, num_groups=2, num_vars=8, vq_dim=12, temperature=(2.0, 0.5, 0.999995))
    assert q.curr_temp == 2.0
    q.set_num_updates(1000)
    assert abs(q.curr_temp - 2.0 * 0.999995 ** 1000) < 1e-9
    q.set_num_updates(10_000_000)
    assert q.curr_temp == 0.5
    x = torch.randn(50, 16)
    q.train()
    out = q(x)
    cb = q.codevectors  # (G, V, d)
    expect = torch.cat([cb[g, out.codes[:, g]] for g in range(2)], dim=1)
    assert torch.allclose(out.quantized, expect, atol=1e-6)  # forward value is the hard codeword
    (out.quantized.sum() + out.prob_perplexity).backward()
    assert q.weight_proj.weight.grad.abs().sum() > 0  # straight-through gradient reaches the logits
    assert q.codevectors.grad.abs().sum() > 0
    q.eval()
    with torch.no_grad():
        ev = q(x)
    assert torch.equal(ev.codes, q.weight_proj(x).view(50, 2, 8).argmax(-1))
    assert 2.0 - 1e-4 <= float(ev.code_perplexity) <= 16.0 + 1e-4
    assert 2.0 - 1e-4 <= float(ev.prob_perplexity) <= 16.0 + 1e-4


@pytest.mark.parametrize("pre_ln", [False, True])
def test_transformer_output_does_not_depend_on_padding(pre_ln):
    torch.manual_seed(0)
    enc = TransformerEncoder(dim=32, ffn_dim=64, num_layers=2, num_heads=4, conv_pos=8, conv_pos_groups=4,
                             layer_norm_first=pre_ln).eval()
    x = torch.randn(1, 20, 32)
    padded = torch.cat([x, 5 * torch.randn(1, 11, 32)], dim=1)
    pad = torch.arange(31)[None, :] >= 20
    with torch.no_grad():
        alone = enc(x)
        with_pad = enc(padded, pad)
    assert (alone - with_pad[:, :20]).abs().max() < 1e-5


def test_layerdrop_skips_layers_in_training_only():
    torch.manual_seed(0)
    enc = TransformerEncoder(dim=16, ffn_dim=32, num_layers=3, num_heads=2, conv_pos=4, conv_pos_groups=2,
                             dropout=0.0, attention_dropout=0.0, layerdrop=1.0)
    x = torch.randn(2, 7, 16)
    enc.train()
    all_dropped = enc(x)
    ref = enc.layer_norm(x + enc.pos_conv(x))
    assert torch.allclose(all_dropped, ref, atol=1e-6)
    assert len(enc(x, return_all=True)) == 4  # extraction never drops layers
    enc.eval()
    assert not torch.allclose(enc(x), ref, atol=1e-3)


@pytest.mark.parametrize("pre_ln", [False, True])
def test_forward_rows_equals_full_forward_at_selected_frames(pre_ln):
    from audiocl.nn.masking import compute_span_mask
    from audiocl.nn.transformer import RowIndex

    torch.manual_seed(0)
    enc = TransformerEncoder(dim=32, ffn_dim=64, num_layers=2, num_heads=4, conv_pos=8, conv_pos_groups=4,
                             layer_norm_first=pre_ln, dropout=0.0, attention_dropout=0.0, layerdrop=0.0)
    lengths = torch.tensor([30, 22, 9])
    pad = torch.arange(30)[None, :] >= lengths[:, None]
    mask = compute_span_mask(lengths, 30, 0.5, 4, 1)
    x = torch.randn(3, 30, 32, requires_grad=True)
    full = enc(x, pad)[mask]
    (g_full,) = torch.autograd.grad(full.square().sum(), x)
    rows = enc.forward_rows(x, pad, RowIndex(mask))
    (g_rows,) = torch.autograd.grad(rows.square().sum(), x)
    assert rows.shape == full.shape
    assert torch.allclose(rows, full, atol=1e-5)
    assert torch.allclose(g_rows, g_full, atol=1e-5)


@pytest.mark.parametrize("mode", ["group", "layer", "none"])
def test_conv_encoder_with_lengths_matches_padded_batch_on_valid_frames(mode):
    torch.manual_seed(0)
    enc = ConvFeatureEncoder([(6, 10, 5), (6, 3, 2), (6, 2, 2)], mode=mode)
    lengths = torch.tensor([400, 257, 30])
    wav = torch.randn(3, 400) * (torch.arange(400)[None] < lengths[:, None])
    full = enc(wav)
    trimmed = enc(wav, lengths)
    valid = torch.arange(full.shape[-1])[None] < enc.output_lengths(lengths)[:, None]
    torch.testing.assert_close(trimmed.transpose(1, 2)[valid], full.transpose(1, 2)[valid])
    g_full = torch.autograd.grad(full.transpose(1, 2)[valid].pow(2).sum(), list(enc.parameters()))
    g_trim = torch.autograd.grad(trimmed.transpose(1, 2)[valid].pow(2).sum(), list(enc.parameters()))
    for a, b in zip(g_trim, g_full):
        torch.testing.assert_close(a, b)
