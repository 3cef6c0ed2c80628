"""CTC fine-tuning of a pretrained upstream, or the same architecture from scratch (recipe stage 4).

:func:`run_finetune_ctc` builds the tokenizer on the training transcripts, the upstream
(:func:`audiocl.tasks.upstream.load_upstream`) and the CTC model around it
(:func:`audiocl.models.ctc_asr.build_ctc_model`), trains with the shared runner (atomic
``last.ckpt``, resume on re-run), then releases the model to ``exp/<tag>/model/``
(:mod:`audiocl.tasks.ctc_model_io`). Configuration: :mod:`audiocl.tasks.ctc_config`; decoding
(stage 5): :mod:`audiocl.tasks.ctc_decode`.

Bad input is counted, never fatal: empty transcripts are left out of training (logged with their
ids), characters outside the vocabulary map to ``<unk>`` (counted, or an error with
``tokenizer.oov=error``), and utterances with fewer frames than CTC needs are dropped from the loss
and counted (``train/too_short`` and ``too_short_utterances`` in ``metrics.json``).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from audiocl.data.tokenizer import Tokenizer, build_tokenizer, load_tokenizer
from audiocl.errors import ConfigError, DataDirError
from audiocl.models.ctc_asr import CtcAsrModel, build_ctc_model, ctc_loss_skipping_short
from audiocl.tasks.base import AudioclTask
from audiocl.tasks.ctc_config import CtcOptimConfig, FinetuneCtcConfig
from audiocl.tasks.ctc_model_io import MODEL_DIR, save_ctc_model
from audiocl.tasks.runner import make_loader, run_training
from audiocl.tasks.schedules import TriStage
from audiocl.tasks.upstream import load_upstream, normalize_upstream_config
from audiocl.utils.io import atomic_write_text

log = logging.getLogger(__name__)


def transcripts_to_targets(text: dict[str, str], tokenizer: Tokenizer, source: str = "") -> tuple[dict[str, list[int]], list[str]]:
    """Token ids per utterance, plus the ids of utterances with an empty transcript (left out)."""
    targets: dict[str, list[int]] = {}
    empty: list[str] = []
    for utt, t in text.items():
        ids = tokenizer.encode(t, utt_id=utt)
        if not ids:
            empty.append(utt)
            continue
        targets[utt] = ids
    if empty:
        shown = ", ".join(empty[:5]) + (" ..." if len(empty) > 5 else "")
        log.warning("%s: %d utterance(s) with an empty transcript left out of CTC training: %s",
                    source or "text", len(empty), shown)
    return targets, empty


def concat_targets(batch: dict, targets: dict[str, list[int]]) -> dict:
    """Add the batch's token ids, concatenated (``targets``), and their ``target_lengths`` (CTC layout)."""
    ids = [targets[u] for u in batch["utt_ids"]]
    batch["targets"] = torch.tensor([i for seq in ids for i in seq], dtype=torch.long)
    batch["target_lengths"] = torch.tensor([len(s) for s in ids], dtype=torch.long)
    return batch


class CtcCollate:
    """Audio (or stored fbank frame) padding collate plus concatenated CTC targets (picklable for workers)."""

    def __init__(self, targets: dict[str, list[int]], frames: bool = False):
        self.targets = targets
        self.frames = frames

    def __call__(self, items):
        from audiocl.data.dataset import collate_audio
        from audiocl.tasks.stored_fbank_data import collate_frames

        return concat_targets(collate_frames(items) if self.frames else collate_audio(items), self.targets)


class TooShortCounter:
    """Utterances dropped from the CTC loss (too few frames, or a non-finite loss): counted and named once."""

    def __init__(self) -> None:
        self.total = 0
        self.utts: set[str] = set()

    def update(self, utt_ids: list[str], used: Tensor, counts: dict[str, int]) -> None:
        if not (counts["num_too_short"] or counts["num_nonfinite"]):
            return
        for u, ok in zip(utt_ids, used.tolist()):
            if not ok and u not in self.utts:
                self.utts.add(u)
                log.warning("utterance %s: fewer frames than its CTC label sequence needs (or a non-finite "
                            "loss); dropped from the loss and counted", u)
        self.total += counts["num_too_short"] + counts["num_nonfinite"]

    def state_dict(self) -> dict[str, Any]:
        return {"too_short_total": self.total, "too_short_utts": sorted(self.utts)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.total = int(state.get("too_short_total", 0))
        self.utts = set(state.get("too_short_utts", []))


class CtcTask(AudioclTask):
    """Base of the CTC tasks: counts the utterances dropped from the loss, and keeps the count on resume."""

    def __init__(self) -> None:
        super().__init__()
        self.too_short = TooShortCounter()

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        checkpoint["audiocl_ctc"] = self.too_short.state_dict()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_load_checkpoint(checkpoint)
        self.too_short.load_state_dict(checkpoint.get("audiocl_ctc", {}))


class FinetuneCtcTask(CtcTask):
    """Lightning task: CTC loss with too-short utterances dropped and counted."""

    def __init__(self, model: CtcAsrModel, optim: CtcOptimConfig, max_steps: int, loader: Any = None):
        super().__init__()
        self.model = model
        self.optim_cfg = optim
        self.max_steps = max_steps
        self._loader = loader

    @property
    def too_short_total(self) -> int:
        return self.too_short.total

    @property
    def too_short_utts(self) -> set[str]:
        return self.too_short.utts

    def train_dataloader(self):
        return self._loader

    def compute_loss(self, batch: dict) -> tuple[Tensor, dict[str, Any]]:
        self.model.set_num_updates(self.global_step)
        log_probs, frame_lengths = self.model(batch["wav"], batch["lengths"])
        loss, _, used, counts = ctc_loss_skipping_short(
            log_probs, frame_lengths, batch["targets"].to(log_probs.device), batch["target_lengths"].to(log_probs.device))
        self.too_short.update(batch["utt_ids"], used, counts)
        logs = {"too_short": float(self.too_short.total), "context_frozen": float(self.model.context_frozen),
                "frames": float(frame_lengths.sum())}
        return loss, logs

    def configure_optimizers(self):
        params = [p for p in self.model.parameters() if p.requires_grad]
        c = self.optim_cfg
        opt = torch.optim.Adam(params, lr=c.lr, betas=tuple(c.betas), eps=c.eps, weight_decay=c.weight_decay)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, TriStage(self.max_steps, list(c.phase_ratio), c.init_lr_scale, c.final_lr_scale))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def _tokenizer_for(cfg: FinetuneCtcConfig, texts, tok_dir: Path) -> Tokenizer:
    if (tok_dir / "tokenizer.json").is_file():  # resume: keep the vocabulary the checkpoint was trained with
        return load_tokenizer(tok_dir)
    tokenizer = build_tokenizer(cfg.tokenizer.kind, texts, vocab_size=cfg.tokenizer.vocab_size,
                                case=cfg.tokenizer.case, oov=cfg.tokenizer.oov)
    tokenizer.save(tok_dir)
    return tokenizer


def _stored_fbank(cfg: FinetuneCtcConfig, ds: Any):
    """The training set as stage-2 fbank frames, when the model's front-end is that fbank (else ``None``)."""
    if cfg.model.frontend != "fbank" or not cfg.upstream.use_stored_features:
        return None
    from audiocl.features.config import FbankConfig
    from audiocl.tasks.stored_fbank_data import stored_fbank_dataset

    return stored_fbank_dataset(ds, cfg.data.train, FbankConfig(num_mel_bins=cfg.model.fbank_num_mel_bins))


def run_finetune_ctc(cfg: FinetuneCtcConfig, exp_dir: str | Path) -> dict[str, Any]:
    """Train (or resume) and release the model under ``exp_dir/model``; returns the run's metrics."""
    from audiocl.data.datadir import DataDir
    from audiocl.data.dataset import AudioDataset
    from audiocl.data.sampler import DurationBucketBatchSampler

    exp_dir = Path(exp_dir)
    normalize_upstream_config(cfg.upstream)
    if cfg.upstream.kind == "fbank":
        raise ConfigError("CTC fine-tuning needs a neural upstream; the fbank baseline is the same model with "
                          "random weights and the fbank front-end: upstream.kind=random model.frontend=fbank")
    if cfg.trainer.num_threads > 0:
        torch.set_num_threads(cfg.trainer.num_threads)
    if not cfg.data.train:
        raise ConfigError("data.train is empty: give the training data dir (data.train=data/train_10pct)")
    data = DataDir.load(cfg.data.train)
    if not data.text:
        raise DataDirError(f"{cfg.data.train}: no 'text' file; CTC fine-tuning needs transcripts")
    tokenizer = _tokenizer_for(cfg, data.text.values(), exp_dir / "tokenizer")
    targets, empty = transcripts_to_targets(data.text, tokenizer, cfg.data.train)
    torch.manual_seed(cfg.trainer.seed)
    upstream, up_cfg, up_name = load_upstream(cfg.upstream)
    cfg.upstream.model = up_name
    model = build_ctc_model(up_name, upstream, len(tokenizer), cfg.model)
    model.train()  # a loaded release comes in eval mode; fine-tuning needs dropout, LayerDrop and masks
    log.info("CTC model parameters: %s", model.parameter_counts())

    ds = AudioDataset.from_data_dir(cfg.data.train, sample_rate=cfg.data.sample_rate,
                                    max_seconds=cfg.data.max_seconds, crop_seconds=None)
    ds.items = [it for it in ds.items if it.utt_id in targets]
    if not ds.items:
        raise DataDirError(f"{cfg.data.train}: no utterance with a non-empty transcript")
    sampler = DurationBucketBatchSampler(ds.durations, cfg.data.max_batch_seconds, num_buckets=cfg.data.num_buckets,
                                         seed=cfg.trainer.seed, max_batch_size=cfg.data.max_batch_size or None)
    stored = _stored_fbank(cfg, ds)
    loader = make_loader(ds if stored is None else stored, sampler, CtcCollate(targets, frames=stored is not None),
                         cfg.trainer.num_workers)
    task = FinetuneCtcTask(model, cfg.optim, cfg.trainer.max_steps, loader)
    title = f"CTC fine-tuning ({cfg.model.frontend}, {cfg.upstream.kind})"
    metrics = run_training(task, cfg.trainer, exp_dir, config=cfg, title=title)
    metrics.update({
        "num_train_utts": len(ds.items), "empty_transcripts": empty, "too_short_total": task.too_short_total,
        "too_short_utterances": sorted(task.too_short_utts), "oov": dict(tokenizer.oov_counts),
        "parameters": model.parameter_counts(),
    })
    save_ctc_model(model, tokenizer, cfg, up_cfg, exp_dir / MODEL_DIR)
    atomic_write_text(exp_dir / "metrics.json", json.dumps(metrics, indent=2, sort_keys=True, default=str) + "\n")
    return metrics
