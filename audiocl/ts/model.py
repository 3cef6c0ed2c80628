"""The time-series contrastive model: numpy in, numpy out (``fit`` / ``encode`` / ``save`` / ``load``).

Two methods (configs and their sources: :mod:`audiocl.ts.config`):

- ``ts2vec`` — TS2Vec's hierarchical instance + temporal contrast on random overlapping crops with
  timestamp masking ("TS2Vec: Towards Universal Representation of Time Series", Yue et al., AAAI
  2022). ``weight_averaging=true`` encodes with the equal-weight average of every iterate's weights,
  as TS2Vec's code does (``torch.optim.swa_utils.AveragedModel``).
  Unequal lengths deliberately differ from TS2Vec's code, which centres each training series in
  the padded length and lets padded steps into the loss and the max-pool: here each batch is cut
  to its longest series, and padding is masked out of the loss and the pooling, so a short series
  is represented by its own steps only and training does not spend time on padding.
- ``simclr`` — NT-Xent on max-pooled embeddings of two augmented views (jitter, scaling,
  permutation, timestamp masking) through a 2-layer projection head ("A Simple Framework for
  Contrastive Learning of Visual Representations", Chen et al., 2020).

The per-pair objective is any name from :mod:`audiocl.losses` (``loss``, ``loss_kwargs``), and
``dbpm=True`` wraps the per-sample losses in Dynamic Bad Pair Mining (:mod:`audiocl.losses.dbpm`).
TS-TCC reuses this training loop through a subclass (:mod:`audiocl.ts.tstcc`); pick the class for a
config with :func:`audiocl.ts.factory.build_model`.
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel

from audiocl.errors import ConfigError, TimeSeriesInputError
from audiocl.losses import get as get_objective
from audiocl.losses.base import LossOutput
from audiocl.losses.dbpm import DynamicBadPairMining
from audiocl.losses.ts_hierarchical import hierarchical_contrastive_loss, nt_xent_loss
from audiocl.nn.optim import adamw
from audiocl.nn.ts_encoders import build_ts_encoder, empty_steps, masked_max_pool
from audiocl.ts.augment import OverlapCrop, SimCLRAugment, timestamp_mask
from audiocl.ts.config import TSContrastiveConfig, default_iters
from audiocl.ts.data import series_lengths

MODEL_FILES = ("model.safetensors", "config.yaml", "meta.json")
"""What :meth:`TSContrastiveModel.save` writes into a model folder."""


class TSContrastiveModel(nn.Module):
    """Encoder (+ SimCLR head) and the training loop; see module docstring."""

    config_class: type = TSContrastiveConfig
    """What ``load`` reads ``config.yaml`` into (subclasses with a wider config override it)."""
    methods: tuple[str, ...] = ("ts2vec", "simclr")
    """The ``cfg.method`` values this class trains (subclasses adding a method override it)."""

    def __init__(self, cfg: TSContrastiveConfig, in_channels: int):
        super().__init__()
        if cfg.method not in self.methods:
            raise ConfigError(f"{type(self).__name__}: method must be one of {', '.join(self.methods)}, "
                              f"got {cfg.method!r}")
        self.cfg = cfg
        self.in_channels = in_channels
        d = cfg.encoder.repr_dim
        with torch.random.fork_rng(devices=[]):  # seeded init without touching the caller's RNG
            torch.manual_seed(cfg.seed)
            self.encoder = build_ts_encoder(cfg.encoder, in_channels)
            self.head = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, cfg.proj_dim)) if cfg.method == "simclr" else None
        self.objective = self._objective()
        self.history: list[dict[str, float]] = []
        self.dbpm: DynamicBadPairMining | None = None
        self.train_seconds = 0.0
        self.train_cpu_seconds = 0.0
        """Process CPU time of the last ``fit`` (less sensitive than ``train_seconds`` to other load)."""
        self.pair_hook: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None
        """Optional ``(batch (B, T, C), sample ids) -> source of view 2``; experiments use it to corrupt
        known positive pairs (:mod:`audiocl.ts.dbpm_experiment`)."""

    # -- helpers -------------------------------------------------------------------------------
    def default_temperature(self) -> float:
        """InfoNCE temperature when ``loss_kwargs`` is empty: 1.0 for ts2vec (the paper's plain
        softmax on dot products), 0.2 for simclr."""
        return 1.0 if self.cfg.method == "ts2vec" else 0.2

    def _objective(self):
        cfg = self.cfg
        if cfg.loss_kwargs:
            return get_objective(cfg.loss, **cfg.loss_kwargs)
        return get_objective(cfg.loss, **({"temperature": self.default_temperature()} if cfg.loss == "infonce" else {}))

    def _check_channels(self, X: np.ndarray, what: str) -> None:
        if X.ndim != 3:
            raise TimeSeriesInputError(f"{what}: expected (N, T, C), got shape {X.shape}")
        if X.shape[2] != self.in_channels:
            raise TimeSeriesInputError(
                f"{what}: has {X.shape[2]} channels but the model was built/fitted with {self.in_channels}"
            )

    def batch_loss(self, xb: Tensor, ids: Tensor, rng: np.random.Generator, gen: torch.Generator,
                   xb2: Tensor | None = None) -> tuple[Tensor, Tensor, dict]:
        """One batch's training loss (DBPM-weighted when on), per-sample losses and logs."""
        out = self.loss_output(xb, rng, gen, xb2)
        loss = self.dbpm(out.per_sample, ids) if self.dbpm is not None else out.loss
        return loss, out.per_sample, out.logs

    def loss_output(self, xb: Tensor, rng: np.random.Generator, gen: torch.Generator, xb2: Tensor | None = None) -> LossOutput:
        """The method's loss on one batch ``(B, T, C)`` (view 2's source is ``xb2`` when given)."""
        cfg = self.cfg
        if cfg.method == "ts2vec":
            v1, v2, crop_l = OverlapCrop(cfg.temporal_unit)(xb, rng, xb2)
            pad1, pad2 = empty_steps(v1), empty_steps(v2)
            m1 = timestamp_mask(pad1.shape, cfg.mask_prob, gen)
            m2 = timestamp_mask(pad2.shape, cfg.mask_prob, gen)
            if hasattr(self.encoder, "encode_crops"):  # both views in one pass, overlap only
                z1, z2 = self.encoder.encode_crops([(v1, pad1, m1), (v2, pad2, m2)],
                                                   [v1.shape[1] - crop_l, 0], crop_l).chunk(2)
            else:
                z1 = self.encoder(v1, pad1, m1)[:, -crop_l:]
                z2 = self.encoder(v2, pad2, m2)[:, :crop_l]
            return hierarchical_contrastive_loss(
                z1, z2, ~pad1[:, -crop_l:], ~pad2[:, :crop_l], objective=self.objective,
                alpha=cfg.alpha, temporal_unit=cfg.temporal_unit, similarity=cfg.similarity,
            )
        lengths = torch.as_tensor(series_lengths(xb.numpy(), minimum=1))
        aug = SimCLRAugment()
        views = []
        for src in (xb, xb if xb2 is None else xb2):
            v = aug(src, lengths, gen)
            pad = empty_steps(v)
            z = self.encoder(v, pad, timestamp_mask(pad.shape, cfg.simclr_mask_prob, gen))
            views.append(self.head(masked_max_pool(z, pad)))
        return nt_xent_loss(views[0], views[1], self.objective)

    # -- public API ----------------------------------------------------------------------------
    def fit(
        self,
        X: np.ndarray,
        *,
        iters: int | None = None,
        verbose: bool = False,
        on_epoch_end: Callable[["TSContrastiveModel", int], None] | None = None,
    ) -> "TSContrastiveModel":
        """Unsupervised training on ``X (N, T, C)`` (NaN = missing / padding). Returns ``self``."""
        cfg = self.cfg
        self._check_channels(X, "fit")
        if cfg.num_threads > 0:
            torch.set_num_threads(cfg.num_threads)
        with torch.random.fork_rng(devices=[]):  # dropout draws from a seeded, private RNG state
            torch.manual_seed(cfg.seed)
            return self._fit(X, iters, verbose, on_epoch_end)

    def _fit(self, X: np.ndarray, iters: int | None, verbose: bool, on_epoch_end) -> "TSContrastiveModel":
        cfg = self.cfg
        rng = np.random.default_rng(cfg.seed)
        gen = torch.Generator().manual_seed(cfg.seed)
        n_iters = iters or cfg.iters or default_iters(X)
        n = X.shape[0]
        bs = min(cfg.batch_size, n)
        if n < 1:
            raise TimeSeriesInputError("fit: no series")
        # one series: only the temporal term of ts2vec can learn (no negatives across series), and
        # there is no population to mine bad pairs from, so DBPM is off
        self.dbpm = DynamicBadPairMining(n, copy.deepcopy(cfg.dbpm_cfg)) if (cfg.dbpm and n >= 2) else None
        lengths_all = series_lengths(X, minimum=1)
        opt = adamw(self.parameters(), lr=cfg.lr)
        # iterates from this one on enter the weight average (0: the initial weights too, as TS2Vec's code)
        average_from = int(cfg.averaging_start * n_iters) if cfg.weight_averaging else n_iters + 1
        averaged = AveragedModel(self.encoder, use_buffers=True) if average_from == 0 else None
        if averaged is not None:
            averaged.update_parameters(self.encoder)
        self.train()
        t0, c0 = time.perf_counter(), time.process_time()
        it, epoch = 0, 0
        while it < n_iters:
            order = rng.permutation(n)
            ep_loss, ep_batches = 0.0, 0
            for s in range(0, n - bs + 1, bs):  # drop the incomplete last batch, as TS2Vec does
                idx = order[s: s + bs]
                tmax = int(lengths_all[idx].max())
                xb = X[idx, :tmax]
                if tmax > cfg.max_train_length:
                    st = int(rng.integers(0, tmax - cfg.max_train_length + 1))
                    xb = xb[:, st: st + cfg.max_train_length]
                xb_t = torch.from_numpy(np.ascontiguousarray(xb, dtype=np.float32))
                ids = torch.from_numpy(idx.astype(np.int64))
                xb2_t = None
                if self.pair_hook is not None:
                    xb2_t = torch.from_numpy(np.ascontiguousarray(self.pair_hook(xb, idx), dtype=np.float32))
                loss = self.batch_loss(xb_t, ids, rng, gen, xb2_t)[0]
                if not torch.isfinite(loss):
                    raise TimeSeriesInputError(f"fit: non-finite loss at iteration {it}; check the input for extreme values")
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                if averaged is not None:
                    averaged.update_parameters(self.encoder)
                elif it + 1 >= average_from:
                    averaged = AveragedModel(self.encoder, use_buffers=True)
                    averaged.update_parameters(self.encoder)
                ep_loss += float(loss.detach())
                ep_batches += 1
                it += 1
                if it >= n_iters:
                    break
            if self.dbpm is not None:
                self.dbpm.end_epoch()
            rec = {"epoch": epoch, "iters": it, "loss": ep_loss / max(ep_batches, 1)}
            self.history.append(rec)
            if verbose:
                print(f"epoch {epoch} iters {it} loss {rec['loss']:.4f}", flush=True)
            if on_epoch_end is not None:
                on_epoch_end(self, epoch)
            epoch += 1
        if averaged is not None:
            self.encoder.load_state_dict(averaged.module.state_dict())
        self.train_seconds = time.perf_counter() - t0
        self.train_cpu_seconds = time.process_time() - c0
        self.eval()
        return self

    def _batches(self, X: np.ndarray, batch_size: int) -> Iterator[tuple[Tensor, np.ndarray]]:
        """``X`` in eval mode, batch by batch, each cut to its longest series: ``(x (B, T_b, C), lengths)``."""
        self._check_channels(X, "encode")
        if self.cfg.num_threads > 0:
            torch.set_num_threads(self.cfg.num_threads)
        self.eval()
        lengths = series_lengths(X, minimum=1)
        for s in range(0, X.shape[0], batch_size):
            lb = lengths[s: s + batch_size]
            yield torch.from_numpy(np.ascontiguousarray(X[s: s + batch_size, : int(lb.max())], dtype=np.float32)), lb

    @torch.no_grad()
    def encode_steps(self, X: np.ndarray, batch_size: int = 64) -> list[np.ndarray]:
        """Per-timestep representations, one ``(T_i, D)`` array per series."""
        out = []
        for xb, lb in self._batches(X, batch_size):
            z = self.encoder(xb, empty_steps(xb))
            out += [z[i, : int(lb[i])].numpy() for i in range(z.shape[0])]
        return out

    @torch.no_grad()
    def encode(self, X: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Fixed-size embeddings ``(N, D)``: max-pool over each whole series (TS2Vec's 'full_series')."""
        outs = []
        for xb, lb in self._batches(X, batch_size):
            # steps after a series' end are padding; NaN inside a series stays "missing" (context fills it)
            endpad = torch.arange(xb.shape[1])[None, :] >= torch.as_tensor(lb)[:, None]
            outs.append(masked_max_pool(self.encoder(xb, endpad), endpad).numpy())
        return np.concatenate(outs, 0) if outs else np.zeros((0, self.cfg.encoder.repr_dim), np.float32)

    # -- persistence (safetensors + YAML, no pickle) -------------------------------------------
    def save(self, directory: str | Path, extra: dict | None = None) -> Path:
        from safetensors.torch import save_file

        from audiocl.config import save_config
        from audiocl.utils.io import atomic_path, atomic_write_text

        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        # DBPM's memory is training state, not part of the released model
        state = {k: v.detach().contiguous().clone() for k, v in self.state_dict().items() if not k.startswith("dbpm.")}
        with atomic_path(d / "model.safetensors") as tmp:
            save_file(state, str(tmp))
        save_config(self.cfg, d / "config.yaml")
        meta = {"in_channels": self.in_channels, "train_seconds": self.train_seconds, "history": self.history}
        meta.update(extra or {})
        atomic_write_text(d / "meta.json", json.dumps(meta, indent=1))
        return d

    @classmethod
    def load(cls, directory: str | Path) -> tuple["TSContrastiveModel", dict]:
        from safetensors.torch import load_file

        from audiocl.config import load_config

        d = Path(directory)
        for f in MODEL_FILES:
            if not (d / f).is_file():
                raise ConfigError(f"{d}: missing {f}; not a saved time-series model")
        cfg = load_config(cls.config_class, d / "config.yaml")
        meta = json.loads((d / "meta.json").read_text())
        model = cls(cfg, int(meta["in_channels"]))
        model.load_state_dict(load_file(str(d / "model.safetensors")))
        model.history = meta.get("history", [])
        model.train_seconds = float(meta.get("train_seconds", 0.0))
        model.eval()
        return model, meta


__all__ = ["MODEL_FILES", "TSContrastiveModel"]
