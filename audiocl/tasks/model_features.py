"""``audiocl extract --model CKPT --layer N|all``: frame features from a pretrained audiocl model.

Registers the ``model`` extractor plug-in (see :mod:`audiocl.features.extractors`; ``audiocl extract``
imports this module). ``CKPT`` is any upstream reference (a release dir, a training ``last.ckpt``, an
exp dir, or what :func:`audiocl.hub.resolver.resolve` knows), loaded like every downstream task loads
its upstream (:func:`audiocl.tasks.upstream.load_upstream`, no pickle) and run through the same
layer-taking code (:func:`audiocl.tasks.upstream_layers.batch_layers`).

``--layer``: ``0`` is the input of the context network (projected conv features for wav2vec 2.0,
encoder output for CPC), ``i`` the output of context layer ``i``, negative values count from the last
(``-1``, the default, is the last layer); ``all`` concatenates every layer along the feature axis
(``dim = (num_layers + 1) * channels``, layer 0 first), for weighted-sum probes that split it again.

Utterances are run one at a time unless a batch has equal lengths, so a frame's features never depend
on what it was batched with (the conv encoder's group norm spans the whole padded input). An
utterance shorter than the receptive field yields 0 frames, which ``audiocl extract`` lists as a
bad input instead of failing the job.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from audiocl.errors import ConfigError
from audiocl.features.extractors import ExtractorPlugin, register_extractor


def parse_layer(text: str | int) -> int | str:
    if isinstance(text, int):
        return text
    text = str(text).strip().lower()
    if text == "all":
        return "all"
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"--layer {text!r}: expected an integer (negative counts from the last) or 'all'") from None


def _frame_shift_samples(name: str, model_cfg) -> int:
    if hasattr(model_cfg, "frame_shift"):
        return int(model_cfg.frame_shift)
    if hasattr(model_cfg, "encoder_strides"):
        return math.prod(int(s) for s in model_cfg.encoder_strides)
    raise ConfigError(f"cannot tell the frame shift of a {name} model")


class ModelFeatureExtractor:
    """Hidden states of layer ``layer`` (or all layers) of a pretrained model, ``(frames, dim)`` per utterance."""

    def __init__(self, path: str, layer: int | str = -1, device: str = "cpu"):
        import torch

        from audiocl.tasks.upstream import UpstreamConfig, load_upstream
        from audiocl.tasks.upstream_layers import batch_layers

        self.device = torch.device(device)
        model, model_cfg, kind = load_upstream(UpstreamConfig(kind="pretrained", path=str(path)))
        self.model = model.to(self.device).eval()
        self.layer = parse_layer(layer)
        self.sample_rate = int(model_cfg.sample_rate)
        self.frame_shift = _frame_shift_samples(kind, model_cfg) / self.sample_rate
        self.min_samples = int(self.model.min_samples)
        probe = torch.zeros(1, max(self.min_samples, self.sample_rate), device=self.device)
        with torch.inference_mode():
            layers, _ = batch_layers(self.model, probe, torch.tensor([probe.shape[1]], device=self.device))
        self.num_layers = len(layers)
        if self.layer != "all" and not -self.num_layers <= int(self.layer) < self.num_layers:
            raise ConfigError(f"--layer {self.layer}: the model has layers 0..{self.num_layers - 1} "
                              f"(0 = input of the context network)")
        width = int(layers[0].shape[-1])
        if any(int(x.shape[-1]) != width for x in layers) and self.layer == "all":
            raise ConfigError("--layer all needs layers of equal width")
        chosen = width if self.layer == "all" else int(layers[int(self.layer)].shape[-1])
        self.dim = width * self.num_layers if self.layer == "all" else chosen
        self.name = f"{kind}:layer{self.layer}"

    def _run(self, wavs: list[np.ndarray]) -> list[np.ndarray]:
        import torch

        from audiocl.tasks.upstream_layers import batch_layers

        x = torch.from_numpy(np.stack([np.asarray(w, dtype=np.float32) for w in wavs])).to(self.device)
        lengths = torch.full((len(wavs),), x.shape[1], dtype=torch.long, device=self.device)
        with torch.inference_mode():
            layers, flen = batch_layers(self.model, x, lengths)
        feats = torch.cat(layers, dim=-1) if self.layer == "all" else layers[int(self.layer)]
        return [feats[i, : int(flen[i])].float().cpu().numpy() for i in range(len(wavs))]

    def __call__(self, wavs: list[np.ndarray]) -> list[np.ndarray]:
        out: list[np.ndarray | None] = [None] * len(wavs)
        groups: dict[int, list[int]] = {}
        for i, w in enumerate(wavs):
            if len(w) < self.min_samples:
                out[i] = np.zeros((0, self.dim), dtype=np.float32)
            else:
                groups.setdefault(len(w), []).append(i)
        for idx in groups.values():
            for i, feats in zip(idx, self._run([wavs[i] for i in idx])):
                out[i] = feats
        return out  # type: ignore[return-value]


@dataclass
class ModelFeatureConfig:
    """Which model and layer the ``model`` extractor reads (``audiocl extract --model CKPT --layer N``)."""

    model: str | None = field(default=None, metadata={
        "metavar": "CKPT", "help": "release dir, last.ckpt or exp dir of an audiocl pretrained model"})
    layer: str = field(default="-1", metadata={
        "metavar": "N|all", "help": "0 = input of the context network, i = output of layer i, -1 = last (default), "
                                    "all = every layer concatenated"})

    def build_extractor(self, device: str = "cpu") -> ModelFeatureExtractor:
        if not self.model:
            raise ConfigError("the model extractor needs a checkpoint: --model CKPT")
        return ModelFeatureExtractor(self.model, self.layer, device=device)


register_extractor(ExtractorPlugin(
    name="model",
    help="hidden states of a pretrained audiocl model (wav2vec 2.0 / CPC)",
    config_class=ModelFeatureConfig,
    trigger="model",
))
