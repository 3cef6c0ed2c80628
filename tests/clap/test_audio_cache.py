"""The training set's log-mel cache: same CNN input as the audio path, a new key when the config or the audio
changes, frame crops of long clips, unreadable clips skipped."""

from __future__ import annotations

import numpy as np
import soundfile as sf
import torch

from audiocl.features.config import LogMelConfig
from audiocl.models.clap import CLAPConfig, CLAPModel
from audiocl.nn.audio_cnn import AudioCNNConfig
from audiocl.tasks import clap_audio_cache as cache
from audiocl.tasks.clap_data import CaptionedSet, CaptionPairCollate, CaptionPairDataset
from audiocl.tasks.clap_spec_augment import LogMelMaskConfig, mask_logmel

from .conftest import SR, write_clap_dir


def _model(chunk_seconds: float = 1.0, n_mels: int = 16) -> CLAPModel:
    torch.manual_seed(0)
    cfg = CLAPConfig(chunk_seconds=chunk_seconds, embed_dim=16, proj_hidden=16, cnn=AudioCNNConfig(channels=[8, 16]),
                     logmel=LogMelConfig(sample_rate=SR, n_fft=400, hop_length=160, n_mels=n_mels))
    return CLAPModel(cfg).eval()


def _datasets(data: CaptionedSet, model: CLAPModel, logmel, random_crop: bool = True):
    index = {t: i for i, t in enumerate(data.all_texts())}
    args = (data, index, SR, model.cfg.chunk_samples)
    kw = dict(hard_negatives=True, random_crop=random_crop)
    return (CaptionPairDataset(*args, **kw),
            CaptionPairDataset(*args, **kw, logmel=logmel, chunk_frames=cache.chunk_frames(model.cfg)))


def test_cached_batch_embeds_like_the_audio_batch(tmp_path):
    """Clips shorter than a chunk (0.5 .. 1.0 s in a 1.2 s chunk): the cached path gives the CNN exactly the
    input of the audio path, so embeddings agree and the collated padding masks are the same frames."""
    root = write_clap_dir(tmp_path / "d", num=8)
    for i, path in enumerate(sorted((root / "wav").iterdir())):  # different lengths, all under one chunk
        x, _ = sf.read(path)
        sf.write(path, x[: int(SR * (0.5 + 0.06 * i))], SR)
    data = CaptionedSet.load(root)
    model = _model(chunk_seconds=1.2)
    logmel = cache.cached_clip_logmel(data, model, tmp_path / "cache")
    wav_set, mel_set = _datasets(data, model, logmel)
    collate = CaptionPairCollate(model.cfg.chunk_samples)
    keys = [(i, 7 + i) for i in range(len(data.utts))]
    wav_batch = collate([wav_set[k] for k in keys])
    mel_batch = collate([mel_set[k] for k in keys])
    feats, padding = model.chunk_logmel(wav_batch["wav"], wav_batch["lengths"])
    assert torch.equal(mel_batch["padding"], padding)
    assert torch.allclose(mel_batch["feats"], feats, atol=1e-5)
    with torch.no_grad():
        a = model.embed_audio_chunks(wav_batch["wav"], wav_batch["lengths"])
        b = model.embed_logmel_chunks(mel_batch["feats"], mel_batch["padding"])
    assert (a - b).abs().max() < 1e-5
    assert torch.equal(wav_batch["text"], mel_batch["text"]) and torch.equal(wav_batch["hard_text"], mel_batch["hard_text"])


def test_long_clip_crops_one_chunk_of_frames(tmp_path):
    root = write_clap_dir(tmp_path / "d", num=4, seconds=3.0)  # 3 s clips, 1 s chunks
    data = CaptionedSet.load(root)
    model = _model()
    logmel = cache.compute_clip_logmel(data, model)
    whole, valid = logmel.clip(0)
    assert whole.shape[0] == valid == 3 * SR // 160 + 1
    n = cache.chunk_frames(model.cfg)
    _, fixed = _datasets(data, model, logmel, random_crop=False)
    assert torch.equal(fixed[(0, 0)]["feats"], whole[:n]) and fixed[(0, 0)]["frames"] == n
    _, rand = _datasets(data, model, logmel)
    starts = set()
    for seed in range(8):
        item = rand[(0, seed)]
        assert item["feats"].shape == (n, 16) and item["frames"] == n
        match = [s for s in range(whole.shape[0] - n + 1) if torch.equal(whole[s:s + n], item["feats"])]
        assert match
        starts.add(match[0])
    assert len(starts) > 1  # the window moves with the seed


def test_cache_is_reused_and_invalidated_by_config_or_audio(tmp_path, monkeypatch):
    root = write_clap_dir(tmp_path / "d", num=4)
    data = CaptionedSet.load(root)
    calls = []
    real = cache.compute_clip_logmel
    monkeypatch.setattr(cache, "compute_clip_logmel", lambda d, m: calls.append(1) or real(d, m))
    first = cache.cached_clip_logmel(data, _model(), tmp_path / "c")
    again = cache.cached_clip_logmel(data, _model(), tmp_path / "c")
    assert len(calls) == 1 and torch.equal(first.frames, again.frames)
    other = cache.cached_clip_logmel(data, _model(n_mels=20), tmp_path / "c")  # another front end
    assert len(calls) == 2 and other.frames.shape[1] == 20
    path = sorted((root / "wav").iterdir())[1]
    x, _ = sf.read(path)
    sf.write(path, (0.5 * x).astype(np.float32), SR)  # the same file re-rendered quieter
    edited = cache.cached_clip_logmel(CaptionedSet.load(root), _model(), tmp_path / "c")
    assert len(calls) == 3
    assert torch.equal(edited.clip(0)[0], first.clip(0)[0]) and not torch.equal(edited.clip(1)[0], first.clip(1)[0])
    assert len(list((tmp_path / "c").glob("logmel_*.safetensors"))) == 3


def test_unreadable_clip_is_skipped(tmp_path):
    root = write_clap_dir(tmp_path / "d", num=4)
    data = CaptionedSet.load(root)
    sorted((root / "wav").iterdir())[2].write_bytes(b"not audio")  # broken after the data dir was checked
    model = _model()
    logmel = cache.compute_clip_logmel(data, model)
    assert logmel.clip(2)[1] == 0 and logmel.clip(3)[1] > 0
    _, mel_set = _datasets(data, model, logmel)
    batch = CaptionPairCollate(model.cfg.chunk_samples)([mel_set[(i, 0)] for i in range(4)])
    assert batch["num_bad"] == 1 and batch["feats"].shape[0] == 3 and batch["index"].tolist() == [0, 1, 3]


def test_spec_augment_masks_bands_of_valid_frames_and_bins():
    feats = torch.arange(50 * 8, dtype=torch.float32).view(50, 8)
    off = LogMelMaskConfig()
    assert mask_logmel(feats, 30, off, np.random.default_rng(0)) is feats
    cfg = LogMelMaskConfig(time_masks=2, time_width=6, freq_masks=1, freq_width=3)
    fill = feats[:30].mean()
    changed_any = False
    for seed in range(20):
        out = mask_logmel(feats, 30, cfg, np.random.default_rng(seed))
        assert torch.equal(out, mask_logmel(feats, 30, cfg, np.random.default_rng(seed)))  # reproducible
        changed = out != feats
        assert torch.all(out[changed] == fill)
        # frames after the clip change only inside a masked mel band (the whole band, every frame)
        assert torch.equal(changed[30:].any(0), changed[30:].all(0))
        assert int(changed[:30].all(1).sum()) <= 12 and int(changed.all(0).sum()) <= 3
        changed_any |= bool(changed.any())
    assert changed_any and torch.equal(feats, torch.arange(50 * 8, dtype=torch.float32).view(50, 8))


def test_masked_items_leave_the_cache_untouched(tmp_path):
    root = write_clap_dir(tmp_path / "d", num=4)
    data = CaptionedSet.load(root)
    model = _model()
    logmel = cache.compute_clip_logmel(data, model)
    before = logmel.frames.clone()
    index = {t: i for i, t in enumerate(data.all_texts())}
    masked = CaptionPairDataset(data, index, SR, model.cfg.chunk_samples, hard_negatives=False, logmel=logmel,
                                chunk_frames=cache.chunk_frames(model.cfg),
                                mask=LogMelMaskConfig(time_masks=2, freq_masks=2))
    items = [masked[(0, s)]["feats"] for s in range(4)]
    assert torch.equal(logmel.frames, before)
    assert any(not torch.equal(items[0], it) for it in items[1:])
