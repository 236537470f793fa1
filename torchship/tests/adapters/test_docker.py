"""The one door to Docker (torchship.adapters.docker): the CLI's current context decides the
engine, and the SDK client talks to that same engine; one check, one error.

Contexts are made with the real CLI in a docker config folder of the test's own
($DOCKER_CONFIG), so the user's contexts are never touched.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from torchship.adapters import docker as door
from torchship.matrix import suites
from torchship.testing import require

pytestmark = [pytest.mark.docker]

DEAD = "tcp://127.0.0.1:9"  # the discard port: nothing answers Docker's API there


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> door.Docker:
    """The client, with a docker config folder of the test's own."""
    try:
        found = door.require_engine()
    except door.EngineError as exc:
        require(False, exc.render())
        raise
    for var in ("DOCKER_HOST", "DOCKER_CONTEXT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
    return found


def context(cli: door.Docker, name: str, host: str) -> None:
    cli("context", "create", name, "--docker", f"host={host}")


def test_the_current_context_decides_the_engine_for_the_cli_and_the_sdk(
        cli: door.Docker) -> None:
    real = cli.endpoint.host
    context(cli, "mine", real)
    cli("context", "use", "mine")
    docker = door.require_engine()
    assert docker.endpoint == door.Endpoint(real, "mine")
    # Builds (the CLI) and containers (the SDK) meet the same engine.
    engine_id = docker("info", "--format", "{{.ID}}").stdout.strip()
    client = door.client()
    try:
        assert client.info()["ID"] == engine_id
    finally:
        client.close()


def test_an_engine_that_does_not_answer_is_one_error_naming_the_endpoint(
        cli: door.Docker, monkeypatch: pytest.MonkeyPatch) -> None:
    context(cli, "elsewhere", DEAD)
    monkeypatch.setenv("DOCKER_CONTEXT", "elsewhere")
    message = (f"the Docker engine at {DEAD} (docker context 'elsewhere') does not answer "
               "(start it (as root: scripts/ci_services.sh), or choose another with "
               "`docker context use` or DOCKER_HOST)")
    with pytest.raises(door.EngineError) as cli_check:
        door.require_engine()
    assert cli_check.value.render() == message
    with pytest.raises(door.EngineError) as sdk_check:
        door.client()
    assert sdk_check.value.render() == message
    assert not door.engine_answers()
    assert not suites.engine_available()  # the matrix falls back to the host


def test_docker_host_wins_over_the_context_as_the_cli_has_it(
        cli: door.Docker, monkeypatch: pytest.MonkeyPatch) -> None:
    context(cli, "elsewhere", DEAD)
    cli("context", "use", "elsewhere")
    monkeypatch.setenv("DOCKER_HOST", cli.endpoint.host)
    docker = door.require_engine()
    assert docker.endpoint.host == cli.endpoint.host
    assert docker.endpoint.context == "default"
