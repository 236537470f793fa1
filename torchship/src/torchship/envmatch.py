"""Does an environment match what a pinned base declares? One rule, used everywhere.

A base may declare `torch`, `cuda` and `python` ([tool.torchship.bases.<env>]). The image
build checks them against what a built image holds; the commit hooks use them to find the
environment that matches the developer's local torch. Both ask `disagreements` here.

The rule, per key (`version_matches`):

- `none`, `cpu` or an empty string declare the absence (a CPU build: no CUDA); the found
  value must be absent too (None, or one of those words).
- A version matches on version boundaries, compared by its public part: `12` matches
  `12`, `12.6` and `12.6.1` but not `120`; `12.1` does not match `12.10`; `2.13.0` matches
  `2.13.0+cu126` (the local suffix names a build of that version).
- A declared local suffix must be there: `2.13.0+cu126` matches only `2.13.0+cu126`
  (or a longer public version with that suffix, e.g. `2.13.0.1+cu126` for `2.13+cu126`).
- A key the base does not declare is not checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torchship.config import Base

KEYS = ("torch", "cuda", "python")
_ABSENT = frozenset({"", "none", "cpu"})


def _absent(value: str | None) -> bool:
    return value is None or value.strip().lower() in _ABSENT


def version_matches(declared: str, found: str | None) -> bool:
    """Does `found` (what an environment holds) satisfy `declared` (what a base says)?"""
    if _absent(declared):
        return _absent(found)
    if found is None or _absent(found):
        return False
    want, _, want_local = declared.strip().lower().partition("+")
    have, _, have_local = found.strip().lower().partition("+")
    if want_local and want_local != have_local:
        return False
    parts, prefix = have.split("."), want.split(".")
    return parts[:len(prefix)] == prefix


def disagreements(base: Base, found: Mapping[str, str | None]) -> list[str]:
    """Each key of `found` that contradicts what `base` declares, as `key found (declared
    X)`; keys the base does not declare, or `found` does not give, are not checked."""
    out = []
    for key in KEYS:
        declared: str | None = getattr(base, key)
        if declared is None or key not in found:
            continue
        if not version_matches(declared, found[key]):
            out.append(f"{key} {found[key] or 'none'} (declared {declared})")
    return out


def matches(base: Base, found: Mapping[str, str | None]) -> bool:
    """True when `found` agrees with everything `base` declares for its keys, and the base
    declares a torch (a base that declares none says nothing to match against)."""
    return base.torch is not None and not disagreements(base, found)
