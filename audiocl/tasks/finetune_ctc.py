"""CTC fine-tuning of a pretrained upstream (or the same architecture from scratch on fbank), decoding.

One function per recipe stage, each usable from Python and called by a thin CLI:

- :func:`run_finetune_ctc` (stage 4): build the tokenizer on the training transcripts, build the
  model (:func:`audiocl.models.ctc_asr.build_ctc_model`), train with the shared runner (atomic
  ``last.ckpt``, resume on re-run), then save the released model to ``exp/<tag>/model/``
  (``model.safetensors`` + ``config.yaml`` + ``upstream.yaml`` + tokenizer).
- :func:`decode_data_dir` (stage 5): greedy or beam-search decoding of a data dir into a Kaldi
  ``text`` file of hypotheses.

Optimisation follows fairseq's wav2vec 2.0 fine-tuning recipes (``base_10m.yaml``): Adam
(0.9, 0.98, eps 1e-8), tri-stage learning-rate schedule with phase ratios 0.1/0.4/0.5, initial
and final scale 0.01 / 0.05, sentence-averaged CTC loss.

Bad input is counted, never fatal: empty transcripts are left out of training (logged with their
ids), characters outside the vocabulary map to ``<unk>`` (counted, or an error with
``tokenizer.oov=error``), and utterances with fewer frames than CTC needs are dropped from the loss
and counted (``train/too_short`` and ``too_short_utterances`` in ``metrics.json``).
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from audiocl.config import config_to_dict, load_config, save_config
from audiocl.data.tokenizer import Tokenizer, build_tokenizer, load_tokenizer, normalize_text
from audiocl.errors import ConfigError, DataDirError
from audiocl.models.ctc_asr import CtcAsrModel, CtcModelConfig, build_ctc_model, ctc_loss_skipping_short
from audiocl.tasks.base import AudioclTask
from audiocl.tasks.runner import TrainerConfig, make_loader, run_training
from audiocl.utils.io import atomic_path, atomic_write_text

log = logging.getLogger(__name__)

MODEL_DIR = "model"
UPSTREAM_FILE = "upstream.yaml"


@dataclass
class UpstreamConfig:
    """Where the upstream comes from.

    ``init=pretrained`` loads ``path`` (a release dir or a training checkpoint, through
    :func:`audiocl.hub.release.load_release`). ``init=random`` builds the same architecture with
    random weights: from ``path``'s config when given (guarantees the baseline matches the
    pretrained model exactly), else from the model's ``preset`` (``tiny``, ``base``, ...).
    """

    model: str = "wav2vec2"
    path: str = ""
    init: str = "pretrained"
    preset: str = "tiny"
    reinit_top_layers: int = 0
    """Re-initialise the last k transformer blocks of a pretrained wav2vec 2.0 upstream before
    fine-tuning (with ``init=pretrained``). The top blocks of a contrastively pretrained model
    specialise in predicting its quantized targets and carry less of the spoken content than the
    middle ones (Pasad, Chou & Livescu, "Layer-wise analysis of a self-supervised speech
    representation model", ASRU 2021, who also re-initialise them for low-resource fine-tuning);
    the architecture stays the same, so the scratch baseline is unchanged."""


@dataclass
class TokenizerConfig:
    kind: str = "char"
    vocab_size: int = 100
    case: str = "upper"
    oov: str = "unk"


@dataclass
class CtcDataConfig:
    train: str = ""
    """Kaldi data dir with ``wav.scp`` and ``text`` (e.g. a label-fraction subset)."""
    sample_rate: int = 16000
    max_batch_seconds: float = 200.0
    """fairseq ``max_tokens = 3.2M`` samples = 200 s of 16 kHz audio per batch."""
    max_batch_size: int = 0
    """Cap on utterances per batch (0 = none)."""
    max_seconds: float = 35.0
    num_buckets: int = 10


@dataclass
class CtcOptimConfig:
    """fairseq ``base_10m.yaml``: Adam, lr 5e-5, tri-stage 0.1/0.4/0.5, final scale 0.05."""

    lr: float = 5e-5
    betas: list[float] = field(default_factory=lambda: [0.9, 0.98])
    eps: float = 1e-8
    weight_decay: float = 0.0
    phase_ratio: list[float] = field(default_factory=lambda: [0.1, 0.4, 0.5])
    init_lr_scale: float = 0.01
    final_lr_scale: float = 0.05


def _default_trainer() -> TrainerConfig:
    return TrainerConfig(max_steps=13000, checkpoint_every_n_steps=200)


@dataclass
class FinetuneCtcConfig:
    upstream: UpstreamConfig = field(default_factory=UpstreamConfig)
    model: CtcModelConfig = field(default_factory=CtcModelConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    data: CtcDataConfig = field(default_factory=CtcDataConfig)
    optim: CtcOptimConfig = field(default_factory=CtcOptimConfig)
    trainer: TrainerConfig = field(default_factory=_default_trainer)


# --------------------------------------------------------------------------- schedule
class TriStage:
    """fairseq ``tri_stage`` multiplier: linear warm-up from ``init`` to 1, hold, exponential decay to ``final``."""

    def __init__(self, total_steps: int, phase_ratio: list[float], init_scale: float, final_scale: float):
        if len(phase_ratio) != 3 or abs(sum(phase_ratio) - 1.0) > 1e-6:
            raise ConfigError(f"optim.phase_ratio must be 3 numbers summing to 1, got {phase_ratio}")
        self.warmup = int(total_steps * phase_ratio[0])
        self.hold = int(total_steps * phase_ratio[1])
        self.decay = max(1, total_steps - self.warmup - self.hold)
        self.init = float(init_scale)
        self.final = float(final_scale)

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return self.init + (1.0 - self.init) * step / max(1, self.warmup)
        step -= self.warmup
        if step < self.hold:
            return 1.0
        step -= self.hold
        return math.exp(math.log(max(self.final, 1e-12)) * min(step, self.decay) / self.decay)


# --------------------------------------------------------------------------- upstream
def _model_classes(name: str):
    from audiocl.models import PRETRAIN_MODELS

    if name not in PRETRAIN_MODELS:
        raise ConfigError(f"unknown upstream model {name!r}; available: {', '.join(PRETRAIN_MODELS)}")
    return PRETRAIN_MODELS[name]


def upstream_config_from_dict(name: str, d: dict) -> Any:
    from audiocl.config import resolve_config

    cfg_cls, _ = _model_classes(name)
    from omegaconf import OmegaConf

    base = OmegaConf.structured(cfg_cls)
    merged = OmegaConf.merge(base, OmegaConf.create(d))
    return resolve_config(cfg_cls, base=OmegaConf.to_object(merged))


def load_upstream(cfg: UpstreamConfig) -> tuple[nn.Module, Any, str]:
    """``(pretraining model, its model config, model name)`` per ``cfg`` (see :class:`UpstreamConfig`).

    A release or checkpoint knows its own kind (``ssl_type``); it wins over ``cfg.model``.
    """
    if cfg.init not in ("pretrained", "random"):
        raise ConfigError(f"upstream.init must be 'pretrained' or 'random', got {cfg.init!r}")
    if cfg.path:
        if not Path(cfg.path).exists():
            raise ConfigError(f"upstream.path {cfg.path} does not exist")
        from audiocl.hub.release import load_release

        model, pcfg = load_release(cfg.path)
        name = str(getattr(pcfg, "ssl_type", cfg.model))
        if name != cfg.model:
            log.info("upstream %s is a %s model (upstream.model=%s ignored)", cfg.path, name, cfg.model)
        mcfg = getattr(model, "cfg", getattr(pcfg, "model", None))
        _, model_cls = _model_classes(name)
        if cfg.init == "random":
            model = model_cls(mcfg)
        elif cfg.reinit_top_layers:
            reinit_top_layers(model, model_cls(mcfg), cfg.reinit_top_layers)
        return model, mcfg, name
    if cfg.reinit_top_layers:
        raise ConfigError("upstream.reinit_top_layers needs a pretrained upstream (upstream.path)")
    if cfg.init == "pretrained":
        raise ConfigError("upstream.path is empty: give a pretrained model, or set upstream.init=random "
                          "(the from-scratch baseline)")
    cfg_cls, model_cls = _model_classes(cfg.model)
    preset = getattr(cfg_cls, "preset", None)
    if cfg.preset and Path(cfg.preset).is_file():  # a pretraining YAML preset (configs/pretrain/tiny.yaml)
        from audiocl.tasks.pretrain_config import resolve_pretrain_config

        mcfg = resolve_pretrain_config([cfg.preset], ssl_type=cfg.model).model
    elif preset is not None and cfg.preset:
        mcfg = preset(cfg.preset)
    else:
        mcfg = cfg_cls()
    return model_cls(mcfg), mcfg, cfg.model


def transformer_blocks(model: nn.Module) -> nn.ModuleList:
    """The transformer blocks of a wav2vec 2.0 pretraining model (or of its encoder)."""
    w2v = getattr(model, "wav2vec2", model)
    layers = getattr(getattr(w2v, "encoder", None), "layers", None)
    if not isinstance(layers, nn.ModuleList):
        raise ConfigError(f"upstream.reinit_top_layers supports wav2vec 2.0 upstreams; "
                          f"{type(model).__name__} has no transformer blocks")
    return layers


def reinit_top_layers(model: nn.Module, fresh: nn.Module, k: int) -> None:
    """Copy the last ``k`` blocks of ``fresh`` (a randomly initialised model of the same config) into
    ``model``, so the re-initialised blocks get exactly the constructor's initialisation."""
    blocks, new_blocks = transformer_blocks(model), transformer_blocks(fresh)
    if not 0 < k <= len(blocks):
        raise ConfigError(f"upstream.reinit_top_layers must be in 1..{len(blocks)}, got {k}")
    for i in range(len(blocks) - k, len(blocks)):
        blocks[i].load_state_dict(new_blocks[i].state_dict())
    log.info("re-initialised the top %d of %d transformer blocks of the upstream", k, len(blocks))


# --------------------------------------------------------------------------- data
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


class CtcCollate:
    """Audio padding collate plus concatenated CTC targets (picklable for DataLoader workers)."""

    def __init__(self, targets: dict[str, list[int]]):
        self.targets = targets

    def __call__(self, items):
        from audiocl.data.dataset import collate_audio

        batch = collate_audio(items)
        ids = [self.targets[u] for u in batch["utt_ids"]]
        batch["targets"] = torch.tensor([i for seq in ids for i in seq], dtype=torch.long)
        batch["target_lengths"] = torch.tensor([len(s) for s in ids], dtype=torch.long)
        return batch


# --------------------------------------------------------------------------- task
class FinetuneCtcTask(AudioclTask):
    """Lightning task: CTC loss with too-short utterances dropped and counted."""

    def __init__(self, model: CtcAsrModel, optim: CtcOptimConfig, max_steps: int, loader: Any = None):
        super().__init__()
        self.model = model
        self.optim_cfg = optim
        self.max_steps = max_steps
        self._loader = loader
        self.too_short_total = 0
        self.too_short_utts: set[str] = set()

    def train_dataloader(self):
        return self._loader

    def compute_loss(self, batch: dict) -> tuple[Tensor, dict[str, Any]]:
        self.model.set_num_updates(self.global_step)
        log_probs, frame_lengths = self.model(batch["wav"], batch["lengths"])
        loss, _, used, counts = ctc_loss_skipping_short(
            log_probs, frame_lengths, batch["targets"].to(log_probs.device), batch["target_lengths"].to(log_probs.device))
        if counts["num_too_short"] or counts["num_nonfinite"]:
            for u, ok in zip(batch["utt_ids"], used.tolist()):
                if not ok and u not in self.too_short_utts:
                    self.too_short_utts.add(u)
                    log.warning("utterance %s: fewer frames than its CTC label sequence needs (or a non-finite "
                                "loss); dropped from the loss and counted", u)
            self.too_short_total += counts["num_too_short"] + counts["num_nonfinite"]
        logs = {"too_short": float(self.too_short_total), "context_frozen": float(self.model.context_frozen),
                "frames": float(frame_lengths.sum())}
        return loss, logs

    def configure_optimizers(self):
        params = [p for p in self.model.parameters() if p.requires_grad]
        c = self.optim_cfg
        opt = torch.optim.Adam(params, lr=c.lr, betas=tuple(c.betas), eps=c.eps, weight_decay=c.weight_decay)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, TriStage(self.max_steps, list(c.phase_ratio), c.init_lr_scale, c.final_lr_scale))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        checkpoint["audiocl_ctc"] = {"too_short_total": self.too_short_total,
                                     "too_short_utts": sorted(self.too_short_utts)}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_load_checkpoint(checkpoint)
        state = checkpoint.get("audiocl_ctc", {})
        self.too_short_total = int(state.get("too_short_total", 0))
        self.too_short_utts = set(state.get("too_short_utts", []))


# --------------------------------------------------------------------------- save / load
def save_ctc_model(model: CtcAsrModel, tokenizer: Tokenizer, cfg: FinetuneCtcConfig, upstream_cfg: Any,
                   directory: str | Path) -> Path:
    """``model.safetensors`` + ``config.yaml`` + ``upstream.yaml`` + tokenizer, each written atomically."""
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer.save(directory)
    save_config(cfg, directory / "config.yaml")
    from omegaconf import OmegaConf

    atomic_write_text(directory / UPSTREAM_FILE, OmegaConf.to_yaml(OmegaConf.create(
        {"model": cfg.upstream.model, "config": config_to_dict(upstream_cfg)})))
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(directory / "model.safetensors") as tmp:
        save_file(state, str(tmp))
    return directory


def load_ctc_model(directory: str | Path) -> tuple[CtcAsrModel, Tokenizer, FinetuneCtcConfig]:
    """Rebuild a fine-tuned model saved by :func:`save_ctc_model` (no pickle involved)."""
    from omegaconf import OmegaConf
    from safetensors.torch import load_file

    directory = Path(directory)
    if (directory / MODEL_DIR / "model.safetensors").is_file():
        directory = directory / MODEL_DIR
    weights = directory / "model.safetensors"
    if not weights.is_file():
        raise ConfigError(f"no fine-tuned CTC model in {directory} (model.safetensors missing)")
    cfg = load_config(FinetuneCtcConfig, directory / "config.yaml")
    up = OmegaConf.to_container(OmegaConf.load(directory / UPSTREAM_FILE), resolve=True)
    up_cfg = upstream_config_from_dict(up["model"], up["config"])
    _, model_cls = _model_classes(up["model"])
    tokenizer = load_tokenizer(directory)
    model = build_ctc_model(up["model"], model_cls(up_cfg), len(tokenizer), cfg.model)
    missing, unexpected = model.load_state_dict(load_file(str(weights)), strict=False)
    if missing or unexpected:
        raise ConfigError(f"{weights}: weights do not match the model (missing {missing[:3]}, unexpected {unexpected[:3]})")
    model.eval()
    return model, tokenizer, cfg


# --------------------------------------------------------------------------- stage 4
def run_finetune_ctc(cfg: FinetuneCtcConfig, exp_dir: str | Path) -> dict[str, Any]:
    """Train (or resume) and release the model under ``exp_dir/model``; returns the run's metrics."""
    from audiocl.data.datadir import DataDir
    from audiocl.data.dataset import AudioDataset
    from audiocl.data.sampler import DurationBucketBatchSampler

    exp_dir = Path(exp_dir)
    if cfg.trainer.num_threads > 0:
        torch.set_num_threads(cfg.trainer.num_threads)
    if not cfg.data.train:
        raise ConfigError("data.train is empty: give the training data dir (data.train=data/train_10pct)")
    data = DataDir.load(cfg.data.train)
    if not data.text:
        raise DataDirError(f"{cfg.data.train}: no 'text' file; CTC fine-tuning needs transcripts")
    tok_dir = exp_dir / "tokenizer"
    if (tok_dir / "tokenizer.json").is_file():  # resume: keep the vocabulary the checkpoint was trained with
        tokenizer = load_tokenizer(tok_dir)
    else:
        tokenizer = build_tokenizer(cfg.tokenizer.kind, data.text.values(), vocab_size=cfg.tokenizer.vocab_size,
                                    case=cfg.tokenizer.case, oov=cfg.tokenizer.oov)
        tokenizer.save(tok_dir)
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
    loader = make_loader(ds, sampler, CtcCollate(targets), cfg.trainer.num_workers)
    task = FinetuneCtcTask(model, cfg.optim, cfg.trainer.max_steps, loader)
    title = f"CTC fine-tuning ({cfg.model.frontend}, {cfg.upstream.init})"
    metrics = run_training(task, cfg.trainer, exp_dir, config=cfg, title=title)
    metrics.update({
        "num_train_utts": len(ds.items), "empty_transcripts": empty, "too_short_total": task.too_short_total,
        "too_short_utterances": sorted(task.too_short_utts), "oov": dict(tokenizer.oov_counts),
        "parameters": model.parameter_counts(),
    })
    save_ctc_model(model, tokenizer, cfg, up_cfg, exp_dir / MODEL_DIR)
    atomic_write_text(exp_dir / "metrics.json", json.dumps(metrics, indent=2, sort_keys=True, default=str) + "\n")
    return metrics


# --------------------------------------------------------------------------- stage 5
@dataclass
class DecodeConfig:
    beam_size: int = 0
    """0 = greedy; otherwise flashlight beam search with this beam."""
    lexicon_from: str = ""
    """Data dir whose ``text`` gives the lexicon words (and the LM training text when ``lm_order > 0``)."""
    lm: str = ""
    """ARPA/KenLM file; needs a lexicon."""
    lm_order: int = 0
    """> 0: build an n-gram ARPA LM of this order from ``lexicon_from`` (written next to the output)."""
    lm_weight: float = 2.0
    word_score: float = 0.0
    max_batch_seconds: float = 100.0
    num_threads: int = 0
    device: str = "auto"
    """``auto`` = the GPU when there is one, else the CPU."""


def decode_data_dir(model_dir: str | Path, data_dir: str | Path, out_dir: str | Path,
                    cfg: DecodeConfig | None = None) -> dict[str, str]:
    """Decode every utterance of ``data_dir``; write ``out_dir/text`` (Kaldi format) and return it.

    Utterances too short for the model's receptive field decode to an empty hypothesis (with a
    warning), so the scoring stage still sees every utterance.
    """
    from audiocl.data.datadir import DataDir
    from audiocl.data.dataset import AudioDataset, collate_audio
    from audiocl.data.sampler import DurationBucketBatchSampler
    from audiocl.models.ctc_decoding import BeamSearchConfig, BeamSearchDecoder, build_lexicon, decode_batch, write_arpa

    cfg = cfg or DecodeConfig()
    if cfg.num_threads > 0:
        torch.set_num_threads(cfg.num_threads)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model, tokenizer, _ = load_ctc_model(model_dir)
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if cfg.device == "auto" else cfg.device)
    model.to(device)
    beam = None
    if cfg.beam_size > 0:
        lexicon = None
        lm = cfg.lm or None
        if cfg.lexicon_from:
            lex_data = DataDir.load(cfg.lexicon_from)
            if not lex_data.text:
                raise DataDirError(f"{cfg.lexicon_from}: no 'text' file to build the lexicon from")
            texts = [normalize_text(t, tokenizer.case) for t in lex_data.text.values()]
            lexicon = build_lexicon([w for t in texts for w in t.split()], tokenizer)
            if cfg.lm_order > 0 and not lm:
                lm = str(write_arpa(texts, out_dir / f"lm_{cfg.lm_order}gram.arpa", order=cfg.lm_order))
        bcfg = BeamSearchConfig(beam_size=cfg.beam_size, lm_weight=cfg.lm_weight, word_score=cfg.word_score)
        beam = BeamSearchDecoder(tokenizer, lexicon=lexicon, lm=lm, config=bcfg)
    ds = AudioDataset.from_data_dir(data_dir, crop_seconds=None, skip_bad=False)
    sampler = DurationBucketBatchSampler(ds.durations, cfg.max_batch_seconds, num_buckets=5, shuffle=False)
    hyps: dict[str, str] = {}
    with torch.inference_mode():
        for batch_idx in sampler:
            batch = collate_audio([ds[i] for i in batch_idx])
            log_probs, frame_lengths = model(batch["wav"].to(device), batch["lengths"].to(device))
            texts = decode_batch(log_probs, frame_lengths, tokenizer, beam)
            for utt, text, n in zip(batch["utt_ids"], texts, frame_lengths.tolist()):
                if n == 0:
                    log.warning("utterance %s: shorter than the model's receptive field; empty hypothesis", utt)
                hyps[utt] = text
    from audiocl.data.kaldi_files import write_keyed_file

    write_keyed_file(out_dir / "text", hyps)
    return hyps


# --------------------------------------------------------------------------- frozen-upstream CTC probe
@dataclass
class CtcProbeConfig:
    """SUPERB-style ASR probe: frozen upstream layers -> weighted sum -> small conv stack -> CTC.

    SUPERB's ASR downstream ("SUPERB: Speech processing Universal PERformance Benchmark") is a 2-layer
    BiLSTM of 1024 units on the weighted sum of a frozen upstream's layers. Ours replaces the BiLSTM
    by three residual 1-D convolutions (kernel 5, 128 channels) so it trains in minutes on a CPU; the same
    probe on fbank is the baseline, so the comparison isolates the representation. It complements
    (does not replace) full fine-tuning (:func:`run_finetune_ctc`).
    """

    hidden: int = 128
    layers: int = 3
    dropout: float = 0.2
    lr: float = 1e-3
    steps: int = 2000
    batch_size: int = 8
    seed: int = 0
    num_threads: int = 0


class CtcProbe(nn.Module):
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
        valid = (torch.arange(x.shape[1])[None, :] < lengths[:, None]).unsqueeze(1).to(x.dtype)
        h = x.transpose(1, 2) * valid
        for conv in self.convs:
            h = (h + self.dropout(torch.relu(conv(h)))) * valid
        return self.out(h.transpose(1, 2)).float().log_softmax(-1)


def run_ctc_probe(upstream_cfg: Any, train_dir: str | Path, eval_dirs: list[str | Path], out_dir: str | Path,
                  cfg: CtcProbeConfig | None = None, tokenizer_kind: str = "char") -> dict[str, Any]:
    """Train the probe on ``train_dir`` and score greedy decoding on each of ``eval_dirs``.

    ``upstream_cfg`` is a :class:`audiocl.tasks.classify.ClassifyUpstreamConfig` (``pretrained`` /
    ``random`` / ``fbank``). Writes ``out_dir/decode_<set>/{text,metrics.json}`` and ``out_dir/metrics.json``.
    """
    from audiocl.data.datadir import DataDir
    from audiocl.data.kaldi_files import write_keyed_file
    from audiocl.metrics.asr import score_texts
    from audiocl.models.ctc_decoding import greedy_decode
    from audiocl.tasks.classify import build_upstream, extract_all

    cfg = cfg or CtcProbeConfig()
    if cfg.num_threads > 0:
        torch.set_num_threads(cfg.num_threads)
    out_dir = Path(out_dir)
    torch.manual_seed(cfg.seed)
    data = DataDir.load(train_dir)
    if not data.text:
        raise DataDirError(f"{train_dir}: no 'text' file")
    tokenizer = build_tokenizer(tokenizer_kind, data.text.values())
    targets, empty = transcripts_to_targets(data.text, tokenizer, str(train_dir))
    upstream, _, _ = build_upstream(upstream_cfg)
    feats = {u: f for u, f in extract_all(upstream, train_dir).items() if u in targets}
    utts = sorted(feats)
    num_layers, _, dim = feats[utts[0]].shape
    model = CtcProbe(num_layers, dim, len(tokenizer), cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, TriStage(cfg.steps, [0.1, 0.4, 0.5], 0.01, 0.05))
    rng = torch.Generator().manual_seed(cfg.seed)

    def batch_of(ids: list[str]) -> tuple[Tensor, Tensor]:
        lens = torch.tensor([feats_all[u].shape[1] for u in ids])
        x = torch.zeros(num_layers, len(ids), int(lens.max()), dim)
        for b, u in enumerate(ids):
            x[:, b, : lens[b]] = feats_all[u].float()
        return x, lens

    feats_all = feats
    model.train()
    too_short = 0
    losses = []
    for step in range(cfg.steps):
        idx = torch.randperm(len(utts), generator=rng)[: cfg.batch_size].tolist()
        ids = [utts[i] for i in idx]
        x, lens = batch_of(ids)
        tg = torch.tensor([t for u in ids for t in targets[u]])
        tl = torch.tensor([len(targets[u]) for u in ids])
        lp = model(x, lens)
        loss, _, _, counts = ctc_loss_skipping_short(lp, lens, tg, tl)
        too_short += counts["num_too_short"]
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
    model.eval()
    result: dict[str, Any] = {"train_utts": len(utts), "steps": cfg.steps, "final_loss": sum(losses[-50:]) / min(50, len(losses)),
                              "too_short": too_short, "layer_weights": model.weighted_sum.layer_weights().tolist()}
    for ed in eval_dirs:
        ref = DataDir.load(ed).text or {}
        feats_all = extract_all(upstream, ed)
        hyps = {}
        with torch.no_grad():
            keys = sorted(feats_all)
            for i in range(0, len(keys), 16):
                ids = keys[i:i + 16]
                x, lens = batch_of(ids)
                for u, seq in zip(ids, greedy_decode(model(x, lens), lens)):
                    hyps[u] = tokenizer.decode(seq)
        dec = out_dir / f"decode_{Path(ed).name}"
        dec.mkdir(parents=True, exist_ok=True)
        write_keyed_file(dec / "text", hyps)
        scores = score_texts(ref, hyps, allow_missing=True)
        atomic_write_text(dec / "metrics.json", json.dumps(scores, indent=2) + "\n")
        result[Path(ed).name] = {"cer": scores["cer"]["rate"], "wer": scores["wer"]["rate"]}
    atomic_write_text(out_dir / "metrics.json", json.dumps(result, indent=2) + "\n")
    return result
