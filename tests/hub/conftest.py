"""Fixtures of the hub tests: a private cache, a local HTTP server (plain files and the HF hub's routes),
and tiny releases made by the tests themselves. Nothing leaves 127.0.0.1."""

from __future__ import annotations

import io
import tarfile

import pytest

TINY_W2V = dict(conv_layers=[[32, 10, 5], [32, 3, 2], [32, 3, 2]], encoder_embed_dim=32, encoder_ffn_dim=64,
                encoder_layers=2, encoder_attention_heads=4, conv_pos=8, conv_pos_groups=4, latent_vars=8,
                latent_groups=2, final_dim=16, num_negatives=5, dropout=0.0, attention_dropout=0.0,
                encoder_layerdrop=0.0, dropout_input=0.0, dropout_features=0.0)


@pytest.fixture
def server(http_server_class):
    srv = http_server_class().start()
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

