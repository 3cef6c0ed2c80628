"""The plug-in point of feature extraction: what turns a batch of waveforms into feature matrices.

An *extractor* is any object with

* ``name: str``, ``dim: int``, ``sample_rate: int`` (the rate the waveforms are read at),
  ``frame_shift: float`` (seconds per output frame),
* ``__call__(wavs: list[np.ndarray]) -> list[np.ndarray]``: float32 waveforms in [-1, 1] in, one
  ``(frames, dim)`` float32 array per waveform out (0 frames = too short; listed as a bad input).

An extractor is described by a *feature config*, a typed, picklable dataclass: one of the signal
configs (:class:`~audiocl.features.config.FbankConfig`, ``MfccConfig``, ``LogMelConfig``) or any
dataclass with a ``build_extractor(device) -> extractor`` method. :func:`build_extractor` turns a
config into its extractor; parallel jobs receive the config and build their own extractor there, so
``build_extractor`` may load weights onto ``device``.

An *extractor plug-in* (:class:`ExtractorPlugin`) names such a config class so that ``audiocl
extract`` offers it: every field of the class becomes a command-line option (``--field-name``; a
field's ``metadata`` may hold ``help`` and ``metavar``). Built in: ``fbank``, ``mfcc``, ``logmel``.
Features from a pretrained model register themselves like this::

    @dataclass
    class ModelFeatureConfig:
        model: str | None = field(default=None, metadata={"help": "checkpoint", "metavar": "CKPT"})
        layer: str = "-1"

        def build_extractor(self, device: str = "cpu"):
            return MyModelExtractor(self.model, self.layer, device=device)

    register_extractor(ExtractorPlugin(name="model", help="hidden states of a pretrained model",
                                       config_class=ModelFeatureConfig, trigger="model"))

(``trigger``: setting ``--model`` alone selects the plug-in, no ``--type model`` needed). The CLI
imports the module that registers it; this package never imports upward to find plug-ins.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Protocol, runtime_checkable

import numpy as np

from audiocl.config import config_to_dict, resolve_config
from audiocl.errors import ConfigError, FeatureError
from audiocl.features.config import FEATURE_CONFIGS, LogMelConfig


@runtime_checkable
class FeatureExtractor(Protocol):
    name: str
    dim: int
    sample_rate: int
    frame_shift: float

    def __call__(self, wavs: list[np.ndarray]) -> list[np.ndarray]: ...


@dataclass(frozen=True)
class ExtractorPlugin:
    """How ``audiocl extract`` offers one kind of extractor (see the module docstring)."""

    name: str
    help: str
    config_class: type  # a dataclass: a signal config, or one with build_extractor(device)
    trigger: str | None = None  # a field of config_class whose being set selects this plug-in


_REGISTRY: dict[str, ExtractorPlugin] = {}


def register_extractor(plugin: ExtractorPlugin) -> ExtractorPlugin:
    if plugin.name in _REGISTRY and _REGISTRY[plugin.name] != plugin:
        raise ValueError(f"an extractor plug-in named {plugin.name!r} is already registered")
    if not dataclasses.is_dataclass(plugin.config_class):
        raise TypeError(f"extractor plug-in {plugin.name!r}: config_class must be a dataclass")
    _REGISTRY[plugin.name] = plugin
    return plugin


def extractor_plugins() -> dict[str, ExtractorPlugin]:
    """All registered plug-ins, by name."""
    return dict(_REGISTRY)


def is_signal_config(config) -> bool:
    """Whether ``config`` (an instance or a class) is one of the built-in fbank / mfcc / logmel configs."""
    return (config if isinstance(config, type) else type(config)) in FEATURE_CONFIGS.values()


def plugin_name(config) -> str:
    """The name of the plug-in whose config class ``config`` is (recorded in ``feature_info.yaml``)."""
    for plugin in _REGISTRY.values():
        if type(config) is plugin.config_class:
            return plugin.name
    return type(config).__name__


def build_extractor(config, device: str = "cpu") -> FeatureExtractor:
    """The extractor a feature config describes, on ``device``."""
    if is_signal_config(config):
        extractor = SignalFeatureExtractor(config, device=device)
    elif callable(getattr(config, "build_extractor", None)):
        extractor = config.build_extractor(device)
    else:
        raise FeatureError(f"{config!r} is neither a signal feature config nor has build_extractor(device)")
    if not isinstance(extractor, FeatureExtractor):
        raise FeatureError(f"extractor {extractor!r} lacks name/dim/sample_rate/frame_shift/__call__")
    return extractor


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


def field_types(cls) -> dict[str, type]:
    """``{field: type}`` of a config dataclass; ``X | None`` counts as ``X``, anything unusual as ``str``."""
    import typing

    hints = typing.get_type_hints(cls)
    out: dict[str, type] = {}
    for f in dataclasses.fields(cls):
        typ = hints.get(f.name, str)
        args = [a for a in typing.get_args(typ) if a is not type(None)]
        if args:
            typ = args[0] if len(args) == 1 else str
        out[f.name] = typ if typ in (int, float, bool, str) else str
    return out


# Options that are set from general settings (the read sample rate) instead of per-field ones.
_GENERAL_FIELDS = {"sample_frequency", "sample_rate"}


def signal_option_types() -> dict[str, type]:
    """Every option of the signal configs but the sample rate (each applies to the types that have it)."""
    fields: dict[str, type] = {}
    for cls in FEATURE_CONFIGS.values():
        for name, typ in field_types(cls).items():
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


def _config_file_values(kind: str, conf: str | Path) -> dict[str, object]:
    """Values of a ``--config`` file: a Kaldi ``.conf`` (``--opt=value`` lines) or a YAML preset."""
    cls = FEATURE_CONFIGS[kind]
    types = field_types(cls)
    text = Path(conf).read_text(encoding="utf-8") if Path(conf).is_file() else ""
    if not (text.lstrip().startswith("--") or Path(conf).suffix == ".conf"):
        return config_to_dict(resolve_config(cls, presets=[str(conf)]))
    values: dict[str, object] = {}
    for key, value in parse_kaldi_conf(conf).items():
        if key not in types:
            raise ConfigError(f"{conf}: option --{key.replace('_', '-')} does not exist for {kind}")
        try:
            values[key] = parse_bool(value) if types[key] is bool else types[key](value)
        except ValueError as exc:
            raise ConfigError(f"{conf}: --{key.replace('_', '-')}={value}: {exc}") from None
    return values


def signal_config(kind: str, options: Mapping[str, object] | None = None, config_file: str | Path | None = None,
                  sample_rate: int | None = None):
    """A checked fbank / mfcc / logmel config: dataclass defaults < ``config_file`` < ``options`` < ``sample_rate``.

    ``options`` are field values by name (an option of another type is an error, so a misspelt or
    misplaced option never passes silently); ``config_file`` a Kaldi ``.conf`` or a YAML preset.
    """
    if kind not in FEATURE_CONFIGS:
        raise ConfigError(f"unknown signal feature type {kind!r}; choose one of {', '.join(FEATURE_CONFIGS)}")
    cls = FEATURE_CONFIGS[kind]
    types = field_types(cls)
    values: dict[str, object] = dict(_config_file_values(kind, config_file)) if config_file else {}
    for name, value in (options or {}).items():
        if name not in types:
            raise ConfigError(f"option --{name.replace('_', '-')} does not apply to --type {kind}")
        values[name] = value
    if sample_rate:
        values["sample_rate" if kind == "logmel" else "sample_frequency"] = (
            int(sample_rate) if kind == "logmel" else float(sample_rate))
    try:
        cfg = cls(**values)
        cfg.check()
    except TypeError as exc:
        raise ConfigError(f"bad {kind} options: {exc}") from None
    return cfg


register_extractor(ExtractorPlugin("fbank", "Kaldi log mel filterbank (compute-fbank-feats)", FEATURE_CONFIGS["fbank"]))
register_extractor(ExtractorPlugin("mfcc", "Kaldi MFCC (compute-mfcc-feats)", FEATURE_CONFIGS["mfcc"]))
register_extractor(ExtractorPlugin("logmel", "librosa-style natural-log mel spectrogram", FEATURE_CONFIGS["logmel"]))
