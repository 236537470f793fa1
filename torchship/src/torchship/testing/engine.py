"""Session fixtures: the real Docker engine, a real registry, the pinned stand-in bases.

Import them in the conftest.py that needs them:

    from torchship.testing.engine import engine, registry, standin_bases  # noqa: F401

The stand-in images are built once per machine and cached (torchship.testing.standins); each
test session starts its own `docker-registry` on a free 127.0.0.1 port with storage in the
session's tmp folder, pushes the cached stand-ins there and pins them by digest, and stops
the registry when the session ends. Without an engine the tests skip, except under CI=true,
where they fail (CI must run them).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from torchship.adapters.docker import Docker
from torchship.testing import require
from torchship.testing.standins import PinnedBases, Registry


def remove_images_of(engine: Docker, repository: str) -> None:
    """Remove every local image of `repository`, whatever its tag: what a test's builds left."""
    tags = engine("image", "ls", "--format", "{{.Repository}}:{{.Tag}}", repository,
                  check=False).stdout.split()
    if tags:
        engine("rmi", "-f", *tags, check=False)


@pytest.fixture(scope="session")
def engine() -> Docker:
    """The docker client whose engine answers (torchship.adapters.docker's one check)."""
    from torchship.adapters.docker import EngineError, require_engine

    try:
        return require_engine()
    except EngineError as exc:
        require(False, exc.render())
        raise  # unreachable: require skipped or failed


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """A `docker-registry serve` of this session's own on 127.0.0.1."""
    import shutil

    from torchship.testing.standins import MACHINE_REGISTRY
    from torchship.testing.standins import registry as serve

    require(shutil.which("docker-registry") is not None,
            "docker-registry is not installed (scripts/ci_services.sh)")
    root = tmp_path_factory.mktemp("registry")
    # Seeded from the machine's stand-in registry when there is one: pushing the stand-ins
    # then moves no layer (gigabytes), only manifests.
    with serve(root, seed=MACHINE_REGISTRY / "storage") as reg:
        yield reg
    # Each session pushes gigabytes of stand-in layers: do not keep them.
    shutil.rmtree(root / "storage", ignore_errors=True)


@pytest.fixture(scope="session")
def standin_bases(engine: Docker, registry: Registry) -> Iterator[PinnedBases]:
    """The cached stand-in bases pushed to the session's registry, pinned by digest.
    Their registry names go with the session."""
    from torchship.testing.standins import publish

    pinned = publish(registry, engine)
    yield pinned
    # Builds and runs pull the bases by digest from this registry: drop those names (the
    # layers are the cached stand-ins' own, so only the references go).
    from torchship.images.reference import Reference

    for ref in (pinned.runtime, pinned.devel):
        engine("rmi", Reference.parse(ref).pinned, check=False)
