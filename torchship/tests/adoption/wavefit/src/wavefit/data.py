"""Noisy sine waves and their frequency: a seeded regression data set, made in-process."""

from __future__ import annotations

import math

import torch
from torch.utils.data import TensorDataset

LENGTH = 64


def make_waves(n: int = 2048, *, seed: int = 0, noise: float = 0.1) -> TensorDataset:
    """`n` signals of shape (1, LENGTH) and their frequency (cycles per window) as a float."""
    if n <= 0:
        raise ValueError("need n > 0")
    g = torch.Generator().manual_seed(seed)
    freq = 1.0 + 4.0 * torch.rand(n, generator=g)
    phase = 2 * math.pi * torch.rand(n, 1, generator=g)
    t = torch.linspace(0.0, 1.0, LENGTH).unsqueeze(0)
    signal = torch.sin(2 * math.pi * freq.unsqueeze(1) * t + phase)
    signal = signal + noise * torch.randn(n, LENGTH, generator=g)
    return TensorDataset(signal.unsqueeze(1).contiguous(), freq.contiguous())
