"""Several processes fetching one reference: one download, one intact blob (plain processes and DDP ranks)."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import textwrap

import pytest

from audiocl.hub.cache import ModelCache, sha256_file

SCRIPT = textwrap.dedent("""
    import os, sys
    from audiocl.hub import resolve
    from audiocl.hub.download import DownloadOptions
    if os.environ.get("WORLD_SIZE"):
        import torch.distributed as dist
        dist.init_process_group("gloo", init_method=os.environ["INIT"], rank=int(os.environ["RANK"]),
                                world_size=int(os.environ["WORLD_SIZE"]))
    path = resolve(sys.argv[1], DownloadOptions(sha256=sys.argv[2], quiet=True, backoff=0.0))
    print(path)
""")


def _run_all(tmp_path, url: str, sha: str, envs: list[dict]) -> list[str]:
    script = tmp_path / "fetch.py"
    script.write_text(SCRIPT)
    procs = [subprocess.Popen([sys.executable, str(script), url, sha], env={**os.environ, "OMP_NUM_THREADS": "1", **e},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for e in envs]
    outs = [p.communicate() for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
    return [out.strip().splitlines()[-1] for out, _ in outs]


@pytest.mark.integration
def test_two_processes_at_once_end_with_one_intact_blob(server, hub_env, tiny_release, tmp_path):
    _, tar = tiny_release
    sha = hashlib.sha256(tar).hexdigest()
    server.files["/t.tar.gz"] = tar
    server.chunk_delay = 0.05  # about 1 s per transfer, so the two processes overlap
    paths = _run_all(tmp_path, server.url + "/t.tar.gz", sha, [{}, {}])
    assert paths[0] == paths[1]
    cache = ModelCache(hub_env)
    assert [p.name for p in cache.blobs.iterdir()] == [sha] and sha256_file(cache.blob_path(sha)) == sha
    assert not list(cache.tmp.glob("*.partial"))
    # the second process waited for the lock and found the blob: the server sent the file once
    # (a resumed partial would show as a Range request, which would also be correct)
    assert sum(1 for r in server.gets("/t.tar.gz") if r.range is None) == 1
    assert cache.verify() == []


@pytest.mark.integration
def test_ddp_local_rank_zero_downloads_the_others_wait(server, hub_env, tiny_release, tmp_path):
    _, tar = tiny_release
    sha = hashlib.sha256(tar).hexdigest()
    server.files["/t.tar.gz"] = tar
    server.chunk_delay = 0.02
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    envs = [{"WORLD_SIZE": "2", "RANK": str(r), "LOCAL_RANK": str(r), "INIT": f"tcp://127.0.0.1:{port}"}
            for r in range(2)]
    paths = _run_all(tmp_path, server.url + "/t.tar.gz", sha, envs)
    assert paths[0] == paths[1]
    assert len(server.gets("/t.tar.gz")) == 1
