"""A tiny CLAP data dir in the mini_clap layout, synthesised with numpy (tones, sweeps, noise bursts)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

SR = 16000
KINDS = {
    "low": "a low tone hums",
    "high": "a high beep sounds",
    "noise": "a burst of white noise",
    "rise": "a sweep rises upward",
}


def _event(kind: str, seconds: float, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    if kind == "low":
        x = np.sin(2 * np.pi * (150 + 20 * rng.random()) * t)
    elif kind == "high":
        x = np.sin(2 * np.pi * (2500 + 200 * rng.random()) * t)
    elif kind == "noise":
        x = rng.standard_normal(t.shape)
    else:
        x = np.sin(2 * np.pi * (300 * t + 1200 * t**2 / seconds))
    return (0.3 * x / (np.abs(x).max() + 1e-9)).astype(np.float32)


def write_clap_dir(root: Path, num: int = 24, seed: int = 0, seconds: float = 1.0) -> Path:
    """``root`` as a CLAP data dir: two events in sequence per clip, captions, labels, hard negatives."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    (root / "wav").mkdir(exist_ok=True)
    names = sorted(KINDS)
    wav_scp, text, utt2spk, labels, caps, hard = [], [], [], [], [], []
    for i in range(num):
        a, b = names[i % 4], names[(i // 4 + i + 1) % 4]
        if a == b:
            b = names[(names.index(a) + 1) % 4]
        utt = f"clip{i:03d}"
        wav = np.concatenate([_event(a, seconds / 2, rng), _event(b, seconds / 2, rng)])
        path = root / "wav" / f"{utt}.wav"
        sf.write(path, wav, SR)
        caption = f"{KINDS[a]}, then {KINDS[b]}"
        wav_scp.append(f"{utt} {path}")
        text.append(f"{utt} {caption}")
        utt2spk.append(f"{utt} {utt}")
        labels.append(f"{utt} " + json.dumps({"events": [{"kind": a}, {"kind": b}], "relation": "sequence"}))
        caps.append({"utt": utt, "captions": [caption, f"first {KINDS[a]} and afterwards {KINDS[b]}"]})
        hard.append({"utt": utt, "kind": "order", "caption": f"{KINDS[b]}, then {KINDS[a]}"})
    for name, lines in (("wav.scp", wav_scp), ("text", text), ("utt2spk", utt2spk), ("utt2labels", labels)):
        (root / name).write_text("\n".join(sorted(lines)) + "\n")
    (root / "spk2utt").write_text("\n".join(f"{u.split()[0]} {u.split()[0]}" for u in sorted(utt2spk)) + "\n")
    (root / "utt2first").write_text("\n".join(sorted(f"{u.split()[0]} {json.loads(lab.split(' ', 1)[1])['events'][0]['kind']}"
                                                      for u, lab in zip(wav_scp, labels))) + "\n")
    (root / "zeroshot_labels.json").write_text(json.dumps({"first": names}))
    (root / "compa_pairs.jsonl").write_text("".join(
        json.dumps({"kind": "order", "utt_a": f"clip{i:03d}", "utt_b": f"clip{i + 1:03d}",
                    "caption_a": text[i].split(" ", 1)[1], "caption_b": text[i + 1].split(" ", 1)[1]}) + "\n"
        for i in range(0, num - 1, 2)))
    (root / "captions.jsonl").write_text("".join(json.dumps(c) + "\n" for c in caps))
    (root / "hard_negatives.jsonl").write_text("".join(json.dumps(h) + "\n" for h in hard))
    return root


@pytest.fixture
def clap_dir(tmp_path):
    return write_clap_dir(tmp_path / "data" / "train")
