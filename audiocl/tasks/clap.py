"""CLAP training with any objective of :mod:`audiocl.losses`, on the shared Lightning runner.

The loss is symmetric: audio-to-text (each clip picks its caption among the batch's captions) and
text-to-audio (each caption picks its clip), averaged per pair. Any registered objective scores both
directions, with the model's learnable logit scale as its temperature (``temperature = 1 / scale``,
so ``loss.kwargs`` must not set one). The positives of a row are

- ``pairs``: the clip's own caption (CLIP / CLAP; every objective but the two below);
- ``scene``: every caption of a clip with the same scene labels (``supcon``; ``utt2labels``);
- ``soft``: CWCL weights ``(1 + cos) / 2`` between the frozen text tower's caption features (``cwcl``).

**Compositional hard negatives** (``objective.hard_negatives``): the clip's captions with the order of
events swapped, a count changed or an attribute changed (``hard_negatives.jsonl``) are appended as extra
candidates of the audio-to-text rows and are valid in their own clip's row only, so they compete for
that clip alone; the text-to-audio direction is unchanged.

**Bad-pair mining** (``objective.dbpm``) wraps the per-pair losses with
:class:`audiocl.losses.dbpm.DynamicBadPairMining`; an epoch is one pass over the training clips.

Under DDP the candidates of every rank are gathered with gradient (:func:`audiocl.losses.gather_with_grad`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

import audiocl.losses as L
from audiocl.errors import ConfigError
from audiocl.losses.base import ContrastiveObjective, LossOutput, TemperatureMixin
from audiocl.losses.dbpm import DynamicBadPairMining
from audiocl.losses.distributed import rank, world_size
from audiocl.models.clap import CLAPConfig, CLAPModel
from audiocl.models.clap_io import CKPT_CONFIG_KEY, save_clap_release
from audiocl.nn.token_pooling import TextFeatures, sentence_features
from audiocl.config import config_to_dict
from audiocl.tasks.base import AudioclTask
from audiocl.tasks.clap_audio_cache import cached_clip_logmel, chunk_frames
from audiocl.tasks.clap_data import (CaptionedSet, CaptionPairCollate, CaptionPairDataset, cached_text_features,
                                     text_tower_id)
from audiocl.tasks.clap_spec_augment import LogMelMaskConfig
from audiocl.tasks.runner import make_loader, run_training
from audiocl.tasks.trainer_config import TrainerConfig
from audiocl.tasks.schedules import ScheduleConfig, build_scheduler

log = logging.getLogger(__name__)

POSITIVES = ("auto", "pairs", "scene", "soft")


@dataclass
class CLAPObjectiveConfig:
    name: str = "infonce"
    """Any name of ``audiocl.losses.available()``."""
    kwargs: dict[str, Any] = field(default_factory=dict)
    """The objective's own arguments, except ``temperature`` (the model's logit scale is the temperature)."""
    positives: str = "auto"
    """``pairs`` | ``scene`` | ``soft``; ``auto`` = ``scene`` for supcon, ``soft`` for cwcl, else ``pairs``."""
    hard_negatives: bool = False
    dbpm: bool = False
    dbpm_kwargs: dict[str, Any] = field(default_factory=dict)

    def resolved_positives(self) -> str:
        if self.positives not in POSITIVES:
            raise ConfigError(f"objective.positives must be one of {', '.join(POSITIVES)}, got {self.positives!r}")
        if self.positives != "auto":
            return self.positives
        return {"supcon": "scene", "cwcl": "soft"}.get(self.name, "pairs")


@dataclass
class CLAPDataConfig:
    train_dir: str = ""
    batch_size: int = 64
    random_crop: bool = True
    """Random crop of clips longer than one chunk (training only; inference never crops)."""
    cache_text: bool = True
    """Cache the frozen text tower's caption features (in ``text_cache_dir``)."""
    text_cache_dir: str = ""
    """Where the cache goes; empty = the experiment dir. Runs on the same data can share one."""
    cache_logmel: bool = True
    """Compute every training clip's log-mel once and crop frames from it (log-mel CNN tower only;
    :mod:`audiocl.tasks.clap_audio_cache`) instead of reading audio and running the STFT every update."""
    feature_cache_dir: str = ""
    """Where the log-mel cache goes; empty = the experiment dir. Runs on the same data can share one."""
    spec_augment: LogMelMaskConfig = field(default_factory=LogMelMaskConfig)
    """Time / frequency masks of the cached training log-mel (needs ``cache_logmel``)."""


@dataclass
class CLAPOptimConfig:
    """AdamW as in CLIP / LAION-CLAP (betas 0.9/0.98, eps 1e-6); no decay on biases, norms, logit scale."""

    lr: float = 1e-3
    betas: list[float] = field(default_factory=lambda: [0.9, 0.98])
    eps: float = 1e-6
    weight_decay: float = 0.01


def _default_schedule() -> ScheduleConfig:
    return ScheduleConfig(kind="cosine", warmup_steps=100)


def _default_trainer() -> TrainerConfig:
    return TrainerConfig(max_steps=2000, checkpoint_every_n_steps=200, log_every_n_steps=20)


@dataclass
class CLAPTrainConfig:
    model: CLAPConfig = field(default_factory=CLAPConfig)
    data: CLAPDataConfig = field(default_factory=CLAPDataConfig)
    objective: CLAPObjectiveConfig = field(default_factory=CLAPObjectiveConfig)
    optim: CLAPOptimConfig = field(default_factory=CLAPOptimConfig)
    schedule: ScheduleConfig = field(default_factory=_default_schedule)
    trainer: TrainerConfig = field(default_factory=_default_trainer)
    init_upstream: str = ""
    """Reference (path / hub name) of a wav2vec 2.0 / CPC release that initialises an ``upstream`` audio tower."""


# --------------------------------------------------------------------------- objective
def build_objective(cfg: CLAPObjectiveConfig) -> ContrastiveObjective:
    if "temperature" in cfg.kwargs or "learnable_temperature" in cfg.kwargs:
        raise ConfigError("objective.kwargs must not set a temperature: CLAP's learnable logit scale is the "
                          "temperature of every objective (model.init_temperature sets its start)")
    return L.get(cfg.name, **dict(cfg.kwargs))


def bind_temperature(objective: ContrastiveObjective, logit_scale: Tensor) -> None:
    """Make the model's logit scale the objective's temperature (``1 / scale``, with gradient)."""
    if isinstance(objective, TemperatureMixin):
        objective.learnable_temperature = True
        objective.log_temperature = -torch.log(logit_scale)


def _merge(ab: LossOutput, ba: LossOutput) -> LossOutput:
    logs = {k: (ab.logs[k] + ba.logs.get(k, ab.logs[k])) / 2 for k in ab.logs if k != "temperature"}
    logs.update({f"a2t_{k}": v for k, v in ab.logs.items() if k == "acc"})
    return LossOutput(loss=(ab.loss + ba.loss) / 2, per_sample=(ab.per_sample + ba.per_sample) / 2, logs=logs)


def clap_loss(objective: ContrastiveObjective, audio: Tensor, text: Tensor, logit_scale: Tensor, *,
              positives: str = "pairs", scene: Tensor | None = None, text_features: Tensor | None = None,
              hard_text: Tensor | None = None, hard_owner: Tensor | None = None, gather: bool = False) -> LossOutput:
    """Symmetric CLAP loss of L2-normalised ``audio`` and ``text`` ``(B, E)`` (see module docstring).

    ``scene`` ``(B,)`` label ids for ``positives="scene"``; ``text_features`` ``(B, D)`` frozen caption
    features for ``positives="soft"``; ``hard_text`` ``(H, E)`` hard-negative caption embeddings owned by
    rows ``hard_owner`` ``(H,)``. ``per_sample[i]`` is pair ``i``'s mean of both directions.
    """
    b = audio.shape[0]
    gather = gather and world_size() > 1
    r = rank() if gather else 0
    cand_text = L.gather_with_grad(text) if gather else text
    cand_audio = L.gather_with_grad(audio) if gather else audio
    n = cand_text.shape[0]
    cols = torch.arange(n, device=audio.device)
    rows = r * b + torch.arange(b, device=audio.device)
    if positives == "pairs":
        pos: Tensor = rows[:, None] == cols[None, :]
    elif positives == "scene":
        if scene is None:
            raise ConfigError("positives=scene needs scene labels (utt2labels in the training data dir)")
        all_scene = L.gather_with_grad(scene[:, None].float()).squeeze(1).long() if gather else scene
        pos = scene[:, None] == all_scene[None, :]
    elif positives == "soft":
        if text_features is None:
            raise ConfigError("positives=soft needs the frozen text tower's caption features")
        all_feats = L.gather_with_grad(text_features) if gather else text_features
        pos = L.cwcl_weights(torch.cat([text_features, all_feats]))[:b, b:]
        pos = torch.where(rows[:, None] == cols[None, :], torch.ones_like(pos), pos)
    else:
        raise ConfigError(f"unknown positives {positives!r}")
    bind_temperature(objective, logit_scale)
    sim_at = audio @ cand_text.T
    valid_at = torch.ones_like(sim_at, dtype=torch.bool)
    pos_at = pos
    if hard_text is not None and hard_text.shape[0] > 0:
        owner = hard_owner.to(audio.device)
        extra_valid = torch.arange(b, device=audio.device)[:, None] == owner[None, :]
        sim_at = torch.cat([sim_at, audio @ hard_text.T], 1)
        valid_at = torch.cat([valid_at, extra_valid], 1)
        pos_at = torch.cat([pos, torch.zeros(b, hard_text.shape[0], dtype=pos.dtype, device=pos.device)], 1)
    ab = objective(sim_at, pos_at, valid_at)
    ba = objective(text @ cand_audio.T, pos, None)
    return _merge(ab, ba)


# --------------------------------------------------------------------------- task
class CLAPTask(AudioclTask):
    """Trains a :class:`CLAPModel`; text features come from the frozen cache or the live tower."""

    def __init__(self, cfg: CLAPTrainConfig, model: CLAPModel, texts: list[str], text_features: TextFeatures | None,
                 loader: Any, num_clips: int):
        super().__init__()
        self.cfg = cfg
        self.model = model
        self.texts = texts
        self.text_table = text_features
        """The frozen tower's features of ``texts`` (kept on the CPU; a batch's rows move to the model)."""
        self.objective = build_objective(cfg.objective)
        self.positives = cfg.objective.resolved_positives()
        self.dbpm = DynamicBadPairMining(num_clips, **cfg.objective.dbpm_kwargs) if cfg.objective.dbpm else None
        self._loader = loader

    def train_dataloader(self):
        return self._loader

    def batch_size_of(self, batch: Any) -> int:
        return int(batch["index"].shape[0])

    def _text_feats(self, ids: Tensor) -> TextFeatures:
        if self.text_table is not None:
            return self.text_table[ids.cpu()].to(self.model.log_logit_scale.device)
        return self.model.text_features([self.texts[i] for i in ids.tolist()])

    def compute_loss(self, batch: dict) -> tuple[Tensor, dict[str, Any]]:
        m = self.model
        if "feats" in batch:  # cached log-mel
            audio = m.embed_logmel_chunks(batch["feats"], batch["padding"])
        else:
            audio = m.embed_audio_chunks(batch["wav"], batch["lengths"])
        feats = self._text_feats(batch["text"])
        text = m.embed_text_features(feats)
        hard = None
        if self.cfg.objective.hard_negatives and batch["hard_text"].numel():
            hard = m.embed_text_features(self._text_feats(batch["hard_text"]))
        out = clap_loss(self.objective, audio, text, m.logit_scale(), positives=self.positives,
                        scene=batch["scene"].to(audio.device), text_features=sentence_features(feats).detach(),
                        hard_text=hard, hard_owner=batch["hard_owner"], gather=True)
        loss = out.loss
        logs = dict(out.logs)
        if self.dbpm is not None:
            loss = self.dbpm(out.per_sample, batch["index"].to(out.per_sample.device))
            if self.dbpm.last_flags is not None:
                logs["dbpm_flagged"] = float(self.dbpm.last_flags.float().mean())
        logs["logit_scale"] = float(m.logit_scale().detach())
        return loss, logs

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        self.model.clamp_logit_scale_()

    def on_train_epoch_end(self) -> None:
        if self.dbpm is not None:
            self.dbpm.end_epoch()

    def configure_optimizers(self):
        c = self.cfg.optim
        opt = torch.optim.AdamW(self.model.param_groups(c.weight_decay), lr=c.lr, betas=tuple(c.betas), eps=c.eps)
        sched = build_scheduler(opt, self.cfg.schedule, self.cfg.trainer.max_steps)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        checkpoint[CKPT_CONFIG_KEY] = config_to_dict(self.model.cfg)


# --------------------------------------------------------------------------- entry point
def init_upstream_tower(cfg: CLAPTrainConfig) -> CLAPModel:
    """The model; with ``init_upstream`` its audio tower is that self-supervised release (through the one
    upstream loader, :func:`audiocl.tasks.upstream.load_upstream`), its architecture copied into the config."""
    if not cfg.init_upstream:
        return CLAPModel(cfg.model)
    from audiocl.tasks.upstream import UpstreamConfig, load_upstream

    upstream, up_cfg, name = load_upstream(UpstreamConfig(kind="pretrained", path=cfg.init_upstream))
    cfg.model.audio_tower = "upstream"
    cfg.model.upstream_type = name
    cfg.model.upstream_model = config_to_dict(up_cfg)
    model = CLAPModel(cfg.model)
    model.audio_encoder.upstream.load_state_dict(upstream.state_dict())
    return model


def build_task(cfg: CLAPTrainConfig, exp_dir: str | Path) -> CLAPTask:
    if not cfg.data.train_dir:
        raise ConfigError("data.train_dir is required (a Kaldi data dir with wav.scp and text)")
    from audiocl.data.sampler import DurationBucketBatchSampler

    data = CaptionedSet.load(cfg.data.train_dir)
    if len(data.utts) < 2:
        raise ConfigError(f"{cfg.data.train_dir}: contrastive training needs at least 2 clips, found {len(data.utts)}")
    model = init_upstream_tower(cfg)
    texts = data.all_texts()  # hard negatives included either way: one cache for every objective
    feats = None
    if cfg.model.text.freeze:
        tower_id = text_tower_id(cfg.model)
        cache = Path(cfg.data.text_cache_dir or exp_dir) if cfg.data.cache_text else None
        feats = cached_text_features(texts, model.text_features, cache, tower_id)
    logmel = None
    if cfg.data.cache_logmel and cfg.model.audio_tower == "cnn":
        logmel = cached_clip_logmel(data, model, cfg.data.feature_cache_dir or exp_dir)
    dataset = CaptionPairDataset(data, {t: i for i, t in enumerate(texts)}, cfg.model.sample_rate,
                                 cfg.model.chunk_samples, hard_negatives=cfg.objective.hard_negatives,
                                 random_crop=cfg.data.random_crop, logmel=logmel,
                                 chunk_frames=chunk_frames(cfg.model), mask=cfg.data.spec_augment)
    bs = min(cfg.data.batch_size, len(data.utts))
    sampler = DurationBucketBatchSampler([1.0] * len(data.utts), float(bs), num_buckets=1, shuffle=True,
                                         seed=cfg.trainer.seed, max_batch_size=bs, drop_last=True,
                                         num_replicas=world_size(), rank=rank())
    loader = make_loader(dataset, sampler, CaptionPairCollate(cfg.model.chunk_samples), cfg.trainer.num_workers)
    return CLAPTask(cfg, model, texts, feats, loader, len(data.utts))


def _seeded_start(cfg: CLAPTrainConfig) -> None:
    """Threads and every RNG from ``trainer.seed``, before any weight is drawn: the same seed then gives the
    same initial model in training and in :func:`init_release` (the untrained baseline is that start)."""
    import lightning.pytorch as pl

    if cfg.trainer.num_threads > 0:
        torch.set_num_threads(cfg.trainer.num_threads)
    pl.seed_everything(cfg.trainer.seed, workers=True, verbose=False)


def init_release(cfg: CLAPTrainConfig, exp_dir: str | Path) -> Path:
    """The untrained baseline: the model as initialised with ``trainer.seed``, saved as ``exp_dir/release``.
    With ``data.train_dir`` set it also fills the text-feature and log-mel caches, so parallel runs sharing
    ``data.text_cache_dir`` / ``data.feature_cache_dir`` find them ready instead of each computing them."""
    from audiocl.config import save_config

    _seeded_start(cfg)
    model = init_upstream_tower(cfg)
    Path(exp_dir).mkdir(parents=True, exist_ok=True)
    save_config(cfg, Path(exp_dir) / "config.yaml")
    release = save_clap_release(model.eval(), Path(exp_dir) / "release")
    if cfg.data.train_dir and cfg.data.cache_logmel and cfg.model.audio_tower == "cnn":
        cached_clip_logmel(CaptionedSet.load(cfg.data.train_dir), model, cfg.data.feature_cache_dir or exp_dir)
    if cfg.data.train_dir and cfg.model.text.freeze and cfg.data.cache_text:
        texts = CaptionedSet.load(cfg.data.train_dir).all_texts()
        cached_text_features(texts, model.text_features, Path(cfg.data.text_cache_dir or exp_dir),
                             text_tower_id(cfg.model))
    return release


def run_clap_training(cfg: CLAPTrainConfig, exp_dir: str | Path) -> dict[str, Any]:
    """Train under ``exp_dir`` (resumable), then write the release to ``exp_dir/release``."""
    _seeded_start(cfg)
    task = build_task(cfg, exp_dir)
    metrics = run_training(task, cfg.trainer, exp_dir, config=cfg, title=f"CLAP ({cfg.objective.name})")
    if metrics:
        save_clap_release(task.model.cpu().eval(), Path(exp_dir) / "release")
    return metrics
