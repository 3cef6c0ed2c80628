"""Time-series tests run single-threaded: the machine is shared and tiny models gain nothing from
more threads (oversubscribed OpenMP threads spin and slow every test down)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
