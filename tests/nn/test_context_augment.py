"""Context-only augmentation for wav2vec 2.0 pretraining: the warp, the noise, and which path they touch."""

from __future__ import annotations

import pytest
import torch

from audiocl.errors import ConfigError
from audiocl.features.kaldi import fbank_batch
from audiocl.models.wav2vec2 import Wav2Vec2Config, Wav2Vec2ForPretraining
from audiocl.nn.context_augment import add_white_noise, mel_bin_centres, mel_warp
from audiocl.nn.fbank_frontend import FbankFrameEncoder


def _tone(freq: float, n: int = 16000) -> torch.Tensor:
    return torch.sin(2 * torch.pi * freq * torch.arange(n) / 16000)[None]


@pytest.mark.parametrize("alpha", [0.85, 1.0, 1.2])
def test_mel_warp_moves_a_tone_by_the_warp_factor(alpha):
    enc = FbankFrameEncoder(dim=8, num_mel_bins=80)
    feats, _ = fbank_batch(_tone(1000.0), torch.tensor([16000]), enc.fbank_cfg)
    centres = mel_bin_centres(80, *enc.mel_range())
    warped = mel_warp(feats, torch.tensor([alpha]), *enc.mel_range())
    peak = float(centres[warped[0, 40].argmax()])
    assert abs(peak - 1000.0 * alpha) < 0.06 * 1000.0 * alpha  # within about one mel bin
    if alpha == 1.0:
        assert torch.allclose(warped, feats, atol=1e-4)


def test_mel_warp_is_per_utterance():
    enc = FbankFrameEncoder(dim=8, num_mel_bins=40)
    wav = torch.cat([_tone(800.0), _tone(800.0)])
    feats, _ = fbank_batch(wav, torch.tensor([16000, 16000]), enc.fbank_cfg)
    warped = mel_warp(feats, torch.tensor([1.0, 1.3]), *enc.mel_range())
    centres = mel_bin_centres(40, *enc.mel_range())
    assert centres[warped[0, 10].argmax()] < centres[warped[1, 10].argmax()]


def test_white_noise_has_the_requested_snr_and_leaves_padding_alone():
    torch.manual_seed(0)
    wav = torch.cat([_tone(440.0, 32000), 0.1 * _tone(440.0, 32000)])
    wav[1, 16000:] = 0.0
    lengths = torch.tensor([32000, 16000])
    snr = torch.tensor([10.0, 20.0])
    noisy = add_white_noise(wav, lengths, snr)
    for i, n in enumerate(lengths.tolist()):
        sig, noise = wav[i, :n], noisy[i, :n] - wav[i, :n]
        measured = 10 * torch.log10(sig.pow(2).mean() / noise.pow(2).mean())
        assert abs(float(measured) - float(snr[i])) < 0.3
    assert torch.equal(noisy[1, 16000:], torch.zeros(16000))


def test_config_checks():
    with pytest.raises(ConfigError, match="frontend=fbank"):
        Wav2Vec2Config(context_warp=0.1).validate()  # conv front-end: nothing to warp
    with pytest.raises(ConfigError, match="context_warp"):
        Wav2Vec2Config.preset("tiny", context_warp=0.7).validate()
    with pytest.raises(ConfigError, match="context_noise_snr"):
        Wav2Vec2Config.preset("tiny", context_noise_snr=[20.0, 10.0]).validate()
    Wav2Vec2Config(context_noise_snr=[5.0, 20.0]).validate()  # noise works with either front-end


def _capture_inputs(model: Wav2Vec2ForPretraining, wav: torch.Tensor, lengths: torch.Tensor, mask: torch.Tensor):
    seen: dict[str, torch.Tensor] = {}
    hooks = [model.quantizer.register_forward_pre_hook(lambda m, a: seen.__setitem__("targets_in", a[0])),
             model.wav2vec2.feature_proj.register_forward_pre_hook(lambda m, a: seen.__setitem__("context_in", a[0]))]
    torch.manual_seed(1)
    model(wav, lengths, mask=mask)
    for h in hooks:
        h.remove()
    return seen


def test_augmentation_reaches_the_context_network_only():
    """With the perturbation on, the quantizer (targets) sees exactly the clean features; the context
    network's input differs. In eval mode nothing is perturbed."""
    no_dropout = dict(dropout=0.0, dropout_input=0.0, dropout_features=0.0, attention_dropout=0.0)
    clean_cfg = Wav2Vec2Config.preset("tiny", **no_dropout)
    aug_cfg = Wav2Vec2Config.preset("tiny", context_warp=0.2, context_noise_snr=[5.0, 10.0], **no_dropout)
    torch.manual_seed(0)
    clean = Wav2Vec2ForPretraining(clean_cfg)
    aug = Wav2Vec2ForPretraining(aug_cfg)
    aug.load_state_dict(clean.state_dict())
    wav, lengths = 0.1 * torch.randn(2, 24000), torch.tensor([24000, 20000])
    frames = int(clean.wav2vec2.frame_lengths(torch.tensor([24000])))
    mask = torch.zeros(2, frames, dtype=torch.bool)
    mask[:, 10:20] = True
    clean.train(), aug.train()
    a, b = _capture_inputs(clean, wav, lengths, mask), _capture_inputs(aug, wav, lengths, mask)
    assert torch.equal(a["targets_in"], b["targets_in"])
    n = 40  # valid frames of both utterances
    assert (a["context_in"][:, :n] - b["context_in"][:, :n]).abs().mean() > 0.05
    aug.eval()
    with torch.no_grad():
        layers_aug, _ = aug.extract_layers(wav, lengths)
        layers_clean, _ = clean.eval().extract_layers(wav, lengths)
    assert torch.allclose(layers_aug[-1], layers_clean[-1])
