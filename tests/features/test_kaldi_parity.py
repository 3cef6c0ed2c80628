"""fbank and MFCC match torchaudio.compliance.kaldi (a port of Kaldi) within 1e-3, dither off."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchaudio.compliance.kaldi as ta_kaldi

from audiocl.features import FbankConfig, MfccConfig, compute_features, compute_features_batch

TOL = 1e-3

# (snip_edges, window_type, use_energy, raw_energy, extra): each Kaldi option path is crossed at least once.
COMBOS = [
    (True, "povey", False, True, {}),
    (False, "povey", True, True, {}),
    (True, "hamming", True, False, {"preemphasis_coefficient": 0.0}),
    (False, "hanning", False, True, {"remove_dc_offset": False}),
    (True, "rectangular", True, True, {"round_to_power_of_two": False, "frame_length": 20.0}),
    (False, "blackman", True, False, {"low_freq": 60.0, "high_freq": -400.0, "energy_floor": 0.0}),
]


def _reference(kind, wav, cfg):
    fn = ta_kaldi.fbank if kind == "fbank" else ta_kaldi.mfcc
    kwargs = dict(
        sample_frequency=cfg.sample_frequency, frame_length=cfg.frame_length, frame_shift=cfg.frame_shift,
        dither=0.0, preemphasis_coefficient=cfg.preemphasis_coefficient, remove_dc_offset=cfg.remove_dc_offset,
        window_type=cfg.window_type, round_to_power_of_two=cfg.round_to_power_of_two, snip_edges=cfg.snip_edges,
        num_mel_bins=cfg.num_mel_bins, low_freq=cfg.low_freq, high_freq=cfg.high_freq, use_energy=cfg.use_energy,
        energy_floor=cfg.energy_floor, raw_energy=cfg.raw_energy, htk_compat=cfg.htk_compat,
        subtract_mean=cfg.subtract_mean,
    )
    if kind == "mfcc":
        kwargs.update(num_ceps=cfg.num_ceps, cepstral_lifter=cfg.cepstral_lifter)
    return fn(torch.from_numpy(wav).unsqueeze(0) * cfg.waveform_scale, **kwargs).numpy()


def _check(kind, utts, combo):
    snip, window, energy, raw, extra = combo
    cls = FbankConfig if kind == "fbank" else MfccConfig
    cfg = cls(snip_edges=snip, window_type=window, use_energy=energy, raw_energy=raw, **extra)
    # batched (unequal lengths, one call) must equal the per-utterance reference
    batch = compute_features_batch([w for _, w in utts], cfg).unpad()
    for (name, wav), ours in zip(utts, batch):
        ref = _reference(kind, wav, cfg)
        assert ours.shape == ref.shape, f"{name}: {ours.shape} vs {ref.shape}"
        diff = float(np.abs(ours - ref).max())
        assert diff <= TOL, f"{name} {kind} {combo}: max abs diff {diff}"


@pytest.mark.parametrize("combo", COMBOS, ids=lambda c: f"snip{int(c[0])}-{c[1]}-e{int(c[2])}-raw{int(c[3])}")
@pytest.mark.parametrize("kind", ["fbank", "mfcc"])
def test_parity_real_speech(kind, combo, real_speech):
    _check(kind, real_speech, combo)


@pytest.mark.parametrize("combo", COMBOS[:3], ids=lambda c: f"snip{int(c[0])}-{c[1]}-e{int(c[2])}")
@pytest.mark.parametrize("kind", ["fbank", "mfcc"])
def test_parity_synthesized_speech(kind, combo, synth_speech):
    _check(kind, synth_speech, combo)


def test_parity_unscaled_waveform_and_htk_compat(real_speech):
    """waveform_scale=1 (torchaudio on the raw [-1, 1] scale) and HTK column order."""
    name, wav = real_speech[0]
    for cfg, kind in [(FbankConfig(waveform_scale=1.0, use_energy=True, htk_compat=True), "fbank"),
                      (MfccConfig(waveform_scale=1.0, htk_compat=True, num_ceps=20, num_mel_bins=40), "mfcc"),
                      (MfccConfig(use_energy=False, htk_compat=True, cepstral_lifter=0.0), "mfcc"),
                      (FbankConfig(subtract_mean=True, use_energy=True, num_mel_bins=23), "fbank")]:
        ours = compute_features(wav, cfg)
        ref = _reference(kind, wav, cfg)
        assert float(np.abs(ours - ref).max()) <= TOL, (kind, cfg)


def test_single_and_batched_agree_and_padding_is_zero(real_speech):
    cfg = FbankConfig(snip_edges=False)
    wavs = [w for _, w in real_speech]
    out = compute_features_batch(wavs, cfg)
    for i, w in enumerate(wavs):
        single = compute_features(w, cfg)
        n = int(out.lengths[i])
        assert single.shape[0] == n == (len(w) + 80) // 160
        np.testing.assert_allclose(out.feats[i, :n].numpy(), single, atol=1e-4)
        assert not out.mask[i, :n].any() and out.mask[i, n:].all()
        assert torch.all(out.feats[i, n:] == 0)


def test_tensor_in_tensor_out(real_speech):
    wav = torch.from_numpy(real_speech[0][1])
    out = compute_features(wav, MfccConfig())
    assert isinstance(out, torch.Tensor) and out.shape[1] == 13
