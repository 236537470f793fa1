"""The one rule for "does this environment match what a base declares" (torchship.envmatch),
as the image build and the commit hooks both use it."""

from __future__ import annotations

import pytest

from torchship.config import Base
from torchship.envmatch import disagreements, matches, version_matches
from torchship.images.probe import Found
from torchship.images.probe import disagreements as image_disagreements
from torchship.images.reference import Reference
from torchship.workflow.commitenv import LocalTorch
from torchship.workflow.commitenv import matches as commit_matches

REF = Reference("r/base", "1", "sha256:" + "0" * 64)


@pytest.mark.parametrize(("declared", "found", "expected"), [
    # A prefix matches on version boundaries only.
    ("12", "12.6", True),
    ("12", "12", True),
    ("12", "12.6.1", True),
    ("12", "120", False),
    ("1", "12.6", False),
    ("12.1", "12.1", True),
    ("12.1", "12.1.105", True),
    ("12.1", "12.10", False),
    ("12.6", "12", False),          # the environment says less than the base declares
    ("3.11", "3.11.2", True),
    ("3.1", "3.11.2", False),
    ("2.13", "2.13.0", True),
    ("2.1", "2.13.0", False),
    # A local version suffix names a build of the version: ignored unless declared.
    ("2.13.0", "2.13.0+cu126", True),
    ("2.13.0", "2.13.0+cpu", True),
    ("2.13", "2.13.0+cu126", True),
    ("2.13.0+cu126", "2.13.0+cu126", True),
    ("2.13.0+cu126", "2.13.0+CU126", True),
    ("2.13.0+cu126", "2.13.0+cpu", False),
    ("2.13.0+cu126", "2.13.0", False),
    ("2.13+cu126", "2.13.0+cu126", True),
    ("2.13.0", "2.13.1+cu126", False),
    # A pre-release is not the release it precedes.
    ("2.13.0", "2.13.0a0+git1234", False),
    # Declaring the absence of CUDA.
    ("none", None, True),
    ("cpu", None, True),
    ("None", "none", True),
    ("", None, True),
    ("none", "12.6", False),
    ("12.6", None, False),
    ("12.6", "none", False),
])
def test_version_matches(declared: str, found: str | None, expected: bool) -> None:
    assert version_matches(declared, found) is expected


def test_undeclared_keys_are_not_checked_and_found_keys_only_are() -> None:
    base = Base("cu126", REF, REF, torch="2.13.0", cuda="12")
    assert disagreements(base, {"torch": "2.13.0+cu126", "cuda": "12.6", "python": "3.12.1"}) == []
    assert disagreements(base, {"torch": "2.5.1+cu121"}) == ["torch 2.5.1+cu121 (declared 2.13.0)"]
    assert disagreements(base, {"cuda": None}) == ["cuda none (declared 12)"]
    assert not matches(Base("x", REF, REF, cuda="12"), {"torch": "2.13.0", "cuda": "12.6"})


def test_the_image_build_and_the_commit_hooks_agree_on_cuda_12() -> None:
    """The disagreement issue 10 names: `cuda = "12"` against an environment with 12.6."""
    base = Base("cu12", REF, REF, torch="2.13.0", cuda="12", python="3.11")
    image = Found(python="3.11.2", torch="2.13.0+cu126", cuda="12.6", cudnn="90100")
    local = LocalTorch("2.13.0+cu126", "12.6", "/usr/bin/python3")
    assert image_disagreements(base, image) == []
    assert commit_matches(base, local)
    other = Base("cu11", REF, REF, torch="2.13.0", cuda="11.8")
    assert image_disagreements(other, image) == ["cuda 12.6 (declared 11.8)"]
    assert not commit_matches(other, local)
    # A CPU base: a CUDA build of the same torch matches neither way.
    cpu = Base("cpu", REF, REF, torch="2.13.0", cuda="none")
    assert image_disagreements(cpu, image) == ["cuda 12.6 (declared none)"]
    assert not commit_matches(cpu, local)
    assert commit_matches(cpu, LocalTorch("2.13.0+cpu", None, "/usr/bin/python3"))
