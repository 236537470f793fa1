"""SIGTERM (a CI job cancelled) to `invoke images.build` or `invoke images.push`, or to the
same commands of `torchship images`: it cleans up as Ctrl-C does, says so in one line and
exits 143, as a shell reports SIGTERM."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from torchship import config as tsconfig
from torchship.adapters.docker import Docker
from torchship.images.spec import plan, provenance
from torchship.testing.standins import PinnedBases, write_local_config
from torchship.testing.standins import tag as standin_tag

pytestmark = [pytest.mark.docker, pytest.mark.slow]


#: The two ways to run an images command: the invoke task and the console command.
INVOKE = [sys.executable, "-m", "invoke"]
TORCHSHIP = [str(Path(sys.executable).parent / "torchship")]


def _start(project: Path, *args: str, via: list[str] = INVOKE) -> subprocess.Popen[str]:
    return subprocess.Popen([*via, *args], cwd=project, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for(what: str, check: object, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _images(engine: Docker, name: str) -> set[str]:
    out = engine("image", "ls", "--format", "{{.Repository}}:{{.Tag}}", name).stdout.split()
    return set(out)


@pytest.mark.parametrize("command", [[*INVOKE, "images.build"], [*TORCHSHIP, "images", "build"]],
                         ids=["invoke", "torchship"])
def test_sigterm_to_a_build_removes_what_it_built_and_says_so(project: Path, engine: Docker,
                                                               command: list[str]) -> None:
    image = tsconfig.load(project).image
    before = _images(engine, image)
    proc = _start(project, "--no-cache", "--verbose", via=command)
    logs = project / "results" / "images"
    try:
        # The second build under way: the first one (runtime) is built and must go too.
        _wait_for("the devel build", lambda: any(
            p.stat().st_size > 0 for p in logs.glob("*-devel.build.log")))
    finally:
        err = _terminate(proc, timeout=120)
    assert proc.returncode == 143, err
    assert err.strip().splitlines() == [
        "error: interrupted; the images this build made were removed (SIGTERM)"], err
    assert _images(engine, image) == before


def _terminate(proc: subprocess.Popen[str], *, timeout: float) -> str:
    """SIGTERM to `proc` (killed if it outlives `timeout`); what it wrote to stderr."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.communicate(timeout=timeout)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@pytest.fixture
def silent_registry() -> Iterator[str]:
    """A registry address that accepts connections and never answers: a push hangs there."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        server.close()


@pytest.mark.parametrize("command", [[*INVOKE, "images.push"], [*TORCHSHIP, "images", "push"]],
                         ids=["invoke", "torchship"])
def test_sigterm_to_a_push_says_so_in_one_line(project: Path, engine: Docker,
                                                standin_bases: PinnedBases,
                                                silent_registry: str, command: list[str]) -> None:
    write_local_config(project / "torchship.local.toml", standin_bases,
                       image=f"{silent_registry}/ts-hang/mlproject")
    cfg = tsconfig.load(project)
    tags = [t for s in plan(cfg, provenance(cfg)) for t in s.tags]
    for t in tags:  # what a build would have made: any image will do for the push
        engine("tag", standin_tag("runtime"), t)
    try:
        proc = _start(project, via=command)
        try:
            _wait_for("docker push", lambda: subprocess.run(
                ["pgrep", "-f", f"push {tags[0]}"], capture_output=True,
                check=False).returncode == 0, timeout=60)
            time.sleep(1)
        finally:
            err = _terminate(proc, timeout=60)
        assert proc.returncode == 143, err
        assert err.strip().splitlines() == [
            "error: interrupted; the images pushed before it (listed above) stay in the "
            "registry (SIGTERM)"], err
        assert subprocess.run(["pgrep", "-f", f"push {tags[0]}"], capture_output=True,
                              check=False).returncode == 1  # no docker push left behind
    finally:
        engine("rmi", *tags, check=False)
