"""The models this project trains, by name (registry.toml: factory and its keyword arguments)."""

from __future__ import annotations

import importlib
import tomllib
from pathlib import Path
from typing import Any

from torch import nn

REGISTRY = Path(__file__).with_name("registry.toml")


def registry() -> dict[str, dict[str, Any]]:
    with REGISTRY.open("rb") as fh:
        return tomllib.load(fh)


def names() -> list[str]:
    return list(registry())


def build(name: str) -> nn.Module:
    entries = registry()
    if name not in entries:
        raise KeyError(f"no model {name!r} in {REGISTRY.name} (known: {', '.join(entries)})")
    module, _, function = entries[name]["factory"].partition(":")
    model: nn.Module = getattr(importlib.import_module(module), function)(**entries[name].get("kwargs", {}))
    return model
