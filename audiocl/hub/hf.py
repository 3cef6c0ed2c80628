"""HF hub references ``hf:ORG/NAME[@REVISION]``: fetch a wav2vec 2.0 repository through ``huggingface_hub``.

Only the files a conversion needs are fetched (``config.json``, the weights, the CTC vocabulary and
tokenizer files when present), ``model.safetensors`` in preference to ``pytorch_model.bin``. The
endpoint is ``AUDIOCL_HF_ENDPOINT`` or ``HF_ENDPOINT`` read at each call (``huggingface_hub`` itself
reads ``HF_ENDPOINT`` once at import), so a mirror or a test server can stand in for huggingface.co.

``huggingface_hub`` checks sizes only; here every fetched file is hashed and compared with the hub's
ETag: the sha256 of an LFS file, the git blob id (sha1 of ``blob <size>\\0<bytes>``) of a small one.
A revision that is not a 40-hex commit id is a moving target, so it needs ``allow_unverified``, and
the commit it resolved to is printed for pinning.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from audiocl.errors import ChecksumError, ConfigError, DownloadError
from audiocl.hub.cache import ModelCache, sha256_file

ENDPOINT_ENVS = ("AUDIOCL_HF_ENDPOINT", "HF_ENDPOINT")
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
REQUIRED_FILES = ("config.json",)
OPTIONAL_FILES = ("vocab.json", "tokenizer_config.json", "special_tokens_map.json", "preprocessor_config.json")
_COMMIT = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class HfRef:
    repo_id: str
    revision: str | None = None

    @property
    def pinned(self) -> bool:
        return bool(self.revision and _COMMIT.fullmatch(self.revision))

    def __str__(self) -> str:
        return f"hf:{self.repo_id}" + (f"@{self.revision}" if self.revision else "")


def parse_hf_ref(text: str) -> HfRef:
    """``hf:ORG/NAME[@REVISION]`` -> :class:`HfRef`; anything else is a :class:`ConfigError`."""
    m = re.fullmatch(r"hf:([A-Za-z0-9][\w.-]*/[\w.-]+)(?:@([\w./-]+))?", text.strip())
    if not m:
        raise ConfigError(f"{text!r}: an HF hub reference is hf:ORG/NAME or hf:ORG/NAME@REVISION")
    return HfRef(m.group(1), m.group(2))


def endpoint() -> str | None:
    for name in ENDPOINT_ENVS:
        value = os.environ.get(name, "").strip()
        if value:
            return value.rstrip("/")
    return None


def git_blob_sha1(path: Path) -> str:
    """The git object id of a file, which is what the hub sends as ETag for files not in LFS."""
    digest = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())  # noqa: S324 - git's id, not security
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class HfSnapshot:
    folder: Path          # an HF transformers folder (config.json + weights + vocab files)
    commit: str
    sources: list[dict]   # one record per file: name, url, sha256, size, etag, verified


def _check_etag(path: Path, etag: str | None, what: str) -> tuple[str, bool]:
    sha = sha256_file(path)
    tag = (etag or "").lower()
    if re.fullmatch(r"[0-9a-f]{64}", tag):
        if sha != tag:
            raise ChecksumError(f"{what}: sha256 {sha} does not match the hub's {tag}; deleted it, nothing was cached")
        return sha, True
    if _COMMIT.fullmatch(tag):
        if git_blob_sha1(path) != tag:
            raise ChecksumError(f"{what}: git blob id does not match the hub's ETag {tag}; deleted it, nothing was cached")
        return sha, True
    return sha, False


class _SilentBar(tqdm):
    """huggingface_hub's progress bars, switched off (``--quiet``, or stderr not a terminal)."""

    def __init__(self, *args, **kwargs):
        kwargs["disable"] = True
        super().__init__(*args, **kwargs)


def fetch_snapshot(ref: HfRef, cache: ModelCache, *, allow_unverified: bool = False,
                   quiet: bool = False) -> HfSnapshot:
    """Download the files of ``ref`` into a staging folder of ``cache`` and verify each one."""
    # huggingface_hub is imported only when an hf: reference misses the cache (it is slow to import)
    from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url
    from huggingface_hub.errors import EntryNotFoundError

    if not ref.pinned and not allow_unverified:
        raise DownloadError(f"{ref}: not pinned to a commit; use {ref.repo_id}@<40-hex commit>, or "
                            "--allow-unverified to take the current one (its commit id is printed)")
    ep = endpoint()
    show_progress = not quiet and sys.stderr.isatty()
    revision = ref.revision or "main"
    cache.prepare()
    staging = cache.staging_dir("hf")
    folder = staging / "repo"
    commit: str | None = ref.revision if ref.pinned else None
    sources: list[dict] = []

    def fetch(name: str, required: bool) -> bool:
        nonlocal commit
        url = hf_hub_url(ref.repo_id, name, revision=commit or revision, endpoint=ep)
        try:
            meta = get_hf_file_metadata(url, endpoint=ep)
            if meta.commit_hash and commit and meta.commit_hash != commit:
                raise DownloadError(f"{ref}: the hub answered commit {meta.commit_hash} for {commit}")
            commit = commit or meta.commit_hash
            local = Path(hf_hub_download(ref.repo_id, name, revision=commit or revision, endpoint=ep,
                                         local_dir=folder, tqdm_class=None if show_progress else _SilentBar))
        except EntryNotFoundError:
            if required:
                raise DownloadError(f"{ref}: the repository has no {name}") from None
            return False
        except (OSError, ValueError) as exc:  # HTTP errors, connection errors, bad repo ids
            raise DownloadError(f"{ref}: fetching {name} failed ({type(exc).__name__}: {exc})") from None
        sha, verified = _check_etag(local, meta.etag, f"{ref} {name}")
        if not verified and not allow_unverified:
            raise DownloadError(f"{ref} {name}: the hub sent no usable hash (ETag {meta.etag!r}); "
                                "use --allow-unverified to accept it")
        sources.append({"name": name, "url": url, "sha256": sha, "size": local.stat().st_size,
                        "etag": meta.etag, "verified": verified})
        return True

    try:
        if not any(fetch(name, required=False) for name in WEIGHT_FILES):
            raise DownloadError(f"{ref}: the repository has neither {' nor '.join(WEIGHT_FILES)}")
        for name in REQUIRED_FILES:
            fetch(name, required=True)
        for name in OPTIONAL_FILES:
            fetch(name, required=False)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if not ref.pinned:
        print(f"audiocl: {ref} resolved to commit {commit}; pin it with hf:{ref.repo_id}@{commit}", file=sys.stderr)
    return HfSnapshot(folder, str(commit), sources)
