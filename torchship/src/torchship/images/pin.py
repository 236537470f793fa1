"""`invoke images.pin`: resolve every base reference to its digest, write it back.

The bases are edited where they came from, pyproject.toml's [tool.torchship.bases] or the
machine's torchship.local.toml, with tomlkit so comments and layout survive. `check` only
compares: a base without a digest, or whose tag now points at another digest, fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torchship.config import VARIANTS, local_config_path
from torchship.errors import ConfigError, TorchshipError
from torchship.images.reference import Reference


class PinError(TorchshipError):
    """Bases are not pinned, or pinned to digests their tags no longer have."""


@dataclass(frozen=True)
class Pin:
    key: str          # e.g. tool.torchship.bases.cu121.runtime
    old: str
    new: str

    @property
    def changed(self) -> bool:
        return self.old != self.new


def source_file(root: Path) -> tuple[Path, tuple[str, ...]]:
    """The file that holds the bases, and the table path of `bases` inside it."""
    local = local_config_path(root)
    if local.is_file():
        return local, ("bases",)
    return root / "pyproject.toml", ("tool", "torchship", "bases")


def resolve(ref: Reference, *, key: str) -> str:
    """The reference pinned to what its registry serves now."""
    from torchship.images.registry import resolve_digest

    if ref.tag:
        digest = resolve_digest(f"{ref.name}:{ref.tag}")
    elif ref.digest:
        digest = resolve_digest(f"{ref.name}@{ref.digest}")  # only checks it still exists
    else:
        raise ConfigError(key, f"{ref} has neither tag nor digest",
                          hint="give the tag to pin, e.g. name:2.5.1-cuda12.1-cudnn9-runtime")
    return str(Reference(ref.name, ref.tag, digest))


def pin(root: Path, *, check: bool = False) -> list[Pin]:
    """Pin every base (or, with `check`, fail when one is unpinned or stale)."""
    import tomlkit

    path, table_path = source_file(root)
    doc = tomlkit.parse(path.read_text())
    node: Any = doc
    for part in table_path:
        if part not in node:
            raise ConfigError(".".join(table_path), f"not found in {path.name}",
                              hint="add [tool.torchship.bases.<env>] with runtime and devel")
        node = node[part]
    pins: list[Pin] = []
    for env, table in node.items():
        for variant in VARIANTS:
            key = f"{'.'.join(table_path)}.{env}.{variant}"
            if variant not in table:
                raise ConfigError(key, "missing", hint="give the base image for this variant")
            old = str(table[variant])
            new = resolve(Reference.parse(old, key=key), key=key)
            pins.append(Pin(key, old, new))
            if not check and new != old:
                table[variant] = new
    if check:
        bad = [p for p in pins if p.changed]
        if bad:
            first = bad[0]
            what = "is not pinned" if "@" not in first.old else "is stale"
            raise PinError(f"{path.name}: {first.key} {what} ({len(bad)} of {len(pins)} bases)",
                           hint="run `invoke images.pin`")
    elif any(p.changed for p in pins):
        path.write_text(tomlkit.dumps(doc))
    return pins
