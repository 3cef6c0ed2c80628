"""SUPERB-style CTC probe: a small CTC head on the frozen upstream's weighted layers (or on fbank).

SUPERB's ASR downstream ("SUPERB: Speech processing Universal PERformance Benchmark") is a 2-layer
BiLSTM of 1024 units on the weighted sum of a frozen upstream's layers. Ours replaces the BiLSTM by
three residual 1-D convolutions (kernel 5, 128 channels) so it trains in minutes on a CPU; the same
probe on fbank (``upstream.kind=fbank``) is the baseline, so the comparison isolates the
representation. It complements (does not replace) full fine-tuning (:mod:`audiocl.tasks.ctc`).

The upstream's layers are computed once (:func:`audiocl.tasks.upstream_layers.data_dir_layers`) and the
probe trains on the cached layers with the shared runner (:func:`audiocl.tasks.runner.run_training`):
AdamW, the tri-stage schedule 0.1/0.4/0.5, gradient norm clipped at 5, ``out_dir/checkpoints/last.ckpt``
so a re-run resumes. Then each evaluation set is decoded greedily and scored:
``out_dir/decode_<set>/{text,metrics.json}`` and ``out_dir/metrics.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from audiocl.config import config_to_dict
from audiocl.errors import DataDirError
from audiocl.models.ctc_asr import ctc_loss_skipping_short
from audiocl.tasks.ctc import CtcTask, concat_targets, transcripts_to_targets
from audiocl.tasks.runner import TrainerConfig, make_loader, run_training
from audiocl.tasks.schedules import TriStage
from audiocl.tasks.upstream import UpstreamConfig, load_upstream
from audiocl.tasks.upstream_layers import CachedLayerDataset, collate_layers, data_dir_layers
from audiocl.utils.io import atomic_write_text


@dataclass
class CtcProbeConfig:
    """The probe head and its training (see the module docstring)."""

    hidden: int = 128
    layers: int = 3
    dropout: float = 0.2
    lr: float = 1e-3
    steps: int = 2000
    batch_size: int = 8
    seed: int = 0
    num_threads: int = 0
    clip_norm: float = 5.0

    def trainer(self) -> TrainerConfig:
        return TrainerConfig(max_steps=self.steps, seed=self.seed, num_threads=self.num_threads,
                             gradient_clip_val=self.clip_norm, checkpoint_every_n_steps=max(1, self.steps // 4),
                             log_every_n_steps=max(1, min(50, self.steps // 10)), progress_bar=False,
                             accelerator="cpu", devices="1")


class CtcProbe(nn.Module):
    """``(layers (L, B, T, C), lengths (B,)) -> log_probs (B, T, vocab)``."""

    def __init__(self, num_layers: int, in_dim: int, vocab: int, cfg: CtcProbeConfig):
        super().__init__()
        from audiocl.nn.weighted_sum import WeightedLayerSum

        self.weighted_sum = WeightedLayerSum(num_layers)
        self.proj = nn.Linear(in_dim, cfg.hidden)
        self.convs = nn.ModuleList(nn.Conv1d(cfg.hidden, cfg.hidden, 5, padding=2) for _ in range(cfg.layers))
        self.dropout = nn.Dropout(cfg.dropout)
        self.out = nn.Linear(cfg.hidden, vocab)

    def forward(self, layers: Tensor, lengths: Tensor) -> Tensor:
        x = self.dropout(torch.relu(self.proj(self.weighted_sum(list(layers)))))
        valid = (torch.arange(x.shape[1], device=x.device)[None, :] < lengths[:, None]).unsqueeze(1).to(x.dtype)
        h = x.transpose(1, 2) * valid
        for conv in self.convs:
            h = (h + self.dropout(torch.relu(conv(h)))) * valid
        return self.out(h.transpose(1, 2)).float().log_softmax(-1)


class CtcLayersCollate:
    """Cached layers plus concatenated CTC targets (picklable for DataLoader workers)."""

    def __init__(self, targets: dict[str, list[int]]):
        self.targets = targets

    def __call__(self, items: list[dict]) -> dict:
        return concat_targets(collate_layers(items), self.targets)


class CtcProbeTask(CtcTask):
    """CTC loss of the probe on cached layers (too-short utterances dropped and counted)."""

    def __init__(self, probe: CtcProbe, cfg: CtcProbeConfig, loader: Any):
        super().__init__()
        self.probe = probe
        self.cfg = cfg
        self._loader = loader

    def train_dataloader(self):
        return self._loader

    def batch_size_of(self, batch: Any) -> int:
        return len(batch["utt_ids"])

    def compute_loss(self, batch: dict) -> tuple[Tensor, dict[str, Any]]:
        lp = self.probe(batch["layers"], batch["lengths"])
        loss, _, used, counts = ctc_loss_skipping_short(lp, batch["lengths"], batch["targets"], batch["target_lengths"])
        self.too_short.update(batch["utt_ids"], used, counts)
        return loss, {"too_short": float(self.too_short.total)}

    def configure_optimizers(self):
        opt = torch.optim.AdamW(self.probe.parameters(), lr=self.cfg.lr, weight_decay=1e-4)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, TriStage(self.cfg.steps, [0.1, 0.4, 0.5], 0.01, 0.05))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


@torch.no_grad()
def _decode(probe: CtcProbe, feats: dict[str, Tensor], tokenizer) -> dict[str, str]:
    from audiocl.models.ctc_decoding import greedy_decode

    hyps: dict[str, str] = {}
    keys = sorted(feats)
    for i in range(0, len(keys), 16):
        batch = collate_layers([{"utt_id": u, "layers": feats[u]} for u in keys[i:i + 16]])
        for u, seq in zip(batch["utt_ids"], greedy_decode(probe(batch["layers"], batch["lengths"]), batch["lengths"])):
            hyps[u] = tokenizer.decode(seq)
    return hyps


def run_ctc_probe(upstream_cfg: UpstreamConfig, train_dir: str | Path, eval_dirs: list[str | Path],
                  out_dir: str | Path, cfg: CtcProbeConfig | None = None, tokenizer_kind: str = "char") -> dict[str, Any]:
    """Train the probe on ``train_dir`` (resumable) and score greedy decoding on each of ``eval_dirs``."""
    from audiocl.data.datadir import DataDir
    from audiocl.data.kaldi_files import write_keyed_file
    from audiocl.data.sampler import DurationBucketBatchSampler
    from audiocl.data.tokenizer import build_tokenizer
    from audiocl.metrics.asr import score_texts

    cfg = cfg or CtcProbeConfig()
    if cfg.num_threads > 0:
        torch.set_num_threads(cfg.num_threads)
    out_dir = Path(out_dir)
    torch.manual_seed(cfg.seed)
    data = DataDir.load(train_dir)
    if not data.text:
        raise DataDirError(f"{train_dir}: no 'text' file")
    tokenizer = build_tokenizer(tokenizer_kind, data.text.values())
    targets, _ = transcripts_to_targets(data.text, tokenizer, str(train_dir))
    upstream, _, _ = load_upstream(upstream_cfg)
    ds = CachedLayerDataset(data_dir_layers(upstream, train_dir), targets)
    if len(ds) == 0:
        raise DataDirError(f"{train_dir}: no utterance has both audio and a non-empty transcript")
    num_layers, _, dim = ds.feats[ds.utts[0]].shape
    probe = CtcProbe(num_layers, dim, len(tokenizer), cfg)
    # batches of at most batch_size utterances; the seconds cap only has to admit them
    sampler = DurationBucketBatchSampler(ds.durations, max(ds.durations) * cfg.batch_size, num_buckets=5,
                                         seed=cfg.seed, max_batch_size=cfg.batch_size)
    task = CtcProbeTask(probe, cfg, make_loader(ds, sampler, CtcLayersCollate(targets)))
    run_config = {"upstream": config_to_dict(upstream_cfg), "probe": config_to_dict(cfg), "train": str(train_dir),
                  "tokenizer": tokenizer_kind}
    metrics = run_training(task, cfg.trainer(), out_dir, config=run_config, title="CTC probe")
    probe.eval()
    result: dict[str, Any] = {
        "train_utts": len(ds), "steps": metrics.get("global_step", cfg.steps),
        "final_loss": (metrics.get("final_mean_last_logged") or {}).get("train/loss"),
        "skipped_batches": metrics.get("skipped_batches", 0), "too_short": task.too_short.total,
        "layer_weights": probe.weighted_sum.layer_weights().tolist()}
    for ed in eval_dirs:
        ref = DataDir.load(ed).text or {}
        hyps = _decode(probe, data_dir_layers(upstream, ed), tokenizer)
        dec = out_dir / f"decode_{Path(ed).name}"
        dec.mkdir(parents=True, exist_ok=True)
        write_keyed_file(dec / "text", hyps)
        scores = score_texts(ref, hyps, allow_missing=True)
        atomic_write_text(dec / "metrics.json", json.dumps(scores, indent=2) + "\n")
        result[Path(ed).name] = {"cer": scores["cer"]["rate"], "wer": scores["wer"]["rate"]}
    atomic_write_text(out_dir / "metrics.json", json.dumps(result, indent=2, sort_keys=True, default=str) + "\n")
    return result
