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

from torchship.dockercli import Docker
from torchship.testing import require
from torchship.testing.standins import PinnedBases, Registry


@pytest.fixture(scope="session")
def engine() -> Docker:
    """The docker client whose engine answers."""
    from torchship.dockercli import EngineError, engine_answers, find

    try:
        docker = find()
    except EngineError as exc:
        require(False, exc.render())
        raise  # unreachable: require skipped or failed
    require(engine_answers(docker), "the Docker engine does not answer (scripts/ci_services.sh)")
    return docker


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """A `docker-registry serve` of this session's own on 127.0.0.1."""
    import shutil

    from torchship.testing.standins import registry as serve

    require(shutil.which("docker-registry") is not None,
            "docker-registry is not installed (scripts/ci_services.sh)")
    with serve(tmp_path_factory.mktemp("registry")) as reg:
        yield reg


@pytest.fixture(scope="session")
def standin_bases(engine: Docker, registry: Registry) -> Iterator[PinnedBases]:
    """The cached stand-in bases pushed to the session's registry, pinned by digest.
    Their registry names go with the session."""
    from torchship.testing.standins import publish

    pinned = publish(registry, engine)
    yield pinned
    # Images that builds pulled by digest from this registry: untag them (the layers are
    # shared with the cached stand-ins, so nothing is deleted but the names).
    for ref in (pinned.runtime, pinned.devel):
        name = ref.split("@")[0].rsplit(":", 1)[0]
        listed = engine("image", "ls", "--format", "{{.Repository}}@{{.Digest}}", name,
                        check=False).stdout.split()
        for entry in listed:
            engine("rmi", entry, check=False)
