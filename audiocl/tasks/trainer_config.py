"""How to train, shared by every task: :class:`TrainerConfig`.

Kept apart from :mod:`audiocl.tasks.runner` so that configs and commands that only need the options
(decoding, config resolution, ``--help``) do not import Lightning.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TrainerConfig:
    """Everything about *how* to train, shared by all tasks."""

    max_steps: int = 1000
    """Optimizer updates (fairseq ``max_update``)."""
    accumulate_grad_batches: int = 1
    """Gradient accumulation (fairseq ``update_freq``)."""
    gradient_clip_val: float = 0.0
    """Clip the global gradient norm to this value; 0 = no clipping."""
    precision: str = "auto"
    """``auto`` = ``bf16-mixed`` on GPU, ``32-true`` on CPU; or any Lightning precision string."""
    accelerator: str = "auto"
    devices: str = "auto"
    """``auto``, a count (``"4"``) or a list of ids (``"0,1"``)."""
    num_nodes: int = 1
    strategy: str = "auto"
    """``auto`` | ``ddp`` | ``ddp_find_unused_parameters_true`` | ``fsdp`` | ``ddp_spawn`` (see docs/distributed.md)."""
    checkpoint_every_n_steps: int = 100
    log_every_n_steps: int = 10
    seed: int = 0
    deterministic: bool = False
    """``torch.use_deterministic_algorithms``: needed for bit-identical resume on GPU."""
    progress_bar: bool = True
    num_workers: int = 0
    """DataLoader worker processes."""
    num_threads: int = 0
    """``torch.set_num_threads`` when > 0 (CPU training on a shared machine)."""
    max_consecutive_bad_batches: int = 20
    keep_checkpoints: int = 2
    """Checkpoints kept (``last.ckpt``, ``last-1.ckpt``, ...): resume falls back to an older one when the
    newest is corrupt."""
    save_on_signal: bool = True
    """SIGTERM / SIGINT / SIGUSR1 finish the step, save a checkpoint and stop (exit status 128 + signal)."""
    requeue_on_slurm: bool = True
    """After a signal under SLURM, ``scontrol requeue`` the job so it resumes by itself."""
