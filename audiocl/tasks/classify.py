"""Utterance classification (recipe stage 6): frozen upstream + weighted layer sum, or fbank, or full fine-tuning.

Labels come from any utterance file of the data dir (``utt2style``, ``utt2spk`` for speaker id,
``utt2emo`` for IEMOCAP, a keyword file): ``data.label_file``. The label set is the sorted set
seen in training; evaluation utterances whose label is not in it are reported and left out.

The upstream (``upstream.kind`` pretrained / random / fbank) comes from :mod:`audiocl.tasks.upstream`.
A frozen upstream's layers are computed once and cached (:mod:`audiocl.tasks.upstream_layers`); full
fine-tuning (``upstream.finetune=true``) runs the upstream in every step instead.

Outputs under ``exp/<tag>/``: ``model/`` (head weights, labels, configs), and per evaluated set
``eval_<set>/{metrics.json, confusion.png, predictions}`` with WA, UA and macro-F1
(:mod:`audiocl.metrics.classification`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from audiocl.config import load_config, save_config
from audiocl.errors import ConfigError, DataDirError
from audiocl.models.classifier import ClassifierHead, ClassifierHeadConfig, UtteranceClassifier
from audiocl.tasks.base import AudioclTask
from audiocl.tasks.runner import TrainerConfig, make_loader, run_training
from audiocl.tasks.upstream import UpstreamConfig, load_upstream
from audiocl.tasks.upstream_layers import CachedLayerDataset, collate_layers, data_dir_layers, layer_shape
from audiocl.utils.io import atomic_path, atomic_write_text

log = logging.getLogger(__name__)


@dataclass
class ClassifyDataConfig:
    train: str = ""
    label_file: str = "utt2style"
    sample_rate: int = 16000
    max_batch_seconds: float = 120.0
    max_seconds: float = 35.0


@dataclass
class ClassifyOptimConfig:
    """AdamW; lr 1e-3 suits a small head on cached features (s3prl's emotion recipe uses 1e-4 with a
    768-wide BASE upstream and 30k steps; ours trains far fewer steps)."""

    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 50


def _default_trainer() -> TrainerConfig:
    return TrainerConfig(max_steps=1000, checkpoint_every_n_steps=200)


@dataclass
class ClassifyConfig:
    upstream: UpstreamConfig = field(default_factory=UpstreamConfig)
    head: ClassifierHeadConfig = field(default_factory=ClassifierHeadConfig)
    data: ClassifyDataConfig = field(default_factory=ClassifyDataConfig)
    optim: ClassifyOptimConfig = field(default_factory=ClassifyOptimConfig)
    trainer: TrainerConfig = field(default_factory=_default_trainer)


def read_labels(data_dir: str | Path, label_file: str) -> dict[str, str]:
    from audiocl.data.datadir import DataDir

    data = DataDir.load(data_dir)
    if label_file == "utt2spk":
        return dict(data.utt2spk)
    if label_file not in data.extra:
        raise DataDirError(f"{data_dir}: no label file {label_file!r} (have: {', '.join(sorted(data.extra)) or 'none'})")
    return {u: v.strip() for u, v in data.extra[label_file].items()}


# --------------------------------------------------------------------------- data
def collate_labelled_layers(items: list[dict]) -> dict[str, Any]:
    """:func:`~audiocl.tasks.upstream_layers.collate_layers` plus the class ids as ``labels``."""
    batch = collate_layers(items)
    batch["labels"] = torch.tensor([it["target"] for it in items])
    return batch


class AudioLabelCollate:
    def __init__(self, labels: dict[str, int]):
        self.labels = labels

    def __call__(self, items):
        from audiocl.data.dataset import collate_audio

        batch = collate_audio(items)
        batch["labels"] = torch.tensor([self.labels[u] for u in batch["utt_ids"]], dtype=torch.long)
        return batch


# --------------------------------------------------------------------------- task
class ClassifyTask(AudioclTask):
    def __init__(self, head: ClassifierHead, optim: ClassifyOptimConfig, max_steps: int, loader: Any,
                 classifier: UtteranceClassifier | None = None):
        super().__init__()
        self.head = head
        self.classifier = classifier
        self.optim_cfg = optim
        self.max_steps = max_steps
        self._loader = loader

    def train_dataloader(self):
        return self._loader

    def batch_size_of(self, batch: Any) -> int:
        return int(batch["labels"].shape[0])

    def compute_loss(self, batch: dict) -> tuple[Tensor, dict[str, Any]]:
        if self.classifier is not None:
            logits = self.classifier(batch["wav"], batch["lengths"])
        else:
            logits = self.head(batch["layers"], batch["padding_mask"])
        labels = batch["labels"].to(logits.device)
        loss = nn.functional.cross_entropy(logits, labels)
        acc = (logits.argmax(-1) == labels).float().mean()
        return loss, {"acc": acc.detach()}

    def configure_optimizers(self):
        params = [p for p in self.parameters() if p.requires_grad]
        c = self.optim_cfg
        opt = torch.optim.AdamW(params, lr=c.lr, weight_decay=c.weight_decay)
        from audiocl.tasks.schedules import WarmupDecay

        sched = torch.optim.lr_scheduler.LambdaLR(opt, WarmupDecay(c.warmup_steps, self.max_steps, "cosine"))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


# --------------------------------------------------------------------------- stage 6
def _save(directory: Path, cfg: ClassifyConfig, head: ClassifierHead, labels: list[str], num_layers: int,
          input_dim: int, upstream: nn.Module | None) -> None:
    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    save_config(cfg, directory / "config.yaml")
    atomic_write_text(directory / "labels.json", json.dumps(
        {"labels": labels, "num_layers": num_layers, "input_dim": input_dim}, indent=1) + "\n")
    with atomic_path(directory / "head.safetensors") as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in head.state_dict().items()}, str(tmp))
    if upstream is not None and cfg.upstream.finetune:
        with atomic_path(directory / "upstream.safetensors") as tmp:
            save_file({k: v.detach().cpu().contiguous() for k, v in upstream.state_dict().items()}, str(tmp))


def load_classifier(exp_dir: str | Path) -> tuple[nn.Module, ClassifierHead, list[str], ClassifyConfig]:
    """``(upstream with extract_layers, head, labels, config)`` of a trained classifier."""
    from safetensors.torch import load_file

    directory = Path(exp_dir) / "model"
    if not (directory / "head.safetensors").is_file():
        raise ConfigError(f"no trained classifier in {exp_dir} (model/head.safetensors missing)")
    cfg = load_config(ClassifyConfig, directory / "config.yaml")
    meta = json.loads((directory / "labels.json").read_text())
    upstream, _, _ = load_upstream(cfg.upstream)
    if (directory / "upstream.safetensors").is_file():
        upstream.load_state_dict(load_file(str(directory / "upstream.safetensors")))
    head = ClassifierHead(meta["num_layers"], meta["input_dim"], len(meta["labels"]), cfg.head)
    head.load_state_dict(load_file(str(directory / "head.safetensors")))
    head.eval()
    upstream.eval()
    return upstream, head, list(meta["labels"]), cfg


def run_classify(cfg: ClassifyConfig, exp_dir: str | Path) -> dict[str, Any]:
    """Train the classifier (resumable) and save it to ``exp_dir/model``."""
    exp_dir = Path(exp_dir)
    if cfg.trainer.num_threads > 0:
        torch.set_num_threads(cfg.trainer.num_threads)
    if not cfg.data.train:
        raise ConfigError("data.train is empty: give the training data dir")
    raw_labels = read_labels(cfg.data.train, cfg.data.label_file)
    label_names = sorted(set(raw_labels.values()))
    if len(label_names) < 2:
        raise DataDirError(f"{cfg.data.train}/{cfg.data.label_file}: need at least 2 classes, found {label_names}")
    label_ids = {u: label_names.index(v) for u, v in raw_labels.items()}
    torch.manual_seed(cfg.trainer.seed)
    upstream, _, _ = load_upstream(cfg.upstream)
    from audiocl.data.sampler import DurationBucketBatchSampler

    classifier = None
    if cfg.upstream.finetune:
        if cfg.upstream.kind == "fbank":
            raise ConfigError("upstream.finetune=true needs a neural upstream, not fbank")
        from audiocl.data.dataset import AudioDataset

        num_layers, dim = layer_shape(upstream)
        ds: Any = AudioDataset.from_data_dir(cfg.data.train, sample_rate=cfg.data.sample_rate, crop_seconds=None,
                                             max_seconds=cfg.data.max_seconds)
        ds.items = [it for it in ds.items if it.utt_id in label_ids]
        collate: Any = AudioLabelCollate(label_ids)
        head = ClassifierHead(num_layers, dim, len(label_names), cfg.head)
        classifier = UtteranceClassifier(upstream, head, freeze_upstream=False)
        classifier.train()
    else:
        feats = data_dir_layers(upstream, cfg.data.train, cfg.data.sample_rate, max_seconds=cfg.data.max_seconds)
        ds = CachedLayerDataset(feats, label_ids)
        if len(ds) == 0:
            raise DataDirError(f"{cfg.data.train}: no utterance has both audio and a label")
        num_layers, _, dim = ds.feats[ds.utts[0]].shape
        collate = collate_labelled_layers
        head = ClassifierHead(num_layers, dim, len(label_names), cfg.head)
    sampler = DurationBucketBatchSampler(ds.durations, cfg.data.max_batch_seconds, num_buckets=5, seed=cfg.trainer.seed)
    loader = make_loader(ds, sampler, collate, cfg.trainer.num_workers)
    task = ClassifyTask(head, cfg.optim, cfg.trainer.max_steps, loader, classifier)
    metrics = run_training(task, cfg.trainer, exp_dir, config=cfg, title=f"classification ({cfg.upstream.kind})")
    _save(exp_dir / "model", cfg, head, label_names, int(num_layers), int(dim), upstream)
    weights = head.weighted_sum.layer_weights().detach().tolist()
    metrics.update({"labels": label_names, "num_train_utts": len(ds), "layer_weights": weights})
    atomic_write_text(exp_dir / "metrics.json", json.dumps(metrics, indent=2, sort_keys=True, default=str) + "\n")
    return metrics


def evaluate_classifier(exp_dir: str | Path, data_dir: str | Path, out_dir: str | Path | None = None) -> dict[str, Any]:
    """WA / UA / macro-F1 + confusion PNG + per-utterance predictions for ``data_dir``."""
    from audiocl.data.kaldi_files import write_keyed_file
    from audiocl.metrics.classification import classification_metrics, plot_confusion
    exp_dir = Path(exp_dir)
    upstream, head, labels, cfg = load_classifier(exp_dir)
    out = Path(out_dir) if out_dir else exp_dir / f"eval_{Path(data_dir).name}"
    refs_raw = read_labels(data_dir, cfg.data.label_file)
    unknown = sorted(u for u, v in refs_raw.items() if v not in labels)
    if unknown:
        log.warning("%s: %d utterance(s) have labels unseen in training and are not scored, e.g. %s",
                    data_dir, len(unknown), unknown[0])
    feats = data_dir_layers(upstream, data_dir, cfg.data.sample_rate)
    refs, hyps, preds = [], [], {}
    utts = sorted(u for u in feats if u in refs_raw and refs_raw[u] in labels)
    with torch.no_grad():
        for i in range(0, len(utts), 32):
            chunk = utts[i:i + 32]
            batch = collate_layers([{"utt_id": u, "layers": feats[u]} for u in chunk])
            logits = head(batch["layers"], batch["padding_mask"])
            for u, p in zip(chunk, logits.argmax(-1).tolist()):
                preds[u] = labels[p]
                refs.append(labels.index(refs_raw[u]))
                hyps.append(p)
    if not refs:
        raise DataDirError(f"{data_dir}: no utterance could be scored (no audio or no known label)")
    metrics = classification_metrics(refs, hyps, labels)
    metrics["num_unscored"] = len(unknown) + sum(1 for u in refs_raw if u not in feats)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    write_keyed_file(out / "predictions", preds)
    plot_confusion(metrics["confusion"], labels, out / "confusion.png",
                   title=f"{exp_dir.name} on {Path(data_dir).name}: UA {100 * metrics['ua']:.1f} %")
    return metrics
