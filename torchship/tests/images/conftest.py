"""Fixtures for the image tests: the real engine, a registry of the session's own, the
stand-in bases pinned in it (torchship.testing.engine), and copies of the template
pointed at them through torchship.local.toml."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from torchship import config as tsconfig
from torchship.adapters.docker import Docker
from torchship.images.build import Built, build, remove_images
from torchship.testing.engine import engine, registry, standin_bases
from torchship.testing.standins import PinnedBases, Registry, write_local_config
from torchship.testing.template import copy_template as _copy
from torchship.testing.template import template_source

__all__ = ["engine", "registry", "standin_bases"]

def copy_template(dest: Path) -> Path:
    return _copy(template_source(Path(__file__).resolve().parents[3]), dest)


def point_at(project: Path, bases: PinnedBases, reg: Registry, *, name: str) -> None:
    """torchship.local.toml: the stand-in bases, images named into the session's registry."""
    write_local_config(project / "torchship.local.toml", bases,
                       image=f"{reg.host}/tsimg-test/{name}")


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory, standin_bases: PinnedBases,
             registry: Registry) -> Path:
    """One copy of the template for the whole session (tests must not change it)."""
    project = copy_template(tmp_path_factory.mktemp("template"))
    point_at(project, standin_bases, registry, name="mlproject")
    return project


@pytest.fixture(scope="session")
def built(engine: Docker, template: Path) -> Iterator[dict[str, Built]]:
    """Both variants of the template built once: {variant: Built}."""
    done = build(tsconfig.load(template), quiet=True, docker=engine)
    yield {b.spec.variant: b for b in done}
    remove_images([t for b in done for t in b.spec.tags], docker=engine)


@pytest.fixture
def project(tmp_path: Path, standin_bases: PinnedBases, registry: Registry,
            engine: Docker) -> Iterator[Path]:
    """A copy of the template of the test's own; the images it builds go with it."""
    project = copy_template(tmp_path / "project")
    name = f"p{abs(hash(tmp_path)) % 10**8}"
    point_at(project, standin_bases, registry, name=name)
    yield project
    image = f"{registry.host}/tsimg-test/{name}"
    tags = engine("image", "ls", "--format", "{{.Repository}}:{{.Tag}}", image).stdout.split()
    remove_images(tags, docker=engine)
