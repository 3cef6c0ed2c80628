"""Fixtures shared by every test folder. Area-specific fixtures live in tests/<area>/conftest.py.

``write_tone`` writes one speech-like wav; ``build_data_dir`` writes a whole Kaldi data dir of them
(the one data-dir builder of the test suite; session-scoped, so session fixtures can use it too).
``http_server_class`` is the one local HTTP server of the download tests (hub and recipes), ``small_fs`` a
tiny tmpfs for full-disk tests.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import pytest
import soundfile as sf


def speech_like_tone(num_samples: int, sample_rate: int, rng: np.random.Generator, f0: float | None = None,
                     harmonics: int = 7, noise: float = 0.01) -> np.ndarray:
    """A harmonic tone plus a little noise (a speech-like spectrum), float32 peaking at 0.5."""
    t = np.arange(num_samples) / sample_rate
    f0 = 120 + 40 * rng.random() if f0 is None else f0
    wav = sum(0.3 / k * np.sin(2 * np.pi * k * f0 * t + rng.random()) for k in range(1, harmonics + 1))
    wav = wav + noise * rng.standard_normal(t.shape)
    return (0.5 * wav / max(1e-6, float(np.abs(wav).max()))).astype(np.float32)


@pytest.fixture
def write_tone(tmp_path):
    """Factory: write a short harmonic tone with a little noise (speech-like spectrum) to a wav file."""

    def _write(name: str = "tone.wav", seconds: float = 1.0, sample_rate: int = 16000, seed: int = 0,
               channels: int = 1, subtype: str = "PCM_16"):
        wav = speech_like_tone(int(seconds * sample_rate), sample_rate, np.random.default_rng(seed))
        if channels > 1:
            wav = np.stack([wav * (0.5 + 0.5 * c / channels) for c in range(channels)], axis=1)
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, wav, sample_rate, subtype=subtype)
        return path

    return _write


def _keyed(path: Path, entries: Mapping[str, str]) -> None:
    """A Kaldi keyed file, C-sorted by key (the order every data dir file must have)."""
    path.write_text("".join(f"{k} {entries[k]}".rstrip() + "\n" for k in sorted(entries)), encoding="utf-8")


def _grid(num_spk: int, per_spk: int) -> dict[str, dict]:
    """``spk{s}-utt{k}`` utterances of 0.5 s + 0.1 s * i, texts ``HELLO WORLD i``, styles slow/fast alternating."""
    utts, i = {}, 0
    for s in range(num_spk):
        for k in range(per_spk):
            utts[f"spk{s}-utt{k}"] = dict(spk=f"spk{s}", seconds=0.5 + 0.1 * i, text=f"HELLO WORLD {i}",
                                          style="fast" if i % 2 else "slow")
            i += 1
    return utts


def build_data_dir(root: str | Path, utts: Mapping[str, Mapping] | None = None, *, num_spk: int = 2,
                   per_spk: int = 3, sample_rate: int = 16000, seed: int = 0,
                   files: tuple[str, ...] = ("text", "utt2style"), recordings: Mapping[str, str | Path] | None = None,
                   segments: Mapping[str, tuple[str, float, float]] | None = None,
                   audio: Callable[[str, Mapping, np.random.Generator], np.ndarray] | None = None) -> Path:
    """Write a valid Kaldi data dir at ``root`` and return it.

    ``utts``: utterance id -> any of ``spk`` (default ``spk1``), ``seconds`` (1.0), ``text`` ("HELLO"),
    ``style`` (written to ``utt2style``), ``f0`` (Hz of the tone); default: ``num_spk`` x ``per_spk``
    utterances ``spk{s}-utt{k}``. ``files``: optional files to write, of ``text``, ``utt2style``,
    ``utt2dur``; ``wav.scp``, ``utt2spk`` and ``spk2utt`` are always written. The audio of each
    utterance is a speech-like tone in the folder ``<root>_wav`` beside the data dir (Kaldi data dirs
    hold no audio), or ``audio(utt, spec, rng)`` samples if given. ``recordings`` (recording -> existing
    audio path) writes no audio: ``wav.scp`` lists them, and the utterances are the recordings or, with
    ``segments`` (utterance -> (recording, start, end)), the segments.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    if utts is None:
        utts = dict.fromkeys(segments or recordings, {}) if (segments or recordings) else _grid(num_spk, per_spk)
    spec = {u: {"spk": "spk1", "seconds": 1.0, "text": "HELLO", "style": None, "f0": None, **utts[u]} for u in utts}
    durations: dict[str, float] = {}
    if recordings is not None:
        wav_scp = {rec: str(path) for rec, path in recordings.items()}
    else:
        wav_dir = root.parent / f"{root.name}_wav"
        wav_dir.mkdir(parents=True, exist_ok=True)
        wav_scp = {}
        for utt in sorted(spec):
            s = spec[utt]
            n = int(s["seconds"] * sample_rate)
            wav = audio(utt, s, rng) if audio else speech_like_tone(n, sample_rate, rng, s["f0"], noise=0.02)
            sf.write(wav_dir / f"{utt}.wav", wav, sample_rate, subtype="PCM_16")
            wav_scp[utt] = str(wav_dir / f"{utt}.wav")
            durations[utt] = len(wav) / sample_rate
    _keyed(root / "wav.scp", wav_scp)
    if segments:
        _keyed(root / "segments", {u: f"{r} {start} {end}" for u, (r, start, end) in segments.items()})
    _keyed(root / "utt2spk", {u: s["spk"] for u, s in spec.items()})
    spk2utt: dict[str, list[str]] = {}
    for utt in sorted(spec):
        spk2utt.setdefault(spec[utt]["spk"], []).append(utt)
    _keyed(root / "spk2utt", {spk: " ".join(us) for spk, us in spk2utt.items()})
    if "text" in files:
        _keyed(root / "text", {u: s["text"] for u, s in spec.items()})
    if "utt2style" in files and any(s["style"] is not None for s in spec.values()):
        _keyed(root / "utt2style", {u: s["style"] for u, s in spec.items() if s["style"] is not None})
    if "utt2dur" in files:
        _keyed(root / "utt2dur", {u: f"{d:.4f}" for u, d in durations.items()})
    return root


@pytest.fixture(scope="session")
def data_dir_builder():
    """The one data-dir builder: ``data_dir_builder(tmp_path / "train", utts={...}, files=(...))``.

    See :func:`build_data_dir` for the arguments. Session-scoped so that session fixtures (a data dir
    shared by many tests) can use it with ``tmp_path_factory``.
    """
    return build_data_dir


@pytest.fixture
def small_fs(tmp_path):
    """A 2 MiB tmpfs when this process may mount one (root on Linux), else ``None`` (tests then make the
    write fail with ENOSPC themselves)."""
    import shutil
    import subprocess

    mnt = tmp_path / "small"
    mnt.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        yield None
        return
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True)
    if done.returncode != 0:
        yield None
        return
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


class Request(tuple):
    """One request: ``(path, Range header)`` as a tuple, with ``.method``, ``.path`` and ``.range``."""

    def __new__(cls, method: str, path: str, range_header: str | None):
        obj = super().__new__(cls, (path, range_header))
        obj.method = method
        return obj

    @property
    def path(self) -> str:
        return self[0]

    @property
    def range(self) -> str | None:
        return self[1]


@dataclass
class HttpFileServer:
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

    def start(self) -> "HttpFileServer":
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


@pytest.fixture(scope="session")
def http_server_class():
    """The test HTTP server class (files with Range support, HF hub routes, failure knobs) on 127.0.0.1."""
    return HttpFileServer
