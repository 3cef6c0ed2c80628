"""One mechanism for every checkpoint converter: an ordered table of ``(pattern, replacement)`` rows.

A foreign state dict (fairseq, HF transformers, torchaudio) differs from audiocl's in names, in the
split q/k/v projections, and in a few shapes. Writing that as one regex ladder per format made the
formats drift apart; as data, each format is a short table that reads like its key mapping, and the
shared parts live here once:

- a row's ``pattern`` must match the whole key (after ``strip_prefixes``); the first matching row wins;
- ``replacement`` is a ``re`` template; ``{enc}`` stands for the encoder prefix of the target
  (``wav2vec2.`` for the pretraining model, nothing for the encoder-only model);
- ``kind``: ``rename`` (default), ``qkv`` (group ``qkv_group`` names the part ``q``/``k``/``v``; the
  three are concatenated into audiocl's fused projection) or ``extra`` (kept aside for the caller, e.g.
  a CTC head audiocl's upstream has no place for);
- ``pretraining_only`` rows (quantizer, projection heads) are dropped for the encoder-only target;
- ``transform`` changes a value's shape (codevector layouts);
- a key no row matches is an error naming the format and the keys, so nothing is dropped silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import torch
from torch import Tensor

from audiocl.errors import ConfigError

TARGETS = ("pretraining", "model")


@dataclass(frozen=True)
class Rule:
    pattern: str
    replacement: str = ""
    kind: str = "rename"
    pretraining_only: bool = False
    qkv_group: int = 0
    transform: Callable[[Tensor], Tensor] | None = None


def encoder_prefix(target: str) -> str:
    """Where the encoder sits in the target model: ``wav2vec2.`` inside the pretraining model."""
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    return "wav2vec2." if target == "pretraining" else ""


def _strip(key: str, prefixes: Sequence[str]) -> str:
    for prefix in prefixes:
        if key.startswith(prefix):
            return key[len(prefix):]
    return key


def apply_rename_table(sd: Mapping[str, Tensor], rules: Sequence[Rule], *, source: str, target: str = "pretraining",
                       strip_prefixes: Sequence[str] = ()) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """Rename ``sd`` by ``rules``; returns ``(state, extra)``.

    Unknown keys and incomplete q/k/v triples raise :class:`ConfigError` naming ``source``.
    """
    enc = encoder_prefix(target)
    compiled = [(re.compile(r.pattern), r) for r in rules]
    out: dict[str, Tensor] = {}
    extra: dict[str, Tensor] = {}
    qkv: dict[str, dict[str, Tensor]] = {}
    unknown: list[str] = []
    for key, value in sd.items():
        k = _strip(key, strip_prefixes)
        for regex, rule in compiled:
            m = regex.fullmatch(k)
            if m is None:
                continue
            if rule.pretraining_only and target != "pretraining":
                break
            name = m.expand(rule.replacement.replace("{enc}", enc))
            if rule.kind == "extra":
                extra[name] = value
            elif rule.kind == "qkv":
                qkv.setdefault(name, {})[m.group(rule.qkv_group)] = value
            else:
                out[name] = rule.transform(value) if rule.transform else value
            break
        else:
            unknown.append(key)
    if unknown:
        raise ConfigError(f"{source} checkpoint has keys audiocl cannot map: {', '.join(unknown[:10])}"
                          + (" ..." if len(unknown) > 10 else ""))
    for name, parts in qkv.items():
        if set(parts) != {"q", "k", "v"}:
            raise ConfigError(f"{source} checkpoint: incomplete q/k/v for {name} (have {sorted(parts)})")
        out[name] = torch.cat([parts["q"], parts["k"], parts["v"]], dim=0)
    return out, extra


def flatten_codevectors(value: Tensor) -> Tensor:
    """``(1, G*V, d)`` or ``(G, V, d)`` -> ``(G*V, d)``; :func:`fit_codevectors` restores the groups."""
    return value.reshape(-1, value.shape[-1])


def fit_codevectors(state: dict[str, Tensor], num_groups: int) -> dict[str, Tensor]:
    """Reshape ``quantizer.codevectors`` from ``(G*V, d)`` to audiocl's ``(G, V, d)``."""
    cv = state.get("quantizer.codevectors")
    if cv is not None and cv.dim() == 2:
        state["quantizer.codevectors"] = cv.reshape(num_groups, cv.shape[0] // num_groups, cv.shape[1])
    return state


def weight_norm_rules(source_prefix: str, target: str) -> list[Rule]:
    """The positional convolution's weight norm, stored as ``weight_g``/``weight_v`` or, by newer torch,
    as ``parametrizations.weight.original0/1``."""
    return [
        Rule(source_prefix + r"\.(weight_g|weight_v|bias)", target + r".\1"),
        Rule(source_prefix + r"\.parametrizations\.weight\.original0", target + ".weight_g"),
        Rule(source_prefix + r"\.parametrizations\.weight\.original1", target + ".weight_v"),
    ]


def transformer_layer_rules(source_layers: str, source_attention: str, renames: Mapping[str, str]) -> list[Rule]:
    """Rows for the transformer blocks: the split q/k/v of ``source_attention`` fused into audiocl's
    ``attention.qkv``, and ``renames`` (source sub-module -> audiocl sub-module) for the rest."""
    block = source_layers + r"\.(\d+)\."
    rows = [Rule(block + source_attention + r"\.([qkv])_proj\.(weight|bias)",
                 r"{enc}encoder.layers.\1.attention.qkv.\3", kind="qkv", qkv_group=2)]
    rows += [Rule(block + re.escape(src) + r"\.(weight|bias)", r"{enc}encoder.layers.\1." + dst + r".\2")
             for src, dst in renames.items()]
    return rows
