"""The CLAP log-mel CNN: padding never leaks into the output, and time segments keep the order of events."""

from __future__ import annotations

import pytest
import torch

from audiocl.errors import ConfigError
from audiocl.nn.audio_cnn import AudioCNN, AudioCNNConfig, segment_means


def test_segment_means_by_hand():
    x = torch.arange(14, dtype=torch.float).reshape(2, 1, 7)
    out = segment_means(x, torch.tensor([6, 2]), 3)
    # clip 0: frames 0-5 in parts {0,1} {2,3} {4,5}; clip 1: frames 0 and 1 (values 7, 8) fill parts 0 and 1,
    # the empty part 2 takes frame floor(2 * 2 / 3) = 1
    assert torch.equal(out, torch.tensor([[0.5, 2.5, 4.5], [7.0, 8.0, 8.0]]))


@pytest.mark.parametrize("segments", [1, 3])
def test_padding_does_not_change_a_clips_output(segments):
    torch.manual_seed(0)
    model = AudioCNN(16, AudioCNNConfig(channels=[4, 8], time_segments=segments)).eval()
    feats = torch.randn(3, 64, 16)
    pad = torch.zeros(3, 64, dtype=torch.bool)
    pad[1, 40:] = True
    batch = model(feats, pad)
    assert batch.shape == (3, model.out_dim) and model.out_dim == 8 * (1 + (segments if segments > 1 else 0))
    alone = model(feats[1:2, :48], pad[1:2, :48])
    assert torch.allclose(alone, batch[1:2], atol=1e-6)


def test_time_segments_tell_event_order_apart_where_mean_and_max_cannot():
    torch.manual_seed(0)
    a, b = torch.randn(1, 32, 16), 3 * torch.randn(1, 32, 16)
    first_a, first_b = torch.cat([a, b], 1), torch.cat([b, a], 1)
    pooled = AudioCNN(16, AudioCNNConfig(channels=[4], dropout=0.0)).eval()
    ordered = AudioCNN(16, AudioCNNConfig(channels=[4], dropout=0.0, time_segments=2)).eval()
    ordered.load_state_dict(pooled.state_dict())
    # the single block's 3x3 context only mixes the two halves at the seam, so mean + max barely differ ...
    same = (pooled(first_a) - pooled(first_b)).abs().max() / pooled(first_a).abs().max()
    apart = (ordered(first_a) - ordered(first_b)).abs().max() / ordered(first_a).abs().max()
    assert same < 0.05 and apart > 0.2
    # ... and the segment means of one are the other's in swapped order
    seg_a, seg_b = ordered(first_a)[:, 4:].view(2, 4), ordered(first_b)[:, 4:].view(2, 4)
    assert torch.allclose(seg_a.flip(0), seg_b, rtol=0.1, atol=0.05)


def test_time_segments_must_be_positive():
    with pytest.raises(ConfigError, match="time_segments"):
        AudioCNN(16, AudioCNNConfig(time_segments=0))


def test_one_first_block_convolution_keeps_later_blocks_and_default_weights_names():
    default = AudioCNN(16, AudioCNNConfig(channels=[8, 16]))
    cheap = AudioCNN(16, AudioCNNConfig(channels=[8, 16], first_block_convs=1))
    convs = [[m for m in b.modules() if isinstance(m, torch.nn.Conv2d)] for b in cheap.blocks]
    assert [len(c) for c in convs] == [1, 2] and convs[0][0].in_channels == 1
    # the default layout keeps the parameter names of existing releases; the cheap one drops block 1's second conv
    assert "blocks.0.net.3.weight" in default.state_dict() and "blocks.0.net.4.running_mean" in default.state_dict()
    assert set(cheap.state_dict()) < set(default.state_dict())
    assert sum(p.numel() for p in cheap.parameters()) == sum(p.numel() for p in default.parameters()) - 8 * 8 * 9 - 16
    feats, pad = torch.randn(2, 40, 16), torch.zeros(2, 40, dtype=torch.bool)
    assert cheap.eval()(feats, pad).shape == default.eval()(feats, pad).shape == (2, 16)
    with pytest.raises(ConfigError, match="first_block_convs"):
        AudioCNN(16, AudioCNNConfig(first_block_convs=3))
