#!/usr/bin/env python
"""Which layers of a wav2vec 2.0 upstream carry the spoken content? A label-free probe.

mini_tts speaks each training sentence with about two different voices. For ``--pairs`` such
pairs, every utterance ranks all the others by the length-normalised DTW cost between their
frame features (cosine distance of mean-removed, unit-norm frames); the probe reports how often
the top-ranked utterance is the same sentence in the other voice. Voice-specific features score
low, content features high. Compared: every layer of ``--release`` (0 = transformer input), the
same architecture with random weights (``--random``), and 80-bin log-mel features.

    python egs/mini_tts/local/content_probe.py --data data/train --release exp/pretrain/release
"""
from __future__ import annotations

import argparse
import collections

import librosa
import numpy as np
import soundfile as sf
import torch

from audiocl.data.datadir import DataDir
from audiocl.hub.release import load_release


def unit_frames(h: np.ndarray) -> np.ndarray:
    h = h - h.mean(0)
    return h / (np.linalg.norm(h, axis=1, keepdims=True) + 1e-8)


def sentence_pairs(data: DataDir, pairs: int) -> list[str]:
    by_text = collections.defaultdict(list)
    for utt, text in sorted(data.text.items()):
        by_text[text].append(utt)
    groups = [u[:2] for u in by_text.values() if len(u) >= 2 and data.utt2spk[u[0]] != data.utt2spk[u[1]]]
    return [u for g in groups[:pairs] for u in g]


def dtw_cost(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine-distance DTW cost of two unit-frame sequences, divided by the warping path length."""
    acc, path = librosa.sequence.dtw(C=1 - a @ b.T)
    return float(acc[-1, -1] / len(path))


def top1_same_sentence(frames: list[np.ndarray]) -> float:
    """Utterances come in pairs (2i, 2i+1); fraction whose nearest neighbour is their partner."""
    hits = 0
    for i, a in enumerate(frames):
        costs = [np.inf if j == i else dtw_cost(a, b) for j, b in enumerate(frames)]
        hits += int(np.argmin(costs) == (i ^ 1))
    return hits / len(frames)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--release", required=True)
    ap.add_argument("--pairs", type=int, default=40)
    ap.add_argument("--random", action="store_true", help="also score the same architecture with random weights")
    args = ap.parse_args()
    torch.set_num_threads(1)
    data = DataDir.load(args.data)
    utts = sentence_pairs(data, args.pairs)
    pretrained, _ = load_release(args.release)
    models = {"pretrained": pretrained}
    if args.random:
        torch.manual_seed(0)
        models["random"] = type(pretrained)(pretrained.wav2vec2.cfg)
    feats: dict[str, list[np.ndarray]] = collections.defaultdict(list)
    with torch.no_grad():
        for utt in utts:
            wav, _ = sf.read(data.wav_scp[utt], dtype="float32")
            for name, model in models.items():
                layers, _ = model.eval().extract_layers(torch.from_numpy(wav)[None], torch.tensor([len(wav)]))
                for i, h in enumerate(layers):
                    feats[f"{name} layer {i}"].append(unit_frames(h[0].numpy()))
            mel = librosa.feature.melspectrogram(y=wav, sr=16000, n_fft=400, hop_length=320, n_mels=80)
            feats["log-mel"].append(unit_frames(np.log(mel + 1e-6).T))
    print(f"same-sentence top-1 over {len(utts)} utterances ({len(utts) // 2} sentence pairs, two voices each)")
    for key, frames in feats.items():
        print(f"{key:>20}: {top1_same_sentence(frames):.3f}", flush=True)


if __name__ == "__main__":
    main()
