"""The plug-in point of ``audiocl extract``: what turns a batch of waveforms into feature matrices.

An *extractor* is any object with

* ``name: str`` (recorded in the output's ``feature_info.yaml``), ``dim: int``, ``sample_rate: int``
  (the rate the waveforms are read at), ``frame_shift: float`` (seconds per output frame),
* ``__call__(wavs: list[np.ndarray]) -> list[np.ndarray]``: float32 waveforms in [-1, 1] in, one
  ``(frames, dim)`` float32 array per waveform out (0 frames = too short; listed as a bad input).

An *extractor plug-in* (:class:`ExtractorPlugin`) adds its command-line options to ``audiocl extract``
and builds the extractor from the parsed arguments. Built in: ``fbank``, ``mfcc``, ``logmel``.
To add features from a pretrained model (``--model CKPT --layer N``), write a module that calls::

    register_extractor(ExtractorPlugin(
        name="model", help="hidden states of a pretrained audiocl model",
        add_arguments=lambda p: (p.add_argument("--model", metavar="CKPT"),
                                 p.add_argument("--layer", type=int, default=-1)),
        build=lambda args: MyModelExtractor(args.model, args.layer, device=args.device),
        trigger="model",  # `--model X` alone selects this plug-in, no `--type model` needed
    ))

in ``audiocl/hub/model_features.py`` (already listed in :data:`PLUGIN_MODULES`, imported if present)
or add another import path there. ``build`` runs once in every parallel job
(``--nj``), so it may load weights onto ``args.device``; the parent process never builds it.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol, runtime_checkable

import numpy as np

from audiocl.errors import ConfigError, FeatureError
from audiocl.features.config import FEATURE_CONFIGS, LogMelConfig

# Modules imported before `audiocl extract` builds its parser; each registers more plug-ins. A listed
# module that does not exist (yet) is skipped, so a plug-in can land without editing this file:
# `audiocl.hub.model_features` is the agreed home of the `--model CKPT --layer N` plug-in.
PLUGIN_MODULES: list[str] = ["audiocl.hub.model_features"]


@runtime_checkable
class FeatureExtractor(Protocol):
    name: str
    dim: int
    sample_rate: int
    frame_shift: float

    def __call__(self, wavs: list[np.ndarray]) -> list[np.ndarray]: ...


@dataclass
class ExtractorPlugin:
    """How ``audiocl extract`` offers one kind of extractor (see the module docstring)."""

    name: str
    help: str
    build: Callable[[argparse.Namespace], FeatureExtractor]
    add_arguments: Callable[[argparse.ArgumentParser], object] | None = None
    trigger: str | None = None  # argparse dest whose non-None value selects this plug-in


_REGISTRY: dict[str, ExtractorPlugin] = {}


def register_extractor(plugin: ExtractorPlugin) -> ExtractorPlugin:
    if plugin.name in _REGISTRY and _REGISTRY[plugin.name] is not plugin:
        raise ValueError(f"an extractor plug-in named {plugin.name!r} is already registered")
    _REGISTRY[plugin.name] = plugin
    return plugin


def extractor_plugins() -> dict[str, ExtractorPlugin]:
    """All registered plug-ins (importing :data:`PLUGIN_MODULES` first)."""
    for module in PLUGIN_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:  # the plug-in exists but one of its own imports is missing: say so
                raise
    return dict(_REGISTRY)


# ---------------------------------------------------------------------------- built-in: signal features
class SignalFeatureExtractor:
    """fbank / MFCC / log-mel computed in batches with :func:`compute_features_batch` on ``device``."""

    def __init__(self, cfg, device: str = "cpu"):
        cfg.check()
        self.cfg = cfg
        self.device = device
        self.name = next(n for n, c in FEATURE_CONFIGS.items() if type(cfg) is c)
        self.dim = cfg.dim
        self.sample_rate = int(cfg.sample_frequency)
        self.frame_shift = (cfg.hop_length / cfg.sample_rate if isinstance(cfg, LogMelConfig)
                            else cfg.window_shift / cfg.sample_frequency)

    def __call__(self, wavs: list[np.ndarray]) -> list[np.ndarray]:
        if not wavs:
            return []
        import torch

        from audiocl.features.compute import compute_features_batch, compute_padded

        if torch.device(self.device).type != "cpu":
            return compute_features_batch(wavs, self.cfg, device=self.device).unpad()
        # On the CPU the batched path gains nothing (valid frames are computed in pieces either way);
        # one utterance at a time skips the padded copy of the batch.
        out = []
        for w in wavs:
            x = torch.from_numpy(np.ascontiguousarray(w, dtype=np.float32))
            res = compute_padded(x.unsqueeze(0), torch.tensor([x.numel()]), self.cfg)
            out.append(res.feats[0, : int(res.lengths[0])].numpy())
        return out


def _field_types(cls) -> dict[str, type]:
    hints = {f.name: f.type for f in dataclasses.fields(cls)}
    return {k: {"float": float, "int": int, "bool": bool, "str": str}.get(str(v), v) for k, v in hints.items()}


# Options that are set from general flags (--sample-rate) instead of per-field ones.
_GENERAL_FIELDS = {"sample_frequency", "sample_rate"}


def _all_feature_fields() -> dict[str, type]:
    fields: dict[str, type] = {}
    for cls in FEATURE_CONFIGS.values():
        for name, typ in _field_types(cls).items():
            if name not in _GENERAL_FIELDS:
                fields.setdefault(name, typ)
    return fields


def parse_bool(text: str) -> bool:
    value = str(text).strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no"):
        return False
    raise ValueError(f"not a boolean: {text!r} (use true or false)")


def _converter(typ: type) -> Callable[[str], object]:
    if typ is bool:
        def conv(text):
            try:
                return parse_bool(text)
            except ValueError as exc:
                raise argparse.ArgumentTypeError(str(exc)) from None
        return conv
    return typ


def parse_kaldi_conf(path: str | Path) -> dict[str, str]:
    """Read a Kaldi option file (``--num-mel-bins=80`` per line, ``#`` comments) into ``{field: text}``."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"feature config not found: {path}")
    out: dict[str, str] = {}
    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if not line.startswith("--") or "=" not in line:
            raise ConfigError(f"{path} line {lineno}: expected --option=value, got {raw.strip()!r}")
        key, value = line[2:].split("=", 1)
        out[key.strip().replace("-", "_")] = value.strip()
    return out


def build_signal_config(kind: str, args: argparse.Namespace):
    """Feature config: dataclass defaults < ``--config`` file (YAML or Kaldi .conf) < per-option flags."""
    cls = FEATURE_CONFIGS[kind]
    types = _field_types(cls)
    values: dict[str, object] = {}
    conf = getattr(args, "feat_config", None)
    if conf:
        text = Path(conf).read_text(encoding="utf-8") if Path(conf).is_file() else ""
        if text.lstrip().startswith("--") or Path(conf).suffix == ".conf":
            for key, value in parse_kaldi_conf(conf).items():
                if key not in types:
                    raise ConfigError(f"{conf}: option --{key.replace('_', '-')} does not exist for {kind}")
                try:
                    values[key] = parse_bool(value) if types[key] is bool else types[key](value)
                except ValueError as exc:
                    raise ConfigError(f"{conf}: --{key.replace('_', '-')}={value}: {exc}") from None
        else:
            from audiocl.config import config_to_dict, resolve_config

            values.update(config_to_dict(resolve_config(cls, presets=[conf])))
    for name in _all_feature_fields():
        value = getattr(args, f"feat_{name}", None)
        if value is None:
            continue
        if name not in types:
            raise ConfigError(f"option --{name.replace('_', '-')} does not apply to --type {kind}")
        values[name] = value
    sr = getattr(args, "sample_rate", None)
    if sr:
        values["sample_rate" if kind == "logmel" else "sample_frequency"] = int(sr) if kind == "logmel" else float(sr)
    try:
        cfg = cls(**values)
        cfg.check()
    except TypeError as exc:
        raise ConfigError(f"bad {kind} options: {exc}") from None
    return cfg


def _add_signal_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "fbank / mfcc / logmel options",
        "Kaldi option names (compute-fbank-feats --help); each applies to the types that have it.",
    )
    group.add_argument("--config", dest="feat_config", metavar="FILE",
                       help="feature options: a Kaldi .conf (--num-mel-bins=80 lines) or a YAML preset")
    for name, typ in sorted(_all_feature_fields().items()):
        group.add_argument(f"--{name.replace('_', '-')}", dest=f"feat_{name}", type=_converter(typ), default=None,
                           metavar=typ.__name__.upper())


def _signal_plugin(kind: str, help_text: str, add_args: bool) -> ExtractorPlugin:
    return ExtractorPlugin(
        name=kind, help=help_text,
        build=lambda args: SignalFeatureExtractor(build_signal_config(kind, args), device=getattr(args, "device", "cpu")),
        add_arguments=_add_signal_arguments if add_args else None,
    )


register_extractor(_signal_plugin("fbank", "Kaldi log mel filterbank (compute-fbank-feats)", True))
register_extractor(_signal_plugin("mfcc", "Kaldi MFCC (compute-mfcc-feats)", False))
register_extractor(_signal_plugin("logmel", "librosa-style natural-log mel spectrogram", False))


def select_plugin(args: argparse.Namespace) -> ExtractorPlugin:
    """The plug-in ``args`` asks for: one whose ``trigger`` option is set, else ``--type``."""
    plugins = extractor_plugins()
    triggered = [p for p in plugins.values() if p.trigger and getattr(args, p.trigger, None) is not None]
    if len(triggered) > 1:
        raise ConfigError(f"options of several extractors given: {', '.join(p.name for p in triggered)}")
    if triggered:
        if getattr(args, "type", None) not in (None, triggered[0].name):
            raise ConfigError(f"--{triggered[0].trigger} selects the {triggered[0].name} extractor; drop --type {args.type}")
        return triggered[0]
    kind = getattr(args, "type", None) or "fbank"
    if kind not in plugins:
        raise ConfigError(f"unknown feature type {kind!r}; choose one of {', '.join(plugins)}")
    return plugins[kind]


def build_extractor(args: argparse.Namespace) -> FeatureExtractor:
    extractor = select_plugin(args).build(args)
    if not isinstance(extractor, FeatureExtractor):
        raise FeatureError(f"extractor {extractor!r} lacks name/dim/sample_rate/frame_shift/__call__")
    return extractor
