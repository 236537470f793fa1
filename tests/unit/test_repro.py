from __future__ import annotations

import os
import random
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from mlproject.repro import CUBLAS_WORKSPACE, seed_everything, seed_worker, set_deterministic


def _draws() -> tuple[float, float, list[float]]:
    return random.random(), float(np.random.rand()), torch.rand(3).tolist()


def test_seed_everything_reproduces_python_numpy_and_torch() -> None:
    seed_everything(42)
    first = _draws()
    seed_everything(42)
    assert _draws() == first
    seed_everything(43)
    assert _draws() != first


def test_dataloader_order_follows_the_generator_with_workers() -> None:
    # The seeding helpers alone: an index dataset, not the project's data.
    data = TensorDataset(torch.arange(64))

    def order() -> list[int]:
        g = seed_everything(7)
        loader = DataLoader(data, batch_size=8, shuffle=True, generator=g, num_workers=2,
                            worker_init_fn=seed_worker)
        return [int(i) for (batch,) in loader for i in batch]

    first = order()
    assert first == order()
    assert sorted(first) == list(range(64))
    assert first != list(range(64))  # shuffled


@pytest.fixture
def restore_determinism() -> Iterator[None]:
    before = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic,
              torch.backends.cudnn.benchmark, os.environ.get("CUBLAS_WORKSPACE_CONFIG"))
    yield
    torch.use_deterministic_algorithms(before[0])
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = before[1], before[2]
    if before[3] is None:
        os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
    else:
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = before[3]


@pytest.mark.usefixtures("restore_determinism")
def test_set_deterministic_sets_every_flag_the_notes_name() -> None:
    os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
    set_deterministic(True)
    assert torch.are_deterministic_algorithms_enabled()
    assert torch.backends.cudnn.deterministic
    assert not torch.backends.cudnn.benchmark
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == CUBLAS_WORKSPACE
    set_deterministic(False)
    assert not torch.are_deterministic_algorithms_enabled()
    assert torch.backends.cudnn.benchmark
