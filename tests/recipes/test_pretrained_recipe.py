"""``bash egs/mini_tts/run.sh --pretrained http://127.0.0.1:PORT/...#sha256=...`` end to end on a tiny corpus:
the served release (a random micro wav2vec 2.0 saved with audiocl.hub.release.save_release and packed as
tar.gz) is downloaded once into the test's cache, stage 3 is skipped, stage 4 fine-tunes it and trains the
same architecture from random weights, stage 5 decodes and scores both, stage 6 probes it, stage 7 writes
RESULTS.md. Step counts are tiny: the test checks the plumbing, not the numbers."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile

import pytest
import yaml

pytestmark = pytest.mark.integration

# A micro wav2vec 2.0: 3 conv layers of 32 channels (stride 20), 2 transformer blocks of width 32.
MICRO_W2V = dict(conv_layers=[[32, 10, 5], [32, 3, 2], [32, 3, 2]], encoder_embed_dim=32, encoder_ffn_dim=64,
                 encoder_layers=2, encoder_attention_heads=4, conv_pos=8, conv_pos_groups=4, latent_vars=8,
                 latent_groups=2, final_dim=16, num_negatives=5)
TRAIN = "trainer.max_steps=2 trainer.checkpoint_every_n_steps=2 trainer.num_threads=1 trainer.log_every_n_steps=1"
CTC_OPTS = f"{TRAIN} data.max_batch_seconds=8.0 model.mask_channel_length=4 model.freeze_finetune_updates=1"
CLS_OPTS = f"{TRAIN} optim.warmup_steps=1 head.hidden_dim=16"


@pytest.fixture
def served_release(tmp_path, file_server):
    """The release as ``URL#sha256=HEX`` on the test's HTTP server, and its config."""
    import torch

    from audiocl import models
    from audiocl.hub.release import save_release

    torch.manual_seed(0)
    out = tmp_path / "build" / "micro-w2v"
    save_release(models.build("wav2vec2", models.make_config("wav2vec2", MICRO_W2V)).eval(),
                 {"ssl_type": "wav2vec2", "model": MICRO_W2V}, out)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        tf.add(out, arcname="micro-w2v")
    file_server.files["/releases/micro-w2v.tar.gz"] = buf.getvalue()
    sha = hashlib.sha256(buf.getvalue()).hexdigest()
    return f"{file_server.url}/releases/micro-w2v.tar.gz#sha256={sha}"


def test_mini_tts_fine_tunes_decodes_and_scores_a_served_release(rt, tmp_path, served_release, file_server):
    env = rt.env(AUDIOCL_CACHE=str(tmp_path / "cache"), NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost",
                 OMP_NUM_THREADS="1")
    for name in ("AUDIOCL_OFFLINE", "HF_HUB_OFFLINE", "AUDIOCL_REGISTRY", "http_proxy", "https_proxy",
                 "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"):
        env.pop(name, None)
    exp = tmp_path / "exp"
    r = rt.run(["bash", str(rt.repo / "egs" / "mini_tts" / "run.sh"), "--pretrained", served_release,
                "--datadir", str(tmp_path / "data"), "--expdir", str(exp), "--dumpdir", str(tmp_path / "dump"),
                "--num-utts", "12", "--nj", "1", "--test-sets", "", "--label-fractions", "1.0",
                "--ctc-opts", CTC_OPTS, "--cls-upstreams", "pretrained", "--cls-opts", CLS_OPTS],
               cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-3000:]
    assert f"stage 3 (pretrain): skipped: --pretrained {served_release} is given" in r.stdout
    assert not (exp / "pretrain").exists() and not (exp / "stages" / "stage3_pretrain.done").exists()

    # Downloaded once (every later stage reads the cache), verified against the pinned sha256.
    gets = [path for path, _ in file_server.requests]
    assert gets == ["/releases/micro-w2v.tar.gz"]

    # Stage 4: the pretrained run starts from the release, the baseline is its architecture with random weights.
    for kind, tag in (("pretrained", "ctc_pretrained_100pct"), ("random", "ctc_scratch_100pct")):
        cfg = yaml.safe_load((exp / tag / "config.yaml").read_text())
        assert cfg["upstream"]["path"] == served_release and cfg["upstream"]["kind"] == kind
        assert json.loads((exp / tag / "metrics.json").read_text())["global_step"] == 2
        # Stage 5: decoded and scored (on dev only, which keeps the test short).
        for s in ("dev",):
            scored = json.loads((exp / tag / f"decode_{s}" / "metrics.json").read_text())
            assert {"wer", "cer"} <= {k.lower() for k in scored}, scored
    # The same architecture: the same tensors with the same shapes, those of the served release.
    ft, scratch = (_shapes(exp / tag / "model" / "model.safetensors")
                   for tag in ("ctc_pretrained_100pct", "ctc_scratch_100pct"))
    assert ft == scratch
    assert {shape[0] for name, shape in ft.items() if "conv" in name and name.endswith("weight") and len(shape) == 3} \
        == {MICRO_W2V["conv_layers"][0][0]}

    # Stage 6 probes the same release; stage 7 collects everything.
    cls = yaml.safe_load((exp / "style_pretrained_train" / "config.yaml").read_text())
    assert cls["upstream"]["path"] == served_release
    assert (exp / "style_pretrained_train" / "eval_dev" / "metrics.json").is_file()
    assert "ctc_pretrained_100pct" in (exp / "RESULTS.md").read_text()


def _shapes(path) -> dict[str, list[int]]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return {k: list(f.get_slice(k).get_shape()) for k in f.keys()}
