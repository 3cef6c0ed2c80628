"""The filterbank frame encoder used by the ``tiny`` wav2vec 2.0 preset."""

from __future__ import annotations

import pytest
import torch

from audiocl.errors import ConfigError
from audiocl.features.config import FbankConfig
from audiocl.features.kaldi import fbank_batch
from audiocl.hub.convert_hf import config_to_hf
from audiocl.models.wav2vec2 import Wav2Vec2Config, Wav2Vec2ForPretraining, Wav2Vec2Model
from audiocl.nn.fbank_frontend import FbankFrameEncoder


@pytest.mark.parametrize("num_samples", [720, 721, 1039, 1040, 16000, 16321])
def test_output_lengths_match_forward_and_receptive_field(num_samples):
    enc = FbankFrameEncoder(dim=16)
    out = enc(torch.randn(1, num_samples))
    assert out.shape == (1, 16, int(enc.output_lengths(torch.tensor([num_samples]))))
    assert enc.receptive_field == 720  # 25 ms window + 2 hops of 10 ms: one output frame
    assert int(enc.output_lengths(torch.tensor([719]))) == 0
    assert FbankFrameEncoder.frame_shift_for(16000) == 320


def test_valid_frames_do_not_depend_on_padding():
    torch.manual_seed(0)
    enc = FbankFrameEncoder(dim=8)
    short = 0.1 * torch.randn(1, 5000)
    padded = torch.cat([short, torch.zeros(1, 3000)], dim=1)
    noisy_pad = torch.cat([short, torch.randn(1, 3000)], dim=1)
    n = int(enc.output_lengths(torch.tensor([5000])))
    a, b, c = enc(short), enc(padded)[..., :n], enc(noisy_pad)[..., :n]
    assert torch.allclose(a, b, atol=1e-6) and torch.allclose(a, c, atol=1e-6)


def test_first_stage_is_kaldi_fbank():
    """The conv sees exactly the (layer-normed) Kaldi fbank of the waveform: a zero-bias conv that picks
    one mel bin at each frame's first tap reproduces that bin."""
    torch.manual_seed(0)
    enc = FbankFrameEncoder(dim=80, kernel=1, stride=1)
    with torch.no_grad():
        enc.conv.weight.zero_()
        enc.conv.weight[:, :, 0] = torch.eye(80)
        enc.conv.bias.zero_()
    wav = 0.2 * torch.randn(1, 4000)
    ref, _ = fbank_batch(wav, torch.tensor([4000]), FbankConfig(dither=0.0, snip_edges=True))
    ref = torch.nn.functional.layer_norm(ref, (80,))
    assert torch.allclose(enc(wav).transpose(1, 2), torch.nn.functional.gelu(ref), atol=1e-5)


def test_wav2vec2_with_fbank_frontend_trains_and_reports_its_frame_shift():
    cfg = Wav2Vec2Config(frontend="fbank", fbank_dim=32, encoder_embed_dim=32, encoder_ffn_dim=64, encoder_layers=2,
                         encoder_attention_heads=2, conv_pos=8, conv_pos_groups=4, latent_vars=8, final_dim=16,
                         num_negatives=5, mask_prob=0.4, mask_length=3)
    assert cfg.frame_shift == 320 == Wav2Vec2Config().frame_shift
    torch.manual_seed(0)
    model = Wav2Vec2ForPretraining(cfg).train()
    assert model.min_samples == 720
    wav, lengths = 0.3 * torch.randn(2, 16000), torch.tensor([16000, 9000])
    out = model(wav, lengths)
    out.loss.backward()
    assert torch.isfinite(out.loss) and model.wav2vec2.feature_extractor.conv.weight.grad.abs().sum() > 0
    enc = Wav2Vec2Model(cfg).eval()
    assert enc(wav, lengths).frame_lengths.tolist() == [48, 26]  # (98 - 3) // 2 + 1, (54 - 3) // 2 + 1


def test_tiny_preset_uses_fbank_and_hf_export_refuses_it():
    tiny = Wav2Vec2Config.preset("tiny")
    assert tiny.frontend == "fbank"
    with pytest.raises(ConfigError, match="conv front-end"):
        config_to_hf(tiny)
    config_to_hf(Wav2Vec2Config.preset("tiny", frontend="conv"))
    with pytest.raises(ConfigError, match="frontend"):
        Wav2Vec2Config(frontend="mfcc").validate()
