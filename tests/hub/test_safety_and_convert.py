"""Pickled checkpoints never run code; foreign formats convert once into releases that reproduce the source."""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
from pathlib import Path

import pytest
import torch

from audiocl.cli.main import main
from audiocl.errors import AudioclError
from audiocl.hub import from_pretrained, resolve
from audiocl.hub.download import DownloadOptions

FAIRSEQ_CFG = dict(conv_feature_layers="[(32, 10, 5)] + [(32, 3, 2)] * 2", extractor_mode="default",
                   encoder_layers=2, encoder_embed_dim=32, encoder_ffn_embed_dim=64, encoder_attention_heads=4,
                   conv_pos=8, conv_pos_groups=4, latent_vars=8, latent_groups=2, final_dim=16,
                   latent_temp="(2,0.5,0.999995)", activation_fn="gelu", dropout=0.0, encoder_layerdrop=0.0)


class _CreatesFile:
    """Unpickling this would create ``path``: the payload a malicious checkpoint carries."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _load_fairseq_test_helpers():
    """The fairseq converter tests already write audiocl weights out in fairseq's names; reuse them."""
    path = Path(__file__).resolve().parents[1] / "models" / "test_fairseq_convert.py"
    spec = importlib.util.spec_from_file_location("_fairseq_convert_tests", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_fairseq_state = _load_fairseq_test_helpers()._to_fairseq_names


def _fairseq_model():
    from audiocl.hub.convert_fairseq import config_from_fairseq
    from audiocl.models import Wav2Vec2ForPretraining

    torch.manual_seed(0)
    return Wav2Vec2ForPretraining(config_from_fairseq(FAIRSEQ_CFG)).eval()


def test_pickle_payload_in_a_fairseq_checkpoint_is_refused_unexecuted(tmp_path, hub_env, server):
    marker = tmp_path / "pwned"
    evil = tmp_path / "checkpoint_best.pt"
    torch.save({"model": {"w": torch.zeros(1)}, "cfg": {"model": _CreatesFile(marker)}}, evil)
    with pytest.raises(AudioclError, match="refusing to unpickle"):
        resolve(evil)
    assert not marker.exists()
    data = evil.read_bytes()
    server.files["/evil.pt"] = data
    with pytest.raises(AudioclError, match="refusing to unpickle"):
        resolve(server.url + "/evil.pt", DownloadOptions(sha256=hashlib.sha256(data).hexdigest(), quiet=True))
    assert not marker.exists()
    assert main(["convert", "--from", "fairseq", str(evil), str(tmp_path / "out")]) == 1
    assert not marker.exists() and not (tmp_path / "out" / "model.safetensors").exists()


def test_registry_entry_of_a_fine_tuned_fairseq_checkpoint(tmp_path, hub_env, server, monkeypatch):
    src = _fairseq_model()
    enc = {f"w2v_encoder.w2v_model.{k}": v for k, v in _fairseq_state(src).items()
           if not k.startswith(("quantizer", "project_q", "final_proj"))}
    enc["w2v_encoder.proj.weight"], enc["w2v_encoder.proj.bias"] = torch.randn(6, 32), torch.randn(6)
    pt = tmp_path / "ft.pt"
    torch.save({"model": enc, "args": argparse.Namespace(**FAIRSEQ_CFG)}, pt)
    data, dictionary = pt.read_bytes(), b"| 10\nE 9\nT 8\nA 7\n"
    server.files.update({"/ft.pt": data, "/dict.ltr.txt": dictionary})
    registry = tmp_path / "registry.json"
    files = [{"name": "ft.pt", "url": server.url + "/ft.pt", "sha256": hashlib.sha256(data).hexdigest(),
              "size": len(data), "sha256_source": "made by this test"},
             {"name": "dict.ltr.txt", "url": server.url + "/dict.ltr.txt",
              "sha256": hashlib.sha256(dictionary).hexdigest(), "sha256_source": "made by this test"}]
    registry.write_text(json.dumps({"models": {"tiny-ft": {"description": "t", "format": "fairseq", "files": files}}}))
    monkeypatch.setenv("AUDIOCL_REGISTRY", str(registry))
    assert main(["download", "tiny-ft", "--quiet"]) == 0
    path = resolve("tiny-ft")
    assert (path / "dict.ltr.txt").read_bytes() == dictionary and (path / "ctc_head.safetensors").is_file()
    model, _ = from_pretrained("tiny-ft")
    wav = 0.3 * torch.randn(1, 3000)
    with torch.no_grad():
        a, _ = src.extract_layers(wav)
        b, _ = model.extract_layers(wav)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert len(server.gets()) == 2


def test_local_fairseq_checkpoint_is_converted_once(tmp_path, hub_env):
    src = _fairseq_model()
    pt = tmp_path / "pre.pt"
    torch.save({"model": _fairseq_state(src), "args": argparse.Namespace(**FAIRSEQ_CFG)}, pt)
    first = resolve(pt)
    mtime = (first / "model.safetensors").stat().st_mtime_ns
    assert resolve(pt) == first and (first / "model.safetensors").stat().st_mtime_ns == mtime
    model, _ = from_pretrained(pt)
    state = model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in src.state_dict().items())  # quantizer and heads too
    torch.save({"model": _fairseq_state(_fairseq_model()), "args": argparse.Namespace(**FAIRSEQ_CFG)}, pt)
    assert resolve(pt) != first  # a changed file is converted again


def test_convert_cli_torchaudio_state_dict_matches_torchaudio(tmp_path):
    torchaudio = pytest.importorskip("torchaudio")
    torch.manual_seed(0)
    ta = torchaudio.models.wav2vec2_model(
        extractor_mode="group_norm", extractor_conv_layer_config=[(32, 10, 5), (32, 3, 2), (32, 2, 2)],
        extractor_conv_bias=False, encoder_embed_dim=64, encoder_projection_dropout=0.0, encoder_pos_conv_kernel=8,
        encoder_pos_conv_groups=16, encoder_num_layers=2, encoder_num_heads=1, encoder_attention_dropout=0.0,
        encoder_ff_interm_features=96, encoder_ff_interm_dropout=0.0, encoder_dropout=0.0,
        encoder_layer_norm_first=False, encoder_layer_drop=0.0, aux_num_out=None).eval()
    src = tmp_path / "ta.pth"
    torch.save(ta.state_dict(), src)
    assert main(["convert", "--from", "torchaudio", str(src), str(tmp_path / "rel")]) == 0
    model, _ = from_pretrained(tmp_path / "rel")
    wav = 0.3 * torch.randn(1, 3000)
    with torch.no_grad():
        expected, _ = ta.extract_features(wav)
        layers, _ = model.extract_layers(wav)
    assert (layers[-1] - expected[-1]).abs().max().item() <= 1e-4
    assert main(["convert", str(src), str(tmp_path / "rel")]) == 1  # DST not empty: refused


def test_archive_members_outside_the_folder_are_refused(tmp_path, hub_env, server):
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        info = tarfile.TarInfo("../../escaped.txt")
        info.size = 2
        tf.addfile(info, io.BytesIO(b"hi"))
    data = buf.getvalue()
    server.files["/bad.tar.gz"] = data
    with pytest.raises(AudioclError, match="refusing unsafe archive member"):
        resolve(server.url + "/bad.tar.gz", DownloadOptions(sha256=hashlib.sha256(data).hexdigest(), quiet=True))
    assert not list(hub_env.parent.rglob("escaped.txt")) and not list((hub_env / "entries").iterdir())
