"""Downloading a served release: verified, cached, resumed, restarted, never trusted half-done."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest
import torch

from audiocl.errors import AudioclError, ChecksumError, DownloadError
from audiocl.hub import from_pretrained, resolve
from audiocl.hub.cache import ModelCache
from audiocl.hub.download import DownloadOptions


def _opts(data: bytes | None = None, **kw) -> DownloadOptions:
    base = dict(sha256=hashlib.sha256(data).hexdigest() if data is not None else None, backoff=0.0, quiet=True)
    return DownloadOptions(**{**base, **kw})


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(root.rglob("*"))}


def _no_partials(root: Path) -> bool:
    return not list((root / "tmp").glob("*.partial")) if (root / "tmp").is_dir() else True


def test_download_caches_and_second_call_makes_no_request(server, hub_env, tiny_release, capsys):
    src, tar = tiny_release
    server.files["/rel/tiny.tar.gz"] = tar
    url = server.url + "/rel/tiny.tar.gz"
    path = resolve(url, _opts(tar, quiet=False, progress=True))
    assert "100%" in capsys.readouterr().err  # the progress bar ran to the end
    assert (path / "model.safetensors").read_bytes() == (src / "model.safetensors").read_bytes()
    assert (path / "source.json").is_file() and (hub_env / "CACHEDIR.TAG").is_file()
    assert path.is_relative_to(hub_env) and not any(p.is_symlink() for p in hub_env.rglob("*"))
    n = len(server.requests)
    assert n == 1
    model, info = from_pretrained(url, options=_opts(tar))
    assert len(server.requests) == n and info.ssl_type == "wav2vec2"
    # the URL with a #sha256= fragment and the plain URL name the same cache entry
    assert resolve(f"{url}#sha256={hashlib.sha256(tar).hexdigest()}") == path and len(server.requests) == n
    wav = torch.randn(1, 3000)
    from audiocl.hub.release import load_release

    expected, _ = load_release(src)
    with torch.no_grad():
        a, _ = model.extract_layers(wav)
        b, _ = expected.extract_layers(wav)
    assert all(torch.equal(x, y) for x, y in zip(a, b))


def test_wrong_sha256_is_refused_and_nothing_is_cached(server, hub_env, tiny_release):
    _, tar = tiny_release
    server.files["/tiny.tar.gz"] = tar
    with pytest.raises(ChecksumError, match="deleted the download, nothing was cached"):
        resolve(server.url + "/tiny.tar.gz", _opts(sha256="0" * 64))
    assert not list((hub_env / "blobs").iterdir()) and not list((hub_env / "entries").iterdir())
    assert _no_partials(hub_env)
    assert ModelCache(hub_env).lookup(server.url + "/tiny.tar.gz") is None


def test_unverified_needs_the_flag_and_prints_the_hash(server, hub_env, tiny_release, capsys):
    _, tar = tiny_release
    server.files["/t.tar.gz"] = tar
    with pytest.raises(DownloadError, match="--allow-unverified"):
        resolve(server.url + "/t.tar.gz")
    assert server.requests == []
    resolve(server.url + "/t.tar.gz", _opts(allow_unverified=True))
    assert f"--sha256 {hashlib.sha256(tar).hexdigest()}" in capsys.readouterr().err
    resolve(server.url + "/t.tar.gz")  # prefetched once: later plain calls are cache hits
    assert len(server.gets()) == 1


def test_cut_transfer_resumes_with_range_206(server, hub_env, tiny_release):
    _, tar = tiny_release
    server.files["/t.tar.gz"] = tar
    server.drop_after["/t.tar.gz"] = len(tar) // 3
    path = resolve(server.url + "/t.tar.gz", _opts(tar, retries=1))
    gets = server.gets("/t.tar.gz")
    assert [g.range for g in gets] == [None, f"bytes={len(tar) // 3}-"]
    assert (path / "model.safetensors").is_file()


def test_cut_transfer_is_never_a_hit_and_a_later_run_resumes(server, hub_env, tiny_release):
    _, tar = tiny_release
    url = server.url + "/t.tar.gz"
    server.files["/t.tar.gz"] = tar
    server.drop_after["/t.tar.gz"] = 5000
    with pytest.raises(DownloadError, match="next run resumes"):
        resolve(url, _opts(tar, retries=0))
    cache = ModelCache(hub_env)
    assert cache.lookup(url) is None and not list(cache.blobs.iterdir())
    assert [p.stat().st_size for p in cache.tmp.glob("*.partial")] == [5000]
    resolve(url, _opts(tar, retries=0))
    assert server.gets()[-1].range == "bytes=5000-"
    assert cache.has_blob(hashlib.sha256(tar).hexdigest(), len(tar)) and _no_partials(hub_env)


def test_server_ignoring_range_restarts_cleanly(server, hub_env, tiny_release):
    _, tar = tiny_release
    server.files["/t.tar.gz"] = tar
    server.drop_after["/t.tar.gz"] = 7000
    server.honour_range = False
    path = resolve(server.url + "/t.tar.gz", _opts(tar, retries=1))
    assert [g.range for g in server.gets()] == [None, "bytes=7000-"]  # asked to resume, got 200: restarted
    blob = ModelCache(hub_env).blob_path(hashlib.sha256(tar).hexdigest())
    assert blob.read_bytes() == tar and (path / "config.yaml").is_file()


def test_truncated_cache_file_is_not_a_hit(server, hub_env, tiny_release):
    _, tar = tiny_release
    url = server.url + "/t.tar.gz"
    server.files["/t.tar.gz"] = tar
    path = resolve(url, _opts(tar))
    weights = path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])  # a disk error / killed copy truncated the file
    cache = ModelCache(hub_env)
    assert cache.lookup(url) is None
    assert cache.verify()  # the explicit re-hash names it too
    os.remove(cache.blob_path(hashlib.sha256(tar).hexdigest()))
    import shutil

    shutil.rmtree(path)
    again = resolve(url, _opts(tar))
    assert again == path and len(server.gets()) == 2 and cache.verify() == []


def test_offline_hit_makes_no_request_and_miss_names_the_prefetch_command(server, hub_env, tiny_release,
                                                                          monkeypatch):
    _, tar = tiny_release
    server.files["/t.tar.gz"] = tar
    url = server.url + "/t.tar.gz"
    resolve(url, _opts(tar))
    n = len(server.requests)
    monkeypatch.setenv("AUDIOCL_OFFLINE", "1")
    assert resolve(url, _opts(tar)).is_dir()
    assert len(server.requests) == n
    monkeypatch.delenv("AUDIOCL_OFFLINE")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # read at each call, not at import
    with pytest.raises(DownloadError, match=r"offline mode.*audiocl download .*other\.tar\.gz"):
        resolve(server.url + "/other.tar.gz", _opts(tar))
    assert len(server.requests) == n


def test_read_only_cache_hit_writes_nothing(server, hub_env, tiny_release):
    _, tar = tiny_release
    url = server.url + "/t.tar.gz"
    server.files["/t.tar.gz"] = tar
    path = resolve(url, _opts(tar))
    before = _tree(hub_env)
    modes = {p: p.stat().st_mode for p in [hub_env, *hub_env.rglob("*")]}
    try:
        for p in modes:
            p.chmod(stat.S_IMODE(modes[p]) & ~0o222)
        assert resolve(url, _opts(tar)) == path
        model, _ = from_pretrained(url)
    finally:
        for p, mode in modes.items():
            p.chmod(stat.S_IMODE(mode))
    assert _tree(hub_env) == before  # no lock file, no manifest rewrite, no mtime change


def test_disk_space_refusal(server, hub_env, tiny_release, monkeypatch):
    _, tar = tiny_release
    server.files["/t.tar.gz"] = tar
    monkeypatch.setattr("audiocl.hub.download.free_bytes", lambda path: 1000)
    with pytest.raises(DownloadError, match="not enough free space"):
        resolve(server.url + "/t.tar.gz", _opts(tar))
    assert not list((hub_env / "blobs").iterdir()) and ModelCache(hub_env).manifests() == []


def test_proxy_variables_are_honoured(server, hub_env, tiny_release, monkeypatch):
    _, tar = tiny_release
    server.files["http://models.example.invalid/t.tar.gz"] = tar  # a proxy sees the absolute URL
    monkeypatch.setenv("HTTP_PROXY", server.url)
    monkeypatch.setenv("http_proxy", server.url)
    path = resolve("http://models.example.invalid/t.tar.gz", _opts(tar))
    assert (path / "model.safetensors").is_file()
    assert server.gets()[0].path == "http://models.example.invalid/t.tar.gz"


def test_http_errors_are_user_errors(server, hub_env):
    with pytest.raises(DownloadError, match="HTTP 404"):
        resolve(server.url + "/missing.pt", _opts(allow_unverified=True))
    with pytest.raises(AudioclError, match="registry name"):
        resolve("no-such-model-name")


def test_cache_and_models_commands(server, hub_env, tiny_release, capsys):
    from audiocl.cli.main import main

    _, tar = tiny_release
    url = server.url + "/t.tar.gz"
    server.files["/t.tar.gz"] = tar
    assert main(["download", url, "--sha256", hashlib.sha256(tar).hexdigest(), "--quiet"]) == 0
    release = Path(capsys.readouterr().out.strip())
    assert (release / "model.safetensors").is_file()
    assert main(["cache", "ls"]) == 0 and url in capsys.readouterr().out
    assert main(["cache", "verify"]) == 0
    (release / "config.yaml").write_text((release / "config.yaml").read_text() + "# edited\n")
    assert main(["cache", "verify"]) == 1 and "does not match" in capsys.readouterr().err
    assert main(["cache", "rm", url]) == 0
    assert not release.exists() and not list((hub_env / "blobs").iterdir())
    assert main(["cache", "rm", url]) == 1
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "wav2vec2-base-fairseq" in out and "wav2vec2-base-960h-hf" in out


def test_server_errors_are_retried(server, hub_env, tiny_release):
    _, tar = tiny_release
    server.files["/t.tar.gz"] = tar
    server.fail_once["/t.tar.gz"] = 503
    resolve(server.url + "/t.tar.gz", _opts(tar, retries=1))
    assert len(server.gets("/t.tar.gz")) == 2


def test_a_held_lock_is_waited_for_and_a_stuck_one_does_not_block(server, hub_env, tiny_release, capsys,
                                                                   monkeypatch):
    import threading

    from filelock import FileLock

    from audiocl.hub.cache import entry_key

    _, tar = tiny_release
    url = server.url + "/t.tar.gz"
    server.files["/t.tar.gz"] = tar
    monkeypatch.setenv("AUDIOCL_LOCK_TIMEOUT", "30")  # bounds the wait if the lock were never released
    ModelCache(hub_env).prepare()
    lock = FileLock(str(hub_env / "locks" / f"ref-{entry_key(url)}.lock"), thread_local=False)
    lock.acquire()
    threading.Timer(1.5, lock.release).start()
    resolve(url, _opts(tar))
    assert "waiting for lock" in capsys.readouterr().err
    other = server.url + "/u.tar.gz"
    server.files["/u.tar.gz"] = tar
    stuck = FileLock(str(hub_env / "locks" / f"ref-{entry_key(other)}.lock"))
    stuck.acquire()  # a process that died holding a lock on a file system that keeps it
    monkeypatch.setenv("AUDIOCL_LOCK_TIMEOUT", "1.5")
    try:
        assert (resolve(other, _opts(tar)) / "model.safetensors").is_file()
    finally:
        stuck.release()
    assert "going on without it" in capsys.readouterr().err


def test_packaged_registry_states_where_each_hash_comes_from():
    import re

    from audiocl.hub.registry import load_registry

    entries = load_registry()
    assert {"wav2vec2-base-fairseq", "wav2vec2-base-960h-fairseq", "wav2vec2-large-lv60-fairseq",
            "wav2vec2-base-hf", "wav2vec2-base-960h-hf", "wav2vec2-large-lv60-hf"} <= set(entries)
    for e in entries.values():
        assert e.description and e.licence and e.card
        if e.hf_repo:
            assert e.sha256_source and (e.revision is None or re.fullmatch(r"[0-9a-f]{40}", e.revision))
            assert e.revision or "revision_source" in e.extra
        for f in e.files:
            assert f.url.startswith("https://") and f.sha256_source
            assert f.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", f.sha256)


def test_stale_staging_folders_are_dropped_and_partials_kept(server, hub_env, tiny_release):
    _, tar = tiny_release
    server.files["/t.tar.gz"] = tar
    cache = ModelCache(hub_env)
    cache.prepare()
    stale, fresh = cache.tmp / "convert.dead", cache.tmp / "convert.live"
    partial = cache.tmp / "abc.1-x.partial"
    for d in (stale, fresh):
        d.mkdir()
    partial.write_bytes(b"x")
    old = os.stat(stale).st_mtime - 2 * 86400
    os.utime(stale, (old, old))
    os.utime(partial, (old, old))
    resolve(server.url + "/t.tar.gz", _opts(tar))
    assert not stale.exists() and fresh.exists() and partial.exists()
