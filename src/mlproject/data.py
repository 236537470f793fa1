"""A deterministic synthetic classification data set, generated in-process from a seed.

Points on interleaved 2-D spirals, lifted to `features` dimensions by a fixed random
projection plus noise. Linear models cannot separate it; a small MLP learns it in seconds
on a CPU, so learning is visible in a short run.
"""

from __future__ import annotations

import hashlib
import inspect
import math
from typing import Any

import torch
from torch.utils.data import TensorDataset


def make_dataset(
    n: int = 4096, *, classes: int = 4, features: int = 32, seed: int = 0, noise: float = 0.15
) -> TensorDataset:
    """`n` samples of `features` floats and an integer label in [0, classes)."""
    if n <= 0 or classes < 2 or features < 2:
        raise ValueError("need n > 0, classes >= 2 and features >= 2")
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % classes
    t = torch.rand(n, generator=g) * 3.0 + 0.25  # radius/angle along each arm
    angle = t * 2.5 + labels.to(torch.float32) * (2 * math.pi / classes)
    plane = torch.stack((t * torch.cos(angle), t * torch.sin(angle)), dim=1)
    plane = plane + noise * torch.randn(n, 2, generator=g)
    projection = torch.randn(2, features, generator=g) / math.sqrt(2)
    x = torch.tanh(plane @ projection) + 0.05 * torch.randn(n, features, generator=g)
    order = torch.randperm(n, generator=g)
    return TensorDataset(x[order].contiguous(), labels[order].contiguous())


def split(dataset: TensorDataset, *, val_fraction: float = 0.2) -> tuple[TensorDataset, TensorDataset]:
    """A fixed train/validation split (the data set is already shuffled by its seed)."""
    x, y = dataset.tensors
    cut = int(len(y) * (1 - val_fraction))
    return TensorDataset(x[:cut], y[:cut]), TensorDataset(x[cut:], y[cut:])


def config(n: int, *, seed: int, **overrides: Any) -> dict[str, Any]:
    """What makes `make_dataset(n, seed=seed, **overrides)`: its name and every parameter."""
    params = {name: p.default for name, p in inspect.signature(make_dataset).parameters.items()
              if p.default is not inspect.Parameter.empty}
    return {"generator": f"{__name__}.make_dataset", **params, **overrides, "n": n, "seed": seed}


def sha256(dataset: TensorDataset) -> str:
    """The hex sha256 of the data set's tensors (dtype, shape and bytes, in order)."""
    digest = hashlib.sha256()
    for tensor in dataset.tensors:
        digest.update(f"{tensor.dtype}{tuple(tensor.shape)}".encode())
        digest.update(tensor.contiguous().cpu().numpy().tobytes())
    return digest.hexdigest()
