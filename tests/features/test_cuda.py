"""The batched features on a CUDA device agree with the CPU path and with torchaudio (runs where a GPU is).

Self-contained (no fixtures, stdlib ``wave`` for reading) so that it runs with ``--noconftest`` on a
GPU machine that lacks soundfile: ``python -m pytest -q --noconftest tests/features/test_cuda.py``.
"""

from __future__ import annotations

import glob
import wave

import numpy as np
import pytest
import torch
import torchaudio.compliance.kaldi as ta_kaldi

from audiocl.features import FbankConfig, LogMelConfig, MfccConfig, compute_features_batch

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _speech() -> list[np.ndarray]:
    wavs = []
    for f in sorted(glob.glob("/usr/share/pocketsphinx/test/data/*/*.wav")):
        with wave.open(f) as fh:
            if fh.getsampwidth() == 2 and fh.getnchannels() == 1 and fh.getframerate() == 16000:
                wavs.append(np.frombuffer(fh.readframes(fh.getnframes()), "<i2").astype(np.float32) / 32768)
    rng = np.random.default_rng(0)
    for n in (8000, 23456, 40000):  # plus generated harmonic signals, so the test never runs on nothing
        t = np.arange(n) / 16000
        x = sum(np.sin(2 * np.pi * 130 * k * t) / k for k in range(1, 10)) + 0.05 * rng.standard_normal(n)
        wavs.append((0.4 * x / np.abs(x).max()).astype(np.float32))
    return wavs


@pytest.mark.parametrize("snip_edges", [True, False])
def test_cuda_matches_torchaudio_and_cpu(snip_edges):
    wavs = _speech()
    for cfg, fn in [(FbankConfig(snip_edges=snip_edges, use_energy=True), ta_kaldi.fbank),
                    (MfccConfig(snip_edges=snip_edges), ta_kaldi.mfcc)]:
        gpu = compute_features_batch(wavs, cfg, device="cuda")
        assert gpu.feats.device.type == "cuda"
        cpu = compute_features_batch(wavs, cfg).unpad()
        worst_ref, worst_cpu = 0.0, 0.0
        for w, g, c in zip(wavs, gpu.unpad(), cpu):
            kw = dict(snip_edges=snip_edges, use_energy=cfg.use_energy, num_mel_bins=cfg.num_mel_bins)
            ref = fn(torch.from_numpy(w).unsqueeze(0) * 32768, **kw).numpy()
            assert g.shape == ref.shape == c.shape
            worst_ref = max(worst_ref, float(np.abs(g - ref).max()))
            worst_cpu = max(worst_cpu, float(np.abs(g - c).max()))
        print(f"{type(cfg).__name__} snip_edges={snip_edges}: cuda vs torchaudio(cpu) {worst_ref:.2e}, "
              f"cuda vs audiocl(cpu) {worst_cpu:.2e}")
        # cuFFT rounds differently from pocketfft; bins below float32 resolution of a loud frame move most
        assert worst_ref <= 1e-2 and worst_cpu <= 1e-2


def test_cuda_logmel_matches_cpu():
    wavs = _speech()
    gpu = compute_features_batch(wavs, LogMelConfig(), device="cuda").unpad()
    cpu = compute_features_batch(wavs, LogMelConfig()).unpad()
    worst = max(float(np.abs(g - c).max()) for g, c in zip(gpu, cpu))
    print(f"LogMel cuda vs cpu {worst:.2e}")
    assert worst <= 1e-2
