"""The contrastive objectives on the wav2vec 2.0 pretraining head (tiny preset), same budget.

Two steps, so the training can run on a machine without the data or the YAML tooling::

    # 1. here: crop the mini_tts corpus to 2 s clips and freeze the tiny config into one file
    python benchmarks/losses_speech.py prepare --data egs/mini_tts/data --out .losses_speech/mini_tts_2s.pt
    # 2. anywhere with torch (+ scikit-learn for the probe), GPU if available
    python benchmarks/losses_speech.py run --prepared .losses_speech/mini_tts_2s.pt --steps 200 --seeds 3

For every objective (registered defaults; ``loss_kwargs={}``) and seed: the ``configs/pretrain/tiny.yaml``
wav2vec 2.0 model is pretrained for ``--steps`` AdamW steps with the preset's optimiser (lr 1.5e-3 after a
20-step linear warm-up, betas 0.9/0.98, eps 1e-6, weight decay 0.01; batch 8 clips of 2 s = the preset's
16 s, from ``train``); then on the held-out ``dev`` split (unseen voices and sentences) we report
(a) the contrastive accuracy of the head (is the true quantized target the top-scoring candidate among
the model's distractors; objective-independent) and (b) a prosody-style probe: logistic regression
on the mean-pooled output of the last transformer layer, trained on ``train`` and scored on ``dev``
(4 styles: fast / high / neutral / slow). Mean ± std over seeds; writes a markdown table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

OBJECTIVES = ["infonce", "nce", "dcl", "debiased", "hard_negative", "supcon", "multi_similarity", "auc", "cwcl"]
CLIP = 32000  # 2 s at 16 kHz


def prepare(args) -> int:
    from audiocl.config import config_to_dict
    from audiocl.data.datadir import DataDir
    from audiocl.tasks.pretrain_config import resolve_pretrain_config

    cfg = resolve_pretrain_config([args.config], [])
    out = {"config": config_to_dict(cfg.model)}
    styles: list[str] = []
    for split in ("train", "dev"):
        d = DataDir.load(os.path.join(args.data, split))
        style = d.extra["utt2style"]
        wavs, labels, lengths = [], [], []
        for utt in d.utt_ids:
            w = d.read_audio(utt, sample_rate=16000)[:CLIP]
            lengths.append(len(w))
            wavs.append(np.pad(w, (0, CLIP - len(w))))
            if style[utt] not in styles:
                styles.append(style[utt])
            labels.append(style[utt])
        out[split] = {"wav": torch.from_numpy(np.stack(wavs)).half(), "lengths": torch.tensor(lengths),
                      "style": labels}
    out["styles"] = sorted(styles)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    torch.save(out, args.out)
    print(f"wrote {args.out}: train {len(out['train']['style'])}, dev {len(out['dev']['style'])} clips")
    return 0


def build(cfg_dict: dict, loss: str | None):
    from audiocl.models import PRETRAIN_MODELS

    cls_cfg, cls_model = PRETRAIN_MODELS["wav2vec2"]
    d = dict(cfg_dict)
    if loss is not None:
        d["loss"], d["loss_kwargs"] = loss, {}
    return cls_model(cls_cfg(**d))


@torch.no_grad()
def pooled_last_layer(model, wav, lengths, device, bs=32) -> np.ndarray:
    feats = []
    for i in range(0, len(wav), bs):
        layers, flen = model.extract_layers(wav[i:i + bs].float().to(device), lengths[i:i + bs].to(device))
        z = layers[-1]
        mask = (torch.arange(z.shape[1], device=device)[None, :] < flen[:, None]).to(z.dtype)
        feats.append(((z * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1)).cpu())
    return torch.cat(feats).numpy()


def run_one(data, loss, seed, steps, batch, device, lr=1.5e-3, warmup=20):
    torch.manual_seed(seed)
    model = build(data["config"], loss).to(device).train()
    tr, dev = data["train"], data["dev"]
    g = torch.Generator().manual_seed(seed)
    if loss is not None:
        opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.98), eps=1e-6, weight_decay=0.01)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warmup))
        for step in range(steps):
            idx = torch.randint(0, len(tr["lengths"]), (batch,), generator=g)
            model.set_num_updates(step)
            out = model(tr["wav"][idx].float().to(device), tr["lengths"][idx].to(device))
            opt.zero_grad()
            out.loss.backward()
            opt.step()
            sched.step()
    model.eval()
    torch.manual_seed(1234)
    with torch.no_grad():
        accs = [float(model(dev["wav"][i:i + 16].float().to(device), dev["lengths"][i:i + 16].to(device)).logs["acc"])
                for i in range(0, len(dev["lengths"]), 16)]
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    xtr = pooled_last_layer(model, tr["wav"], tr["lengths"], device)
    xdv = pooled_last_layer(model, dev["wav"], dev["lengths"], device)
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000, random_state=seed)).fit(xtr, tr["style"])
    return statistics.mean(accs), float((probe.predict(xdv) == np.asarray(dev["style"])).mean())


def fmt(xs):
    return f"{100 * statistics.mean(xs):.1f} ± {100 * (statistics.stdev(xs) if len(xs) > 1 else 0.0):.1f}"


def run(args) -> int:
    from audiocl.utils.io import atomic_write_text

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    data = torch.load(args.prepared)
    rows = [None, *args.objectives]
    res = {}
    t_start = time.time()
    for name in rows:
        for seed in range(args.seeds):
            t0 = time.time()
            acc, probe = run_one(data, name, seed, args.steps, args.batch, device, args.lr)
            r = res.setdefault(name or "random init (no training)", {"acc": [], "probe": []})
            r["acc"].append(acc)
            r["probe"].append(probe)
            print(f"{name or 'random init':17s} seed {seed}: dev contrastive acc {acc:.3f} style probe {probe:.3f} "
                  f"({time.time() - t0:.1f}s)", flush=True)
        dev_name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
        lines = ["# Contrastive objectives on the wav2vec 2.0 head (tiny preset, mini_tts)", "",
                 f"Generated by `python benchmarks/losses_speech.py run --steps {args.steps} --seeds {args.seeds} "
                 f"--batch {args.batch} --lr {args.lr}` on {dev_name} ({time.time() - t_start:.0f} s). Dev split = held-out voices "
                 "and sentences. Contrastive acc = the true quantized target scores highest among the model's "
                 "distractors (same for every objective); style probe = logistic regression on the mean-pooled "
                 "last layer, 4 prosody styles (chance 25 %). Mean ± std over seeds, %.", "",
                 "| objective | dev contrastive acc | dev style probe |", "|---|---|---|"]
        lines += [f"| {k} | {fmt(v['acc'])} | {fmt(v['probe'])} |" for k, v in res.items()]
        atomic_write_text(args.out, "\n".join(lines) + "\n")
    print(open(args.out).read())
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--data", default="egs/mini_tts/data",
                   help="data dirs of the mini_tts recipe (bash egs/mini_tts/run.sh --stop-stage 1)")
    p.add_argument("--config", default="configs/pretrain/tiny.yaml")
    p.add_argument("--out", default=".losses_speech/mini_tts_2s.pt")
    r = sub.add_parser("run")
    r.add_argument("--prepared", default=".losses_speech/mini_tts_2s.pt")
    r.add_argument("--objectives", nargs="+", default=OBJECTIVES)
    r.add_argument("--steps", type=int, default=200)
    r.add_argument("--seeds", type=int, default=3)
    r.add_argument("--batch", type=int, default=8)
    r.add_argument("--lr", type=float, default=1.5e-3)
    r.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    r.add_argument("--device", default=None)
    r.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "losses_speech.md"))
    args = ap.parse_args(argv)
    return prepare(args) if args.cmd == "prepare" else run(args)


if __name__ == "__main__":
    raise SystemExit(main())
