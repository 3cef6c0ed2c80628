"""Side-by-side wav2vec 2.0 pre-training speed: audiocl vs HF transformers ``Wav2Vec2ForPreTraining``.

Both models get the same config (audiocl preset -> HF config), the same initial weights (copied in
with :mod:`audiocl.hub.convert_hf`), the same padded batch, and the same full training step:
mask + negative indices (HF: its own ``_compute_mask_indices`` / ``_sample_negative_indices``, as
its pre-training example does; audiocl: inside the forward), forward, loss (HF's summed loss divided
by the number of masked frames, as in its example), backward, fused AdamW step (what both trainers
build). Steps alternate between the two models so that load on a shared machine hits both alike;
medians are reported.

    python benchmarks/pretrain_speed.py --presets tiny base --threads 1
    python benchmarks/pretrain_speed.py --device cuda --dtype bf16 --batch-size 8 --seconds 15

audiocl quantizes and scores only the masked frames, so its saving grows with the masked fraction; its conv
front-end runs as GEMMs on time-major views and skips padded frames, so that saving grows with the padding.
Measured runs, their commands and where the difference comes from: ``benchmarks/results/pretrain_speed.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import numpy as np
import torch


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--presets", nargs="+", default=["tiny", "base"], choices=["tiny", "base", "large"])
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--seconds", type=float, default=4.0, help="longest utterance; others are 60-100%% of it")
    p.add_argument("--steps", type=int, default=5, help="timed steps per model")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-hf", action="store_true", help="time audiocl only")
    p.add_argument("--keep-layerdrop", action="store_true",
                   help="keep the preset's LayerDrop (default: 0 for both models, so that random layer skips "
                        "do not make one model's few timed steps cheaper than the other's)")
    return p.parse_args(argv)


def make_batch(batch_size: int, seconds: float, seed: int, device):
    g = torch.Generator().manual_seed(seed)
    tmax = int(seconds * 16000)
    lengths = (tmax * (0.6 + 0.4 * torch.rand(batch_size, generator=g))).long()
    lengths[0] = tmax
    wav = 0.1 * torch.randn(batch_size, tmax, generator=g)
    pad = torch.arange(tmax)[None, :] >= lengths[:, None]
    wav = wav.masked_fill(pad, 0.0)
    return wav.to(device), lengths.to(device), (~pad).long().to(device)


def sync(device):
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def autocast(device, dtype):
    if dtype == "bf16":
        return torch.autocast(device_type=str(device).split(":")[0], dtype=torch.bfloat16)
    return contextlib.nullcontext()


def model_config(preset: str):
    """``(Wav2Vec2Config, source)``: the ``model:`` section of ``configs/pretrain/<preset>.yaml`` when
    present (what ``audiocl pretrain`` trains), else the built-in ``WAV2VEC2_PRESETS`` entry."""
    from pathlib import Path

    from audiocl.models.wav2vec2 import Wav2Vec2Config

    try:  # a bare GPU image may lack omegaconf: fall back to the built-in presets
        from omegaconf import OmegaConf
    except ImportError:
        OmegaConf = None

    path = Path(__file__).resolve().parent.parent / "configs" / "pretrain" / f"{preset}.yaml"
    if path.is_file() and OmegaConf is not None:
        node = OmegaConf.load(path)
        if node.get("ssl_type", "wav2vec2") == "wav2vec2" and "model" in node:
            cfg = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(Wav2Vec2Config), node.model))
            return cfg, str(path)
    return Wav2Vec2Config.preset(preset), f"WAV2VEC2_PRESETS[{preset!r}]"


def build(preset: str, device, with_hf: bool, keep_layerdrop: bool = False):
    from audiocl.hub.convert_hf import config_to_hf, load_hf_into
    from audiocl.models.wav2vec2 import Wav2Vec2ForPretraining

    cfg, source = model_config(preset)
    if cfg.frontend != "conv":
        # HF has only the raw-waveform conv front-end; compare the same (paper) architecture.
        print(f"# {preset}: front-end {cfg.frontend!r} -> 'conv' (HF has no other)", flush=True)
        cfg.frontend = "conv"
    if not keep_layerdrop:
        cfg.encoder_layerdrop = 0.0
    print(f"# {preset}: model config from {source} (layerdrop {cfg.encoder_layerdrop})", flush=True)
    ours = Wav2Vec2ForPretraining(cfg)
    hf = None
    if with_hf:
        import transformers

        hf_cfg = transformers.Wav2Vec2Config(**config_to_hf(cfg))
        hf = transformers.Wav2Vec2ForPreTraining(hf_cfg)
        load_hf_into(ours, hf.state_dict())  # identical starting weights
        hf.to(device).train()
    ours.to(device).train()
    return cfg, ours, hf


def make_optimizer(model, device):
    """AdamW as both trainers build it: ``audiocl pretrain`` and HF ``Trainer`` (default ``adamw_torch_fused``
    for torch >= 2.8) both use torch's fused kernel, so the optimizer costs both models the same."""
    return torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)


def _no_label(name: str):
    return contextlib.nullcontext()


def audiocl_step(model, opt, wav, lengths, step, device, dtype, label=_no_label):
    """One training step; ``label(phase)`` is a context manager around each phase (the profiler's ranges)."""
    model.set_num_updates(step)
    with label("forward"), autocast(device, dtype):
        out = model(wav, lengths)
    with label("backward"):
        out.loss.backward()
    with label("optimizer"):
        opt.step()
        opt.zero_grad(set_to_none=True)
    return float(out.loss.detach())


def hf_step(model, opt, wav, lengths, att, step, device, dtype, cfg, label=_no_label):
    from transformers.models.wav2vec2.modeling_wav2vec2 import _compute_mask_indices, _sample_negative_indices

    temp = max(cfg.latent_temp[0] * cfg.latent_temp[2] ** step, cfg.latent_temp[1])
    model.set_gumbel_temperature(temp)
    bsz = wav.shape[0]
    with label("masks + negatives"):
        flen = model._get_feat_extract_output_lengths(lengths.cpu())
        tlen = int(model._get_feat_extract_output_lengths(torch.tensor(wav.shape[1])))
        feat_att = (torch.arange(tlen)[None, :] < flen[:, None]).long()
        mask = _compute_mask_indices((bsz, tlen), cfg.mask_prob, cfg.mask_length, attention_mask=feat_att,
                                     min_masks=cfg.mask_min_masks)
        neg = _sample_negative_indices((bsz, tlen), cfg.num_negatives, mask_time_indices=mask)
        mask_t = torch.tensor(mask, device=device, dtype=torch.bool)
        neg_t = torch.tensor(neg, device=device, dtype=torch.long)
    with label("forward"), autocast(device, dtype):
        out = model(wav, attention_mask=att, mask_time_indices=mask_t, sampled_negative_indices=neg_t)
        loss = out.loss / mask_t.sum()
    with label("backward"):
        loss.backward()
    with label("optimizer"):
        opt.step()
        opt.zero_grad(set_to_none=True)
    return float(loss.detach())


def timed(fn, device):
    """Wall seconds and process CPU seconds of one step (CPU time is the robust number on a shared
    machine with one thread: it does not count time the process waited for a core)."""
    sync(device)
    c0, t0 = time.process_time(), time.perf_counter()
    loss = fn()
    sync(device)
    return (time.perf_counter() - t0, time.process_time() - c0), loss


def run_preset(preset: str, args) -> dict:
    device = torch.device(args.device)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    cfg, ours, hf = build(preset, device, not args.no_hf, args.keep_layerdrop)
    wav, lengths, att = make_batch(args.batch_size, args.seconds, args.seed, device)
    opt_a = make_optimizer(ours, device)
    opt_h = make_optimizer(hf, device) if hf is not None else None
    times_a, times_h, loss_a, loss_h = [], [], [], []
    for step in range(args.warmup + args.steps):
        ta, la = timed(lambda: audiocl_step(ours, opt_a, wav, lengths, step, device, args.dtype), device)
        if hf is not None:
            th, lh = timed(lambda: hf_step(hf, opt_h, wav, lengths, att, step, device, args.dtype, cfg), device)
        if step >= args.warmup:
            times_a.append(ta)
            loss_a.append(la)
            if hf is not None:
                times_h.append(th)
                loss_h.append(lh)
    res = {"preset": preset, "audiocl_s": statistics.median(t[0] for t in times_a),
           "audiocl_cpu_s": statistics.median(t[1] for t in times_a), "audiocl_loss": loss_a[-1]}
    if hf is not None:
        res.update(hf_s=statistics.median(t[0] for t in times_h), hf_cpu_s=statistics.median(t[1] for t in times_h),
                   hf_loss=loss_h[-1])
        res["speedup"] = res["hf_s"] / res["audiocl_s"]
        res["speedup_cpu"] = res["hf_cpu_s"] / res["audiocl_cpu_s"]
    return res


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    dev = args.device
    name = torch.cuda.get_device_name(0) if dev.startswith("cuda") else f"cpu x{args.threads} threads"
    print(f"# device={dev} ({name}) dtype={args.dtype} batch={args.batch_size} x <= {args.seconds}s "
          f"steps={args.steps} (+{args.warmup} warm-up) torch={torch.__version__}")
    for preset in args.presets:
        r = run_preset(preset, args)
        line = (f"{preset:5s} audiocl {r['audiocl_s'] * 1000:8.1f} ms/step wall, {r['audiocl_cpu_s'] * 1000:8.1f} ms cpu"
                f" (loss {r['audiocl_loss']:.3f})")
        if "hf_s" in r:
            line += (f" | HF {r['hf_s'] * 1000:8.1f} ms/step wall, {r['hf_cpu_s'] * 1000:8.1f} ms cpu"
                     f" (loss {r['hf_loss']:.3f}) | speed-up x{r['speedup']:.2f} wall, x{r['speedup_cpu']:.2f} cpu")
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
