"""Turn a checkpoint of any supported format into an audiocl release folder, once.

The release holds ``model.safetensors`` + ``config.yaml`` (what :func:`audiocl.hub.release.load_release`
reads), plus what a foreign checkpoint carries beyond the pretraining model: a CTC head as
``ctc_head.safetensors`` (``weight``/``bias``), the vocabulary (HF ``vocab.json`` and tokenizer
files, fairseq ``dict.*.txt``) and ``conversion.json`` naming the parameters that were not in the
source. A fine-tuned checkpoint has no quantizer or contrastive heads; those are freshly initialised
(seed 0) and listed there, so fine-tuning and feature extraction, which never use them, are exact
and nobody mistakes them for pretrained weights.

The key mappings are the converters' (:mod:`audiocl.hub.convert_fairseq`, :mod:`~audiocl.hub.convert_hf`,
:mod:`~audiocl.hub.convert_torchaudio`); this module only reads files and writes the release.
"""

from __future__ import annotations

import json
import shutil
import tarfile
import zipfile
from pathlib import Path
from typing import Any, Mapping

import torch
from safetensors.torch import load_file, save_file

from audiocl import models
from audiocl.config import config_to_dict
from audiocl.errors import AudioclError, ConfigError
from audiocl.hub.convert_fairseq import load_fairseq_checkpoint
from audiocl.hub.convert_hf import config_from_hf, convert_hf_state_dict, fit_codevectors
from audiocl.hub.convert_torchaudio import config_from_torchaudio, convert_torchaudio_state_dict
from audiocl.hub.formats import detect_format, is_zip, load_weights_only
from audiocl.hub.release import export_checkpoint, save_release
from audiocl.utils.io import atomic_write_text

VOCAB_FILES = ("vocab.json", "tokenizer_config.json", "special_tokens_map.json", "preprocessor_config.json",
               "dict.ltr.txt", "dict.txt")
RELEASE_FILES = ("model.safetensors", "config.yaml", "ctc_head.safetensors", "conversion.json") + VOCAB_FILES
_STANDARD_STRIDE = {10: 5, 8: 4, 4: 2, 3: 2, 2: 2}


def _write_wav2vec2_release(cfg, state: Mapping[str, Any], head: Mapping[str, Any], out: Path,
                            vocab: Mapping[str, Path], source_format: str) -> None:
    torch.manual_seed(0)
    model = models.build("wav2vec2", cfg)
    fresh = model.state_dict()
    unknown = sorted(set(state) - set(fresh))
    if unknown:
        raise ConfigError(f"converted {source_format} weights have keys the audiocl model lacks: {unknown[:8]}")
    full = {k: state.get(k, v) for k, v in fresh.items()}
    initialised = sorted(k for k in fresh if k not in state and not k.startswith("objective."))
    try:
        model.load_state_dict(full, strict=True)
    except RuntimeError as exc:
        raise ConfigError(f"{source_format} weights do not fit the config read with them: {str(exc)[-300:]}") from None
    save_release(model, {"ssl_type": "wav2vec2", "model": config_to_dict(cfg)}, out)
    if head:
        save_file({k: v.detach().contiguous().clone() for k, v in head.items()}, str(out / "ctc_head.safetensors"))
    for name, f in vocab.items():
        shutil.copyfile(f, out / name)
    atomic_write_text(out / "conversion.json", json.dumps(
        {"source_format": source_format, "initialised": initialised, "ctc_head": sorted(head)}, indent=1) + "\n")


def _hf_head_and_state(folder: Path):
    """``(cfg, pretraining state, lm_head)`` of an HF wav2vec 2.0 folder (safetensors preferred)."""
    cfg = config_from_hf(json.loads((folder / "config.json").read_text(encoding="utf-8")))
    if (folder / "model.safetensors").is_file():
        sd = load_file(str(folder / "model.safetensors"))
    else:
        sd = load_weights_only(folder / "pytorch_model.bin")
    head = {k[len("lm_head."):]: v for k, v in sd.items() if k.startswith("lm_head.")}
    body = {k: v for k, v in sd.items() if not k.startswith("lm_head.")}
    return cfg, fit_codevectors(convert_hf_state_dict(body, "pretraining"), cfg.latent_groups), head


def infer_torchaudio_config(sd: Mapping[str, Any]) -> dict[str, Any]:
    """``wav2vec2_model`` arguments from a torchaudio state dict's shapes.

    Strides and heads are not stored in the weights: strides follow the wav2vec 2.0 conv layout
    (kernel 10 -> stride 5, 3 -> 2, 2 -> 2), heads are ``dim // 64``, and the pre-LN ("stable") layout
    goes with the layer-norm extractor, as in every published wav2vec 2.0 model. A sidecar JSON of the
    real arguments (``audiocl convert --from torchaudio SRC DST`` reads ``SRC.json``) overrides this.
    """
    conv, i = [], 0
    while f"feature_extractor.conv_layers.{i}.conv.weight" in sd:
        w = sd[f"feature_extractor.conv_layers.{i}.conv.weight"]
        conv.append((int(w.shape[0]), int(w.shape[2]), _STANDARD_STRIDE.get(int(w.shape[2]), 2)))
        i += 1
    layer_norm = "feature_extractor.conv_layers.1.layer_norm.weight" in sd
    layers = len({k.split(".")[3] for k in sd if k.startswith("encoder.transformer.layers.")})
    dim = int(sd["encoder.feature_projection.projection.weight"].shape[0])
    pre = "encoder.transformer.pos_conv_embed.conv."
    pos = sd.get(pre + "weight_v", sd.get(pre + "parametrizations.weight.original1"))
    if pos is None:
        raise ConfigError("torchaudio state dict has no positional convolution weights; give SRC.json with "
                          "the wav2vec2_model arguments")
    return dict(
        extractor_mode="layer_norm" if layer_norm else "group_norm", extractor_conv_layer_config=conv,
        extractor_conv_bias="feature_extractor.conv_layers.0.conv.bias" in sd,
        encoder_embed_dim=dim, encoder_num_layers=layers, encoder_num_heads=max(1, dim // 64),
        encoder_ff_interm_features=int(sd["encoder.transformer.layers.0.feed_forward.intermediate_dense.weight"].shape[0]),
        encoder_layer_norm_first=layer_norm,
        encoder_pos_conv_kernel=int(pos.shape[2]), encoder_pos_conv_groups=dim // int(pos.shape[1]),
    )


def _vocab_beside(src: Path, extras: Mapping[str, Path]) -> dict[str, Path]:
    """Vocabulary files by name: the companions passed in, else those lying beside (or in) ``src``."""
    base = src if src.is_dir() else src.parent
    found = {n: base / n for n in VOCAB_FILES if (base / n).is_file()}
    found.update({name: p for name, p in extras.items() if name in VOCAB_FILES})
    return found


def extract_archive(archive: Path, dest: Path) -> Path:
    """Unpack a tar/zip release or HF folder safely (no absolute paths, no ``..``, no links); returns its root."""
    dest.mkdir(parents=True, exist_ok=True)
    if is_zip(archive):
        with zipfile.ZipFile(archive) as zf:
            for name in zf.namelist():
                if name.startswith("/") or ".." in Path(name).parts:
                    raise AudioclError(f"{archive}: refusing archive member {name!r} outside the folder")
            zf.extractall(dest)
    else:
        with tarfile.open(archive) as tf:
            try:
                tf.extractall(dest, filter="data")
            except tarfile.FilterError as exc:
                raise AudioclError(f"{archive}: refusing unsafe archive member ({exc})") from None
    entries = [p for p in dest.iterdir() if not p.name.startswith(".")]
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else dest


def convert_to_release(src: str | Path, out: str | Path, fmt: str = "auto",
                       extras: Mapping[str, Path] | None = None) -> dict[str, Any]:
    """Write the release of ``src`` into the new folder ``out``; returns ``{"format": ...}`` and what was done.

    ``extras`` are companion files by name (a fairseq ``dict.ltr.txt`` fetched beside the checkpoint).
    """
    src, out, extras = Path(src), Path(out), dict(extras or {})
    if fmt == "auto":
        fmt = detect_format(src)
    out.mkdir(parents=True, exist_ok=True)
    if fmt == "archive":
        root = extract_archive(src, out.parent / (out.name + ".unpacked"))
        try:
            inner = convert_to_release(root, out, "auto", extras)
        finally:
            shutil.rmtree(out.parent / (out.name + ".unpacked"), ignore_errors=True)
        return {**inner, "archive": True}
    if fmt == "release":
        root = src if src.is_dir() else src.parent
        for name in RELEASE_FILES:
            if (root / name).is_file():
                shutil.copyfile(root / name, out / name)
    elif fmt == "checkpoint":
        export_checkpoint(src, out)
    elif fmt == "fairseq":
        cfg, state, extra = load_fairseq_checkpoint(src, target="pretraining")
        head = {k.removeprefix("proj."): v for k, v in extra.items()}  # w2v_encoder.proj: the CTC head
        _write_wav2vec2_release(cfg, state, head, out, _vocab_beside(src, extras), "fairseq")
    elif fmt == "hf":
        cfg, state, head = _hf_head_and_state(src)
        _write_wav2vec2_release(cfg, state, head, out, _vocab_beside(src, extras), "hf")
    elif fmt == "torchaudio":
        sd = load_weights_only(src)
        sidecar = src.with_suffix(".json")
        kwargs = json.loads(sidecar.read_text(encoding="utf-8")) if sidecar.is_file() else infer_torchaudio_config(sd)
        cfg = config_from_torchaudio(**kwargs)
        enc, head = convert_torchaudio_state_dict(sd)
        state = {f"wav2vec2.{k}": v for k, v in enc.items()}
        _write_wav2vec2_release(cfg, state, head, out, _vocab_beside(src, extras), "torchaudio")
    else:
        raise ConfigError(f"unknown checkpoint format {fmt!r}; choose one of auto, fairseq, hf, torchaudio, release")
    return {"format": fmt}
