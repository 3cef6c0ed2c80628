"""Time and peak memory of InfoNCE at batch N x N, chunked vs unchunked, forward + backward.

Usage::

    python benchmarks/losses_chunked.py                      # CPU, N=4096, D=256, chunk 512
    python benchmarks/losses_chunked.py --device cuda        # GPU
    python benchmarks/losses_chunked.py --n 1024 --repeats 2 # quick

Three ways to compute the same NT-Xent-style loss (anchors = candidates = N normalized embeddings,
positive of row i = column (i + N/2) mod N, self excluded), all interleaved in one process:

- ``dense-contract``: the library's general path, ``InfoNCE()(sim, pos, valid)`` on the full
  ``(N, N)`` matrix with bool ``pos``/``valid`` masks (what every objective takes);
- ``dense-ce``: the leanest unchunked InfoNCE, ``F.cross_entropy`` on the ``(N, N)`` logits;
- ``chunked``: :meth:`InfoNCE.from_embeddings` with ``chunk_size`` rows (logits recomputed in backward).

Memory: on CUDA ``torch.cuda.max_memory_allocated`` minus the allocation before the step. On CPU,
peak resident set size growth: the kernel's high-water mark ``VmHWM`` is reset through
``/proc/self/clear_refs`` before each step and compared with ``VmRSS`` before it; the script re-executes
itself with ``MALLOC_MMAP_THRESHOLD_=65536`` so glibc returns freed buffers to the OS and the next
measurement starts from a clean baseline (tracemalloc does not see torch's allocations).
Prints medians and the ratios unchunked / chunked.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

if os.environ.get("MALLOC_MMAP_THRESHOLD_") is None and "--no-reexec" not in sys.argv:
    os.execve(sys.executable, [sys.executable, *sys.argv],
              {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"})

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import audiocl.losses as L  # noqa: E402


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(field)


class PeakMemory:
    """Peak extra memory of a block: CUDA allocator stats, or RSS high-water mark on CPU (MiB)."""

    def __init__(self, device: torch.device):
        self.device = device

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
        else:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # reset VmHWM to the current RSS
            self.base = _rss_kib("VmRSS") * 1024
        return self

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            self.peak = torch.cuda.max_memory_allocated() - self.base
        else:
            self.peak = _rss_kib("VmHWM") * 1024 - self.base
        self.mib = self.peak / 2**20


def make_steps(n: int, dim: int, chunk: int, device: torch.device):
    g = torch.Generator(device="cpu").manual_seed(0)
    base = torch.randn(n, dim, generator=g).to(device)
    pos_idx = (torch.arange(n, device=device) + n // 2) % n
    excl_idx = torch.arange(n, device=device)
    obj = L.get("infonce", temperature=0.1).to(device)

    def leaf():
        return base.clone().requires_grad_(True)

    def dense_contract():
        x = leaf()
        z = F.normalize(x, dim=-1)
        sim = z @ z.T
        rows = torch.arange(n, device=device)
        pos = torch.zeros(n, n, dtype=torch.bool, device=device)
        pos[rows, pos_idx] = True
        valid = torch.ones(n, n, dtype=torch.bool, device=device)
        valid[rows, excl_idx] = False
        out = obj(sim, pos, valid)
        out.loss.backward()
        return out.loss.detach(), x.grad

    def dense_ce():
        x = leaf()
        z = F.normalize(x, dim=-1)
        logits = (z @ z.T) / 0.1
        logits = logits.masked_fill(torch.eye(n, dtype=torch.bool, device=device), float("-inf"))
        loss = F.cross_entropy(logits, pos_idx)
        loss.backward()
        return loss.detach(), x.grad

    def chunked():
        x = leaf()
        z = F.normalize(x, dim=-1)
        out = obj.from_embeddings(z, z, pos_idx, excl_idx, chunk_size=chunk)
        out.loss.backward()
        return out.loss.detach(), x.grad

    return {"dense-contract": dense_contract, "dense-ce": dense_ce, "chunked": chunked}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=4096)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--chunk", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-reexec", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    steps = make_steps(args.n, args.dim, args.chunk, device)

    # correctness first: every variant gives the same loss and gradient
    ref_loss, ref_grad = steps["chunked"]()
    for name, fn in steps.items():
        loss, grad = fn()
        assert torch.allclose(loss, ref_loss, rtol=1e-4, atol=1e-5), (name, loss, ref_loss)
        assert torch.allclose(grad, ref_grad, rtol=1e-3, atol=1e-7), name

    times = {k: [] for k in steps}
    mems = {k: [] for k in steps}
    for _ in range(args.repeats):
        for name, fn in steps.items():  # interleaved, so load changes hit every variant alike
            with PeakMemory(device) as pm:
                if device.type == "cuda":
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
                fn()
                if device.type == "cuda":
                    torch.cuda.synchronize()
                times[name].append(time.perf_counter() - t0)
            mems[name].append(pm.mib)

    desc = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {args.threads} threads"
    mem_how = "torch.cuda.max_memory_allocated" if device.type == "cuda" else "peak RSS growth (VmHWM)"
    print(f"InfoNCE forward+backward, N={args.n} x {args.n}, D={args.dim}, chunk={args.chunk}, "
          f"{desc}, median of {args.repeats}; memory = {mem_how}")
    print(f"{'variant':16s} {'time ms':>9s} {'peak MiB':>9s}")
    med = {k: (statistics.median(times[k]), statistics.median(mems[k])) for k in steps}
    for k, (t, m) in med.items():
        print(f"{k:16s} {t * 1e3:9.2f} {m:9.1f}")
    tc, mc = med["chunked"]
    for k in ("dense-contract", "dense-ce"):
        t, m = med[k]
        print(f"ratio {k}/chunked: time {t / tc:.2f}x, peak memory {m / max(mc, 1e-9):.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
