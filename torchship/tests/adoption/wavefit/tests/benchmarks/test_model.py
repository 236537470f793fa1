"""The wave model's forward pass and one training step on the CPU (pytest-benchmark)."""

from __future__ import annotations

import pytest
import torch
from pytest_benchmark.fixture import BenchmarkFixture

from wavefit.data import make_waves
from wavefit.model import make_model


@pytest.mark.parametrize("batch", [64, 256])
def test_forward(benchmark: BenchmarkFixture, batch: int) -> None:
    torch.manual_seed(0)
    model = make_model().eval()
    x = make_waves(batch, seed=0).tensors[0]
    with torch.no_grad():
        out = benchmark(model, x)
    assert out.shape == (batch,)


def test_train_step(benchmark: BenchmarkFixture) -> None:
    torch.manual_seed(0)
    model = make_model()
    x, y = make_waves(128, seed=0).tensors
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)

    def step() -> float:
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        return float(loss)

    assert benchmark(step) > 0
