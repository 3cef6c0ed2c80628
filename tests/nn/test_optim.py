"""The trainers' AdamW: fused where torch has the kernel, the per-tensor loop otherwise."""

from __future__ import annotations

import torch

from audiocl.nn.optim import adamw


def test_fused_for_float_cpu_parameters_with_the_given_options():
    opt = adamw(torch.nn.Linear(3, 2).parameters(), lr=0.01, weight_decay=0.1)
    assert opt.defaults["fused"] is True and opt.defaults["lr"] == 0.01 and opt.defaults["weight_decay"] == 0.1


def test_loop_when_a_parameter_is_not_floating_point():
    params = [torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2, dtype=torch.complex64))]
    assert not adamw(params, lr=0.01).defaults["fused"]
