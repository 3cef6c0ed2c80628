"""2-process DDP (gloo, CPU) through the shared runner = 1 process on the combined batch: same loss, same gradients."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

REPO = Path(__file__).resolve().parents[2]
TOY = REPO / "tests" / "tasks" / "toy.py"


def _items(root: Path) -> Path:
    """16 utterances of exactly 0.5 s: every global batch has an even size, split equally over 2 ranks."""
    rng = np.random.default_rng(0)
    items = []
    for i in range(16):
        t = np.arange(8000) / 16000
        wav = (0.05 + 0.03 * (i % 7)) * np.sin(2 * np.pi * (90 + 17 * i) * t) + 0.01 * rng.standard_normal(8000)
        path = root / f"u{i:02d}.wav"
        sf.write(path, wav.astype(np.float32), 16000)
        items.append({"utt_id": f"u{i:02d}", "spec": str(path), "duration": 0.5})
    out = root / "items.json"
    out.write_text(json.dumps(items))
    return out


def _run(items: Path, exp: Path, dump: Path, devices: int, mbs: float) -> subprocess.Popen:
    dump.mkdir(parents=True)
    cmd = [sys.executable, str(TOY), str(items), str(exp), "max_steps=3", "every=0", "dropout=0.0",
           f"mbs={mbs}", f"devices={devices}", f"dump={dump}"]
    if devices > 1:
        cmd.append("strategy=ddp")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.integration
def test_two_process_gloo_ddp_matches_one_process_on_combined_batch(tmp_path):
    items = _items(tmp_path)
    # per-rank budget 1.0 s x 2 ranks = the single process' 2.0 s: the same global batches (4 x 0.5 s)
    single = _run(items, tmp_path / "exp1", tmp_path / "d1", devices=1, mbs=2.0)
    ddp = _run(items, tmp_path / "exp2", tmp_path / "d2", devices=2, mbs=1.0)
    out1, out2 = single.communicate()[0], ddp.communicate()[0]
    assert single.returncode == 0, out1[-3000:]
    assert ddp.returncode == 0, out2[-3000:]

    g1 = torch.load(tmp_path / "d1" / "grads_rank0.pt")
    for rank in (0, 1):
        g2 = torch.load(tmp_path / "d2" / f"grads_rank{rank}.pt")
        assert g1.keys() == g2.keys()
        for name in g1:
            torch.testing.assert_close(g2[name], g1[name], rtol=1e-5, atol=1e-7, msg=name)
    f1 = torch.load(tmp_path / "d1" / "final_rank0.pt")
    f2 = torch.load(tmp_path / "d2" / "final_rank0.pt")
    assert [n for _, n in f1["losses"]] == [4.0, 4.0, 4.0]  # 4 utterances per step in both runs
    for (l1, _), (l2, _) in zip(f1["losses"], f2["losses"]):
        assert l2 == pytest.approx(l1, rel=1e-5)
    for name, p in f1["params"].items():
        torch.testing.assert_close(f2["params"][name], p, rtol=1e-5, atol=1e-6, msg=name)
