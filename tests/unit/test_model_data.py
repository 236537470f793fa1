from __future__ import annotations

import pytest
import torch

from mlproject.data import make_dataset, split
from mlproject.model import make_model
from mlproject.train import train_step


def test_dataset_is_a_pure_function_of_its_seed() -> None:
    a, b, c = make_dataset(256, seed=3), make_dataset(256, seed=3), make_dataset(256, seed=4)
    assert torch.equal(a.tensors[0], b.tensors[0])
    assert torch.equal(a.tensors[1], b.tensors[1])
    assert not torch.equal(a.tensors[0], c.tensors[0])


def test_dataset_shapes_and_balanced_labels() -> None:
    x, y = make_dataset(400, classes=4, features=32, seed=0).tensors
    assert x.shape == (400, 32)
    assert x.dtype == torch.float32
    assert y.dtype == torch.int64
    assert torch.bincount(y).tolist() == [100, 100, 100, 100]
    assert torch.isfinite(x).all()


def test_split_is_disjoint_and_complete() -> None:
    train, val = split(make_dataset(100, seed=0), val_fraction=0.2)
    assert (len(train), len(val)) == (80, 20)


def test_bad_dataset_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="classes >= 2"):
        make_dataset(10, classes=1)


def test_model_maps_features_to_logits() -> None:
    model = make_model(features=32, classes=4)
    assert model(torch.randn(5, 32)).shape == (5, 4)


def test_train_step_lowers_the_loss_on_a_batch() -> None:
    torch.manual_seed(0)
    x, y = make_dataset(256, seed=0).tensors
    model = make_model()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    first = float(train_step(model, x, y, opt, loss_fn))
    for _ in range(30):
        last = float(train_step(model, x, y, opt, loss_fn))
    assert last < first * 0.7
