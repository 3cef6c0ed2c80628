"""Feature-extraction speed: audiocl (batched) vs torchaudio.compliance.kaldi.fbank vs librosa.

All three compute 80-bin log-mel features of the same generated audio (default: 150 utterances of
2-6 s, 10 minutes in total) in one process, one after the other, with the same thread count; the
best of ``--repeats`` runs is reported as seconds, real-time factor and the ratio to torchaudio's
per-utterance call (ratio > 1: faster than torchaudio). Nothing here asserts on time.

    python benchmarks/features.py                      # CPU, 1 thread
    python benchmarks/features.py --device cuda        # audiocl and torchaudio on the GPU

Measured tables, with the options of each row: ``benchmarks/results/features.md``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def make_audio(num_utts: int, min_s: float, max_s: float, sample_rate: int, seed: int) -> list[np.ndarray]:
    """Speech-like test signals: a gliding harmonic source, syllable-rate amplitude envelope, noise."""
    rng = np.random.default_rng(seed)
    utts = []
    for _ in range(num_utts):
        n = int(rng.uniform(min_s, max_s) * sample_rate)
        t = np.arange(n) / sample_rate
        f0 = rng.uniform(90, 220) * (1 + 0.1 * np.sin(2 * np.pi * rng.uniform(0.5, 2) * t))
        phase = 2 * np.pi * np.cumsum(f0) / sample_rate
        wav = sum(np.sin(k * phase) / k for k in range(1, 12))
        envelope = 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(3, 5) * t) ** 2
        wav = wav * envelope + 0.05 * rng.standard_normal(n)
        utts.append((0.5 * wav / np.abs(wav).max()).astype(np.float32))
    return utts


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_interleaved(rows, repeats: int, device: str) -> list[tuple[str, float]]:
    """Best-of-``repeats`` seconds per method; rounds interleave the methods so that load from other
    processes on a shared machine hits all of them alike."""
    for _, fn in rows:  # warm-up: caches, kernels, allocator
        fn()
    best = {name: float("inf") for name, _ in rows}
    for _ in range(repeats):
        for name, fn in rows:
            _sync(device)
            start = time.perf_counter()
            fn()
            _sync(device)
            best[name] = min(best[name], time.perf_counter() - start)
    return [(name, best[name]) for name, _ in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N] (librosa always runs on the CPU)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    parser.add_argument("--num-utts", type=int, default=150)
    parser.add_argument("--min-seconds", type=float, default=2.0)
    parser.add_argument("--max-seconds", type=float, default=6.0)
    parser.add_argument("--batch-size", type=int, default=32, help="audiocl utterances per batched call")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--num-mel-bins", type=int, default=80)
    parser.add_argument("--skip-librosa", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import torchaudio.compliance.kaldi as ta_kaldi

    from audiocl.features import FbankConfig, LogMelConfig, compute_features, compute_features_batch

    torch.set_num_threads(args.threads)
    device = args.device
    sr = 16000
    utts = make_audio(args.num_utts, args.min_seconds, args.max_seconds, sr, args.seed)
    total_s = sum(len(u) for u in utts) / sr
    cfg = FbankConfig(num_mel_bins=args.num_mel_bins)
    # torchaudio gets what a user would hand it: a (1, T) tensor already on the device, int16 scale
    ta_inputs = [torch.from_numpy(u).unsqueeze(0).mul(32768.0).to(device) for u in utts]
    # audiocl's batches: sorted by length so that padding stays small (what `audiocl extract` does)
    order = sorted(range(len(utts)), key=lambda i: len(utts[i]))
    batches = [[utts[i] for i in order[k:k + args.batch_size]] for k in range(0, len(order), args.batch_size)]
    on_device = [torch.from_numpy(u).to(device) for u in utts]

    def run_torchaudio():
        for x in ta_inputs:
            ta_kaldi.fbank(x, num_mel_bins=args.num_mel_bins, energy_floor=1.0)

    def run_audiocl_batched():
        for batch in batches:
            compute_features_batch(batch, cfg, device=device)

    def run_audiocl_single():
        for x in on_device:
            compute_features(x, cfg)

    lm_cfg = LogMelConfig(n_mels=args.num_mel_bins)

    def run_audiocl_logmel():
        for batch in batches:
            compute_features_batch(batch, lm_cfg, device=device)

    def run_librosa():
        import librosa

        for u in utts:
            mel = librosa.feature.melspectrogram(y=u, sr=sr, n_fft=400, hop_length=160, n_mels=args.num_mel_bins)
            np.log(np.maximum(mel, 1e-10))

    rows = [("torchaudio.compliance.kaldi.fbank (per utterance)", run_torchaudio),
            (f"audiocl fbank (batched, {args.batch_size} utts/call)", run_audiocl_batched),
            ("audiocl fbank (per utterance)", run_audiocl_single),
            (f"audiocl log-mel (batched, {args.batch_size} utts/call)", run_audiocl_logmel)]
    if not args.skip_librosa:
        rows.append(("librosa melspectrogram + log (per utterance, CPU)", run_librosa))

    dev_name = torch.cuda.get_device_name(device) if device.startswith("cuda") else "cpu"
    print(f"audio: {len(utts)} utterances, {total_s:.1f} s ({total_s / 60:.2f} min), {sr} Hz; "
          f"{args.num_mel_bins} mel bins; device {device} ({dev_name}); torch threads {args.threads}; "
          f"best of {args.repeats}")
    results = time_interleaved(rows, args.repeats, device)
    reference = results[0][1]
    print(f"{'method':<55} {'seconds':>8} {'x realtime':>11} {'speed vs torchaudio':>20}")
    for name, secs in results:
        print(f"{name:<55} {secs:8.3f} {total_s / secs:11.0f} {reference / secs:19.2f}x")


if __name__ == "__main__":
    main()
