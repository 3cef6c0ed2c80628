"""Fixtures of the hub tests: a private cache, a local HTTP server (plain files and the HF hub's routes),
and tiny releases made by the tests themselves. Nothing leaves 127.0.0.1."""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

TINY_W2V = dict(conv_layers=[[32, 10, 5], [32, 3, 2], [32, 3, 2]], encoder_embed_dim=32, encoder_ffn_dim=64,
                encoder_layers=2, encoder_attention_heads=4, conv_pos=8, conv_pos_groups=4, latent_vars=8,
                latent_groups=2, final_dim=16, num_negatives=5, dropout=0.0, attention_dropout=0.0,
                encoder_layerdrop=0.0, dropout_input=0.0, dropout_features=0.0)


@dataclass
class Request:
    method: str
    path: str
    range: str | None


@dataclass
class ModelServer:
    """Serves ``files`` (URL path -> bytes) with Range support, and HF repos under ``/<org>/<name>/resolve/``.

    Failure knobs: ``drop_after[path] = n`` sends n bytes of the promised body once, then hangs up;
    ``fail_once[path] = status`` answers that HTTP status once;
    ``honour_range = False`` answers 200 with the whole file to Range requests; ``chunk_delay``
    slows a transfer down (seconds per 4 KiB) so two clients overlap.
    """

    files: dict[str, bytes] = field(default_factory=dict)
    hf_repos: dict[str, dict] = field(default_factory=dict)  # repo_id -> {"commit": sha, "files": {name: bytes}}
    drop_after: dict[str, int] = field(default_factory=dict)
    fail_once: dict[str, int] = field(default_factory=dict)  # URL path -> HTTP status answered once
    honour_range: bool = True
    chunk_delay: float = 0.0
    requests: list[Request] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def gets(self, suffix: str = "") -> list[Request]:
        return [r for r in self.requests if r.method == "GET" and r.path.endswith(suffix)]

    def _hf_file(self, path: str):
        m = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
        if not m or m.group(1) not in self.hf_repos:
            return None
        repo = self.hf_repos[m.group(1)]
        if m.group(2) not in (repo["commit"], "main"):
            return ("norev", repo["commit"])
        data = repo["files"].get(m.group(3))
        if data is None:
            return ("nofile", repo["commit"])
        lfs = m.group(3).endswith((".safetensors", ".bin"))
        etag = hashlib.sha256(data).hexdigest() if lfs else \
            hashlib.sha1(f"blob {len(data)}\0".encode() + data).hexdigest()  # noqa: S324 - git blob id
        return (data, repo["commit"], repo.get("etag_override", {}).get(m.group(3), etag))

    def start(self) -> "ModelServer":
        state = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _answer(self, head: bool):
                state.requests.append(Request(self.command, self.path, self.headers.get("Range")))
                hf = state._hf_file(self.path.split("?")[0])
                headers: dict[str, str] = {}
                if isinstance(hf, tuple) and isinstance(hf[0], bytes):
                    data = hf[0]
                    headers = {"X-Repo-Commit": hf[1], "ETag": f'"{hf[2]}"'}
                elif isinstance(hf, tuple):
                    self.send_response(404)
                    self.send_header("X-Repo-Commit", hf[1])
                    self.send_header("X-Error-Code", "EntryNotFound" if hf[0] == "nofile" else "RevisionNotFound")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                else:
                    data = state.files.get(self.path)
                status = state.fail_once.pop(self.path, None)
                if status is not None:
                    data = None
                if data is None:
                    self.send_response(status or 404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                start = 0
                rng = self.headers.get("Range")
                if rng and state.honour_range:
                    start = int(re.match(r"bytes=(\d+)-", rng).group(1))
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if head:
                    return
                cut = state.drop_after.pop(self.path, None)
                if cut is not None:
                    body = body[:cut]
                for i in range(0, len(body), 4096):
                    self.wfile.write(body[i:i + 4096])
                    if state.chunk_delay:
                        time.sleep(state.chunk_delay)
                self.wfile.flush()
                if cut is not None:
                    self.close_connection = True

            def do_GET(self):
                self._answer(head=False)

            def do_HEAD(self):
                self._answer(head=True)

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address):  # clients hanging up on purpose are not news
                pass

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def server():
    srv = ModelServer().start()
    yield srv
    srv.stop()


@pytest.fixture
def hub_env(tmp_path, monkeypatch):
    """A private cache dir, online, no proxies for 127.0.0.1, no extra registry. Returns the cache root."""
    root = tmp_path / "cache"
    monkeypatch.setenv("AUDIOCL_CACHE", str(root))
    for name in ("AUDIOCL_OFFLINE", "HF_HUB_OFFLINE", "AUDIOCL_REGISTRY", "HF_ENDPOINT", "AUDIOCL_HF_ENDPOINT",
                 "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    return root


@pytest.fixture(scope="session")
def tiny_release(tmp_path_factory):
    """A release folder of a random tiny wav2vec 2.0, and the same folder as tar.gz bytes."""
    import torch

    from audiocl import models
    from audiocl.hub.release import save_release

    torch.manual_seed(0)
    cfg = models.make_config("wav2vec2", TINY_W2V)
    out = tmp_path_factory.mktemp("tiny") / "tiny-release"
    save_release(models.build("wav2vec2", cfg).eval(), {"ssl_type": "wav2vec2", "model": TINY_W2V}, out)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        tf.add(out, arcname="tiny-release")
    return out, buf.getvalue()

