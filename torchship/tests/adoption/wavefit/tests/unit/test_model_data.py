from __future__ import annotations

import torch

from wavefit.data import LENGTH, make_waves
from wavefit.model import make_model
from wavefit.models import build, names


def test_waves_are_a_pure_function_of_their_seed() -> None:
    a, b = make_waves(64, seed=1), make_waves(64, seed=1)
    assert torch.equal(a.tensors[0], b.tensors[0])
    assert a.tensors[0].shape == (64, 1, LENGTH)
    assert a.tensors[1].shape == (64,)


def test_the_model_maps_each_signal_to_one_float() -> None:
    out = make_model()(torch.randn(5, 1, LENGTH))
    assert out.shape == (5,)
    assert torch.isfinite(out).all()


def test_the_registry_builds_every_model() -> None:
    for name in names():
        assert build(name)(torch.randn(2, 1, LENGTH)).shape == (2,)
