"""Reproducibility helpers, as the PyTorch reproducibility notes prescribe.

https://pytorch.org/docs/stable/notes/randomness.html
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

# cuBLAS needs a fixed workspace for deterministic results on CUDA >= 10.2.
CUBLAS_WORKSPACE = ":4096:8"


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch (all devices); return a generator for DataLoaders."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return torch.Generator().manual_seed(seed)


def seed_worker(worker_id: int) -> None:
    """DataLoader worker_init_fn: derive numpy/random seeds from torch's per-worker seed."""
    worker_seed = torch.initial_seed() % 2**32
    np.random.seed(worker_seed)
    random.seed(worker_seed)


def set_deterministic(enabled: bool = True) -> None:
    """Deterministic algorithms, cuDNN without benchmarking, and a fixed cuBLAS workspace.

    Must run before the first CUDA call for CUBLAS_WORKSPACE_CONFIG to take effect.
    """
    if enabled:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    torch.use_deterministic_algorithms(enabled)
    torch.backends.cudnn.deterministic = enabled
    torch.backends.cudnn.benchmark = not enabled
