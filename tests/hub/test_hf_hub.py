"""``hf:ORG/NAME@COMMIT`` against a local server that answers the routes huggingface_hub calls."""

from __future__ import annotations

import json

import pytest
import torch

transformers = pytest.importorskip("transformers")

from audiocl.errors import ChecksumError, DownloadError  # noqa: E402
from audiocl.hub import from_pretrained, resolve  # noqa: E402
from audiocl.hub.download import DownloadOptions  # noqa: E402

COMMIT = "0123456789abcdef0123456789abcdef01234567"
TOL = 1e-4


def _hf_config(**kw):
    return transformers.Wav2Vec2Config(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
        conv_dim=(32, 32, 32), conv_kernel=(10, 3, 3), conv_stride=(5, 2, 2), num_conv_pos_embeddings=8,
        num_conv_pos_embedding_groups=4, num_codevector_groups=2, num_codevectors_per_group=8, codevector_dim=16,
        proj_codevector_dim=16, hidden_dropout=0.0, attention_dropout=0.0, activation_dropout=0.0,
        feat_proj_dropout=0.0, layerdrop=0.0, **kw)


def _serve(server, tmp_path, model, repo: str, extra: dict[str, bytes] | None = None, bin_too: bool = False):
    folder = tmp_path / repo.replace("/", "_")
    model.save_pretrained(folder)
    files = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    if bin_too:
        files["pytorch_model.bin"] = b"never fetched: safetensors is preferred"
    files.update(extra or {})
    server.hf_repos[repo] = {"commit": COMMIT, "files": files}
    return files


def _batch():
    g = torch.Generator().manual_seed(0)
    wav = torch.randn(2, 4000, generator=g) * 0.3
    return wav


def test_from_pretrained_hf_id_matches_hf_hidden_states(server, hub_env, tmp_path, monkeypatch):
    torch.manual_seed(0)
    hf = transformers.Wav2Vec2ForPreTraining(_hf_config()).eval()
    _serve(server, tmp_path, hf, "org/tiny", bin_too=True)
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    model, info = from_pretrained(f"hf:org/tiny@{COMMIT}")
    assert info.ssl_type == "wav2vec2"
    wav = _batch()
    with torch.no_grad():
        ref = hf.wav2vec2(wav, output_hidden_states=True)
        layers, _ = model.extract_layers(wav)
    expected = list(ref.hidden_states[:-1]) + [ref.last_hidden_state]
    assert len(layers) == len(expected)
    for a, b in zip(layers, expected):
        assert (a - b).abs().max().item() <= TOL
    assert not [r for r in server.requests if r.path.endswith("pytorch_model.bin")]
    source = json.loads((resolve(f"hf:org/tiny@{COMMIT}") / "source.json").read_text())
    assert {s["name"] for s in source["sources"]} >= {"model.safetensors", "config.json"}
    assert all(s["verified"] for s in source["sources"])
    # a second process or call: a cache hit, no request, even with the hub declared offline
    n = len(server.requests)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from_pretrained(f"hf:org/tiny@{COMMIT}")
    assert len(server.requests) == n


def test_ctc_model_keeps_head_and_vocab_and_gives_hf_greedy_ids(server, hub_env, tmp_path, monkeypatch):
    torch.manual_seed(1)
    vocab = {"<pad>": 0, "|": 1, "A": 2, "B": 3, "C": 4, "D": 5}
    hf = transformers.Wav2Vec2ForCTC(_hf_config(vocab_size=len(vocab))).eval()
    _serve(server, tmp_path, hf, "org/tiny-ctc", extra={"vocab.json": json.dumps(vocab).encode()})
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    path = resolve(f"hf:org/tiny-ctc@{COMMIT}")
    assert json.loads((path / "vocab.json").read_text()) == vocab
    from safetensors.torch import load_file

    head = load_file(str(path / "ctc_head.safetensors"))
    model, _ = from_pretrained(path)
    conversion = json.loads((path / "conversion.json").read_text())
    assert conversion["initialised"] and all(k.startswith(("quantizer", "project_q", "final_proj"))
                                             for k in conversion["initialised"])
    wav = _batch()
    with torch.no_grad():
        logits_hf = hf(wav).logits
        layers, _ = model.extract_layers(wav)
        logits = torch.nn.functional.linear(layers[-1], head["weight"], head["bias"])
    assert (logits - logits_hf).abs().max().item() <= TOL
    assert torch.equal(logits.argmax(-1), logits_hf.argmax(-1))


def test_hf_file_not_matching_its_etag_is_refused(server, hub_env, tmp_path, monkeypatch):
    torch.manual_seed(2)
    _serve(server, tmp_path, transformers.Wav2Vec2Model(_hf_config()).eval(), "org/bad")
    server.hf_repos["org/bad"]["etag_override"] = {"model.safetensors": "f" * 64}
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    with pytest.raises(ChecksumError, match="does not match the hub's"):
        resolve(f"hf:org/bad@{COMMIT}")
    assert not list((hub_env / "entries").iterdir())


def test_unpinned_hf_id_needs_allow_unverified_and_prints_the_commit(server, hub_env, tmp_path, monkeypatch,
                                                                     capsys):
    torch.manual_seed(3)
    _serve(server, tmp_path, transformers.Wav2Vec2Model(_hf_config()).eval(), "org/moving")
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    with pytest.raises(DownloadError, match="not pinned"):
        resolve("hf:org/moving")
    assert server.requests == []
    resolve("hf:org/moving", DownloadOptions(allow_unverified=True))
    assert f"hf:org/moving@{COMMIT}" in capsys.readouterr().err
