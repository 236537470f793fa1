"""`images.pin` and `images.push` round-trip through the session's real registry."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import tomlkit

from torchship import config as tsconfig
from torchship.adapters.docker import Docker
from torchship.errors import TorchshipError
from torchship.images.build import Built
from torchship.images.pin import PinError, pin
from torchship.images.publish import push
from torchship.images.reference import Reference
from torchship.images.registry import resolve_digest
from torchship.testing.standins import PinnedBases, Registry

pytestmark = [pytest.mark.docker]


def unpinned(bases: PinnedBases) -> str:
    """A torchship.local.toml naming the stand-ins by tag only, with a comment to keep."""
    runtime, devel = (ref.split("@")[0] for ref in (bases.runtime, bases.devel))
    return (
        "# my machine's bases: keep this comment\n"
        'image = "127.0.0.1:1/never-used"\n\n'
        "[bases.cpu]\n"
        f'runtime = "{runtime}"  # the runtime base\n'
        f'devel = "{devel}"\n'
        'torch = "2.13.0"\n'
    )


def invoke(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=project,
                          capture_output=True, text=True, check=False)


def test_pin_writes_digests_keeping_comments_then_check_passes(
    project: Path, standin_bases: PinnedBases
) -> None:
    local = project / "torchship.local.toml"
    local.write_text(unpinned(standin_bases))
    with pytest.raises(PinError, match=r"bases\.cpu\.runtime is not pinned"):
        pin(project, check=True)
    out = invoke(project, "images.pin")
    assert out.returncode == 0, out.stderr
    text = local.read_text()
    assert "# my machine's bases: keep this comment" in text
    assert "# the runtime base" in text
    doc = tomlkit.parse(text)
    assert str(doc["bases"]["cpu"]["runtime"]) == standin_bases.runtime  # type: ignore[index]
    assert str(doc["bases"]["cpu"]["devel"]) == standin_bases.devel  # type: ignore[index]
    check = invoke(project, "images.pin", "--check")
    assert check.returncode == 0, check.stderr
    assert tsconfig.load(project).bases["cpu"].runtime.digest == standin_bases.runtime[-71:]


def test_pin_check_fails_when_a_tag_moved(
    project: Path, standin_bases: PinnedBases, engine: Docker, registry: Registry
) -> None:
    local = project / "torchship.local.toml"
    local.write_text(unpinned(standin_bases))
    pin(project)
    before = local.read_text()
    # Move a tag of our own: the devel stand-in pushed under a new tag, then the runtime one.
    moving = f"{registry.host}/tsimg-moving/base:v1"
    for source in (standin_bases.devel, standin_bases.runtime):
        engine("pull", source)
        engine("tag", source, moving)
        engine("push", moving)
        if source == standin_bases.devel:
            local.write_text(before.replace(standin_bases.runtime.split("@")[0], moving))
            pin(project)
            pinned_text = local.read_text()
    engine("rmi", moving, check=False)
    out = invoke(project, "images.pin", "--check")
    assert out.returncode == 1
    assert out.stderr.strip() == (
        "error: torchship.local.toml: bases.cpu.runtime is stale (1 of 2 bases) "
        "(run `invoke images.pin`)")
    assert local.read_text() == pinned_text  # --check changes nothing


def test_pin_names_an_unknown_tag(project: Path, registry: Registry) -> None:
    (project / "torchship.local.toml").write_text(
        f'[bases.cpu]\nruntime = "{registry.host}/tsimg-nothing/here:v1"\n'
        f'devel = "{registry.host}/tsimg-nothing/here:v1"\n')
    with pytest.raises(TorchshipError, match="tsimg-nothing/here:v1: not found in the registry"):
        pin(project)


def test_push_round_trips_through_the_registry(
    built: dict[str, Built], template: Path, engine: Docker
) -> None:
    cfg = tsconfig.load(template)
    tags = [t for b in built.values() for t in b.spec.tags]
    heard: list[str] = []
    pushed = push(cfg, tags, docker=engine, on_pushed=lambda p: heard.append(p.tag))
    assert [p.tag for p in pushed] == tags
    assert heard == tags  # each reported as it landed (the release journals it as published)
    for p in pushed:
        assert resolve_digest(p.tag) == p.digest
        ref = Reference.parse(p.tag)
        # Pulled back by digest: the same image id as the one built.
        pulled = engine("image", "inspect", "--format", "{{.Id}}", f"{ref.name}@{p.digest}")
        local = engine("image", "inspect", "--format", "{{.Id}}", p.tag)
        assert pulled.stdout.strip() == local.stdout.strip()


def test_push_refuses_images_that_were_not_built(project: Path) -> None:
    out = invoke(project, "images.push")
    assert out.returncode == 1
    assert "does not exist here (build it first: invoke images.build)" in out.stderr
