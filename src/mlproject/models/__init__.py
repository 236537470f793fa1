"""The models this project trains, by name: `python -m mlproject.train --model NAME`.

registry.toml maps each name to a factory ("module:function") and the keyword arguments
it is called with. `invoke model.new NAME` adds an entry, a module beside this file and
its tests, on a branch of its own.
"""

from __future__ import annotations

import importlib
import tomllib
from pathlib import Path
from typing import Any

from torch import nn

REGISTRY = Path(__file__).with_name("registry.toml")


def registry() -> dict[str, dict[str, Any]]:
    """Every registered model's entry, by name."""
    with REGISTRY.open("rb") as fh:
        return tomllib.load(fh)


def names() -> list[str]:
    return list(registry())


def build(name: str, **overrides: Any) -> nn.Module:
    """The model registered as `name`: its factory called with the entry's kwargs, and
    `overrides` on top (what only the data knows, such as a vocabulary's size)."""
    entries = registry()
    if name not in entries:
        raise KeyError(f"no model {name!r} in {REGISTRY.name} (known: {', '.join(entries)})")
    module, _, function = entries[name]["factory"].partition(":")
    factory = getattr(importlib.import_module(module), function)
    model: nn.Module = factory(**{**entries[name].get("kwargs", {}), **overrides})
    return model
