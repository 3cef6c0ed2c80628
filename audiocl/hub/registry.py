"""The registry of public checkpoints audiocl can name (``audiocl/hub/registry.json``).

An entry is either a list of files behind plain URLs (fairseq checkpoints, with a dictionary for the
CTC fine-tuned ones) or an HF hub repository pinned to a commit. Each file's ``sha256`` is set only
where a source states it, and ``sha256_source`` records where it (or its absence) comes from, so a
reader can tell a verified download from a trusted one. ``AUDIOCL_REGISTRY`` names an extra JSON file
of the same shape whose entries are added (and override packaged ones of the same name), for a lab's
own releases.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from audiocl.errors import ConfigError

REGISTRY_ENV = "AUDIOCL_REGISTRY"


@dataclass(frozen=True)
class RegistryFile:
    """One downloadable file of an entry; the first file of an entry is the checkpoint."""

    name: str
    url: str
    sha256: str | None = None
    size: int | None = None
    sha256_source: str = ""


@dataclass(frozen=True)
class RegistryEntry:
    name: str
    description: str
    format: str  # fairseq | hf | torchaudio | release
    licence: str = ""
    card: str = ""
    files: tuple[RegistryFile, ...] = ()
    hf_repo: str | None = None
    revision: str | None = None
    sha256_source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def hf_ref(self) -> str | None:
        """``hf:ORG/NAME@REVISION`` of an HF entry (``None`` for URL entries)."""
        if not self.hf_repo:
            return None
        return f"hf:{self.hf_repo}" + (f"@{self.revision}" if self.revision else "")

    @property
    def verified(self) -> bool:
        """Whether every file has a stated hash (HF entries are checked against the hub's own hashes)."""
        if self.hf_repo:
            return bool(self.revision)
        return all(f.sha256 for f in self.files)


def _entry(name: str, d: dict[str, Any], where: str) -> RegistryEntry:
    try:
        files = tuple(RegistryFile(name=f["name"], url=f["url"], sha256=(f.get("sha256") or None),
                                   size=f.get("size"), sha256_source=f.get("sha256_source", ""))
                      for f in d.get("files", []))
        known = {"description", "format", "licence", "card", "files", "hf_repo", "revision", "sha256_source"}
        entry = RegistryEntry(name=name, description=d.get("description", ""), format=d["format"],
                              licence=d.get("licence", ""), card=d.get("card", ""), files=files,
                              hf_repo=d.get("hf_repo"), revision=d.get("revision"),
                              sha256_source=d.get("sha256_source", ""),
                              extra={k: v for k, v in d.items() if k not in known})
    except (KeyError, TypeError) as exc:
        raise ConfigError(f"{where}: registry entry {name!r} is malformed (missing {exc})") from None
    if not entry.files and not entry.hf_repo:
        raise ConfigError(f"{where}: registry entry {name!r} has neither files nor hf_repo")
    return entry


def _read(text: str, where: str) -> dict[str, RegistryEntry]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{where}: not valid JSON ({exc})") from None
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, dict):
        raise ConfigError(f"{where}: expected an object with a 'models' mapping")
    return {name: _entry(name, d, where) for name, d in models.items()}


def load_registry() -> dict[str, RegistryEntry]:
    """Packaged entries plus those of ``$AUDIOCL_REGISTRY`` (read at each call)."""
    text = resources.files("audiocl.hub").joinpath("registry.json").read_text(encoding="utf-8")
    entries = _read(text, "audiocl/hub/registry.json")
    extra = os.environ.get(REGISTRY_ENV, "").strip()
    if extra:
        path = Path(extra).expanduser()
        try:
            entries.update(_read(path.read_text(encoding="utf-8"), str(path)))
        except OSError as exc:
            raise ConfigError(f"{REGISTRY_ENV}={extra}: cannot read it ({exc})") from None
    return entries


def lookup(name: str) -> RegistryEntry | None:
    return load_registry().get(name)
