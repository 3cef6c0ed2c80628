"""Bring a checkpoint from where it lives (URL, registry, HF hub, local foreign file) into the cache as a release.

Each ``fetch_*`` function takes one kind of reference and returns the release folder in the cache.
They share one shape (:func:`_cached`): a hit (manifest + sizes) returns at once with no network and
no write; offline mode turns a miss into an error naming the reference and the prefetch command; a
miss takes a per-reference lock, checks again (another process may have just finished), fetches,
converts once into ``releases/<id>`` and writes the manifest last, so a reference is a hit only when
everything it needs is complete.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable
from urllib.parse import urldefrag

import audiocl
from audiocl.errors import AudioclError, ConfigError, DownloadError
from audiocl.hub.cache import ModelCache, entry_key
from audiocl.hub.conversion import convert_to_release
from audiocl.hub.download import Blob, DownloadOptions, download_blob
from audiocl.hub.formats import detect_format
from audiocl.hub.hf import fetch_snapshot, parse_hf_ref
from audiocl.hub.registry import RegistryEntry, lookup
from audiocl.utils.io import atomic_write_text

OFFLINE_ENVS = ("AUDIOCL_OFFLINE", "HF_HUB_OFFLINE")


def offline() -> bool:
    """Whether ``AUDIOCL_OFFLINE`` or ``HF_HUB_OFFLINE`` is set to a true value (read at each call)."""
    return any(os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on") for name in OFFLINE_ENVS)


def _cached(ref: str, cache: ModelCache, produce: Callable[[], Path], *, network: bool,
            sha256: str | None = None, local_stat: dict | None = None) -> Path:
    hit = cache.lookup(ref, sha256=sha256, local_stat=local_stat)
    if hit is not None:
        return hit
    if network and (network == "forbidden" or offline()):
        raise DownloadError(
            f"{ref} is not in the model cache {cache.root} and "
            + ("offline mode is on (AUDIOCL_OFFLINE / HF_HUB_OFFLINE)" if offline() else
               "this rank does not download (local rank 0 fetches; it failed or used another cache)")
            + f"; prefetch it where there is network with `audiocl download {ref}` and share that cache "
            "(AUDIOCL_CACHE)")
    cache.prepare()
    with cache.lock(f"ref-{entry_key(ref)}", what=ref):
        hit = cache.lookup(ref, sha256=sha256, local_stat=local_stat)
        if hit is not None:
            return hit
        return produce()


def _release_from(cache: ModelCache, src: Path, release_id: str, ref: str, sources: list[dict],
                  extras: dict[str, Path] | None = None, fmt: str = "auto") -> tuple[Path, dict]:
    """Convert ``src`` into ``releases/<release_id>`` unless that release already exists."""
    target = cache.releases / release_id
    if (target / "model.safetensors").is_file() and (target / "config.yaml").is_file():
        info = json.loads((target / "source.json").read_text()) if (target / "source.json").is_file() else {}
        return target, info
    staging = cache.staging_dir("convert")
    try:
        out = staging / "release"
        info = convert_to_release(src, out, fmt, extras)
        info = {"ref": ref, **info, "sources": sources, "audiocl_version": audiocl.__version__,
                "converted": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        atomic_write_text(out / "source.json", json.dumps(info, indent=1, sort_keys=True) + "\n")
        return cache.add_release(out, release_id), info
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _source(url: str, blob: Blob, name: str) -> dict:
    return {"name": name, "url": url, "sha256": blob.sha256, "size": blob.size, "verified": blob.verified}


def fetch_url(ref: str, cache: ModelCache, opts: DownloadOptions, *, network: bool | str = True) -> Path:
    """An ``http(s)`` URL of a release archive (tar/zip) or a single checkpoint file.

    A ``#sha256=HEX`` fragment pins the content like ``--sha256``; the cache entry is the URL without it.
    """
    url, fragment = urldefrag(ref)
    expected = opts.sha256 or (fragment.split("=", 1)[1] if fragment.startswith("sha256=") else None)
    opts = replace(opts, sha256=expected)

    def produce() -> Path:
        name = url.rsplit("/", 1)[-1] or "download"
        blob = download_blob(url, cache, opts, label=name)
        sources = [_source(url, blob, name)]
        release, _ = _release_from(cache, blob.path, blob.sha256[:40], url, sources)
        return cache.record_release(url, release, sources)

    return _cached(url, cache, produce, network=network, sha256=expected)


def fetch_registry(entry: RegistryEntry, cache: ModelCache, opts: DownloadOptions, *,
                   network: bool | str = True) -> Path:
    """A registry name: its HF repository, or its files (checkpoint first, companions after)."""
    if entry.hf_ref:
        return fetch_hf(entry.hf_ref, cache, opts, network=network)

    def produce() -> Path:
        blobs = [download_blob(f.url, cache, replace(opts, sha256=f.sha256, size=f.size), label=f.name)
                 for f in entry.files]
        sources = [dict(_source(f.url, b, f.name), sha256_source=f.sha256_source) for f, b in zip(entry.files, blobs)]
        extras = {f.name: b.path for f, b in zip(entry.files[1:], blobs[1:])}
        release, _ = _release_from(cache, blobs[0].path, blobs[0].sha256[:40], entry.name, sources, extras,
                                   fmt=entry.format)
        return cache.record_release(entry.name, release, sources)

    return _cached(entry.name, cache, produce, network=network)


def fetch_hf(ref: str, cache: ModelCache, opts: DownloadOptions, *, network: bool | str = True) -> Path:
    """``hf:ORG/NAME[@REVISION]`` through :mod:`audiocl.hub.hf`; the fetched files end up as blobs."""
    hf_ref = parse_hf_ref(ref)
    key = str(hf_ref)

    def produce() -> Path:
        snap = fetch_snapshot(hf_ref, cache, allow_unverified=opts.allow_unverified, quiet=opts.quiet)
        try:
            weights = next(s for s in snap.sources if s["name"].endswith((".safetensors", ".bin")))
            release, _ = _release_from(cache, snap.folder, f"hf-{weights['sha256'][:37]}", key,
                                       snap.sources, fmt="hf")
            for s in snap.sources:  # keep the originals by content, as for URL downloads
                os.replace(snap.folder / s["name"], cache.blob_path(s["sha256"]))
        finally:
            shutil.rmtree(snap.folder.parent, ignore_errors=True)
        return cache.record_release(key, release, snap.sources, commit=snap.commit)

    return _cached(key, cache, produce, network=network)


def _local_stat(path: Path) -> dict:
    files = [path] if path.is_file() else sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    return {p.name: [p.stat().st_size, p.stat().st_mtime_ns] for p in files}


def fetch_local(path: Path, cache: ModelCache) -> Path:
    """A local path: audiocl releases and training checkpoints are used where they are; foreign
    checkpoints (fairseq, HF folder, torchaudio, archives) are converted once into the cache, keyed
    by path, size and modification time (a hit neither re-hashes nor re-reads the checkpoint)."""
    resolved = path.resolve()
    ref = f"local:{resolved}"
    stat = _local_stat(resolved)
    hit = cache.lookup(ref, local_stat=stat)
    if hit is not None:
        return hit
    try:
        fmt = detect_format(path)
    except AudioclError:
        if path.is_dir() or path.suffix == ".safetensors":
            return path  # an incomplete release: load_release says what is missing
        raise
    if fmt in ("release", "checkpoint"):
        return path
    path = resolved

    def produce() -> Path:
        sources = [{"path": str(path), "format": fmt}]
        release_id = f"local-{entry_key(ref + json.dumps(stat, sort_keys=True))[-16:]}"
        release, _ = _release_from(cache, path, release_id, ref, sources, fmt=fmt)
        return cache.record_release(ref, release, sources, local_stat=stat)

    return _cached(ref, cache, produce, network=False, local_stat=stat)


def fetch(ref: str, cache: ModelCache, opts: DownloadOptions, *, network: bool | str = True) -> Path:
    """Dispatch on the kind of reference; ``network="forbidden"`` makes a miss an error (DDP ranks > 0)."""
    text = str(ref).strip()
    if not text:
        raise ConfigError("empty model reference: give a release dir, a checkpoint, a URL, a registry name "
                          "(`audiocl models`) or hf:ORG/NAME@REVISION")
    if text.startswith(("http://", "https://")):
        return fetch_url(text, cache, opts, network=network)
    if text.startswith("hf:"):
        return fetch_hf(text, cache, opts, network=network)
    path = Path(text).expanduser()
    if path.exists():
        return fetch_local(path, cache)
    entry = lookup(text)
    if entry is not None:
        return fetch_registry(entry, cache, opts, network=network)
    raise ConfigError(f"model reference {text!r}: no such file or directory, and not a URL, an hf:ORG/NAME id or "
                      "a registry name (`audiocl models` lists them)")

