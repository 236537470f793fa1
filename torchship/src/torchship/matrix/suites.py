"""Run the suites in one environment -> a Record: on the host, or inside an image.

Either way a suite is `python -m nox --no-venv -s <suite>` with $TORCHSHIP_RESULTS naming
a folder of its own, and $TORCHSHIP_TRAIN_DIR / $TORCHSHIP_REPEAT_DIR the folders inside it
where the e2e suite leaves its training run and its same-seed repeat ([tool.torchship.metrics]);
the junit XML, benchmark JSON and training metrics the suites leave there become the record.
In an image each suite gets a fresh container (no network, the source read-only, the
results folder writable, the host's uid, GPUs when asked), stopped at the suite's time
limit and removed afterwards, also on failure or Ctrl-C; the runtime image runs the
project's own smoke command ([tool.torchship.project] smoke).
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torchship.adapters import proc
from torchship.config import Metrics
from torchship.errors import CommandFailed, TorchshipError
from torchship.matrix.records import (
    LOCAL,
    SUITES,
    Record,
    RecordError,
    SuiteResult,
    TestResult,
    collect_suite_outputs,
    collect_training,
    junit_name,
)

if TYPE_CHECKING:
    from docker import DockerClient
    from docker.models.containers import Container

    from torchship.ui.progress import Display

SRC = "/src"            # where the source is mounted (read-only) in a container
RESULTS = "/results"    # the container's one writable folder
LABEL = "torchship.matrix"
# host:pid of the process that started the container, so that the next run can remove what a
# killed one (SIGKILL, a lost terminal) left behind.
OWNER = "torchship.matrix.owner"
# What makes a read-only source tree and an arbitrary uid work: nothing written beside the
# code (bytecode, pytest cache), a HOME that exists, the mounted source first on the path.
CONTAINER_ENV = {
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONPATH": f"{SRC}/src",
    "HOME": "/tmp",
    "TORCHSHIP_RESULTS": RESULTS,
    "PYTEST_ADDOPTS": "-p no:cacheprovider",
    "NOX_DEFAULT_VENV_BACKEND": "none",
}
SMOKE_LIMIT = 300.0     # seconds the runtime image's smoke command may take


def training_env(results: str | Path, metrics: Metrics) -> dict[str, str]:
    """Where the e2e suite leaves its training run and its repeat (empty: no repeat wanted)."""
    return {"TORCHSHIP_TRAIN_DIR": f"{results}/{metrics.train_dir}",
            "TORCHSHIP_REPEAT_DIR": f"{results}/{metrics.repeat_dir}" if metrics.repeat_dir else ""}


class SuiteError(TorchshipError):
    """A suite could not be started at all (not: a suite whose tests failed)."""


@dataclass(frozen=True)
class Limits:
    """A time limit per suite, in seconds (a hung suite is stopped and recorded)."""

    default: float = 900.0
    per_suite: Mapping[str, float] = field(default_factory=dict)

    def of(self, suite: str) -> float:
        return self.per_suite.get(suite, self.default)


def suite_result(suite: str, folder: Path, *, exit_code: int | None, seconds: float,
                 timed_out: bool = False, output: str = "") -> SuiteResult:
    """What a finished (or stopped) suite left behind, read into a SuiteResult."""
    from torchship.matrix.records import parse_junit

    junit = folder / f"junit-{junit_name(suite)}.xml"
    tests: tuple[TestResult, ...] = ()
    reason = ""
    if junit.exists():
        try:
            tests = parse_junit(junit, suite=suite)
        except RecordError as exc:
            reason = exc.render()
    if timed_out:
        return SuiteResult(suite, "timed-out", exit_code, seconds, tests,
                           f"stopped after the {seconds:.0f} s time limit")
    if exit_code == 0:
        return SuiteResult(suite, "passed", 0, seconds, tests)
    if any(t.outcome in ("failed", "error") for t in tests):
        return SuiteResult(suite, "failed", exit_code, seconds, tests, reason)
    last = _why(output)
    return SuiteResult(suite, "crashed", exit_code, seconds, tests,
                       reason or f"exit {exit_code}" + (f": {last[:200]}" if last else ""))


def _why(output: str) -> str:
    """The line of a crashed suite's output most likely to say why (an error, else the last)."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith(("ERROR", "E ", "error:", "Error", "/bin/sh:"))
              or "Error:" in ln or "No module named" in ln or "not found" in ln]
    plain = [ln for ln in lines if not ln.startswith("nox >")]
    return (errors or plain or lines or [""])[-1]


def gather(env: str, folder: Path, suites: Sequence[SuiteResult], *, image: str | None,
           digest: str | None, wall: float, metrics: Metrics,
           smoke: SuiteResult | None = None) -> Record:
    """A Record from the suite results and the files the suites left in `folder`.

    A file that breaks its contract (a metrics file against the schema, a benchmark JSON)
    makes the environment `failed`, naming the file and the field; its suites are kept."""
    record = Record(env=env, image=image, image_digest=digest, suites=tuple(suites),
                    wall_seconds=wall, smoke=smoke, host_load=round(os.getloadavg()[0], 2))
    try:
        _, benchmarks = collect_suite_outputs(folder)
        training, repeat = collect_training(folder, metrics)
    except RecordError as exc:
        return replace(record, status="failed", reason=exc.render())
    fingerprint: dict[str, Any] = {}
    # The tool's full fingerprint from inside the environment, else the training run's own.
    for candidate in (folder / "env.json", folder / metrics.train_dir / "env.json"):
        if candidate.exists():
            with contextlib.suppress(json.JSONDecodeError):
                fingerprint = json.loads(candidate.read_text())
                break
    return replace(record, benchmarks=benchmarks, training=training, repeat=repeat,
                   fingerprint=fingerprint)


# ---------------------------------------------------------------- on the host


def shown(display: Display | None, env: str, result: SuiteResult, log: Path) -> SuiteResult:
    """Tell the display (torchship.ui.progress) how a suite ended; return the result."""
    if display is not None:
        counts = ", ".join(f"{n} {o}" for o in ("passed", "failed", "skipped", "error")
                           if (n := result.count(o)))
        display.suite_done(env, result.suite, status=result.status,
                           seconds_taken=result.seconds, detail=counts, log=log)
    return result


def run_local(root: Path, folder: Path, *, metrics: Metrics, suites: Sequence[str] = SUITES,
              limits: Limits = Limits(), python: str | None = None,
              display: Display | None = None) -> Record:
    """Run the suites with the host's interpreter (no image): the `local` environment."""
    folder.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    results: list[SuiteResult] = []
    python = python or sys.executable
    # nox --no-venv finds pytest on PATH: the interpreter's own scripts must come first.
    path = os.pathsep.join([str(Path(python).parent), os.environ.get("PATH", "")])
    for suite in suites:
        t0 = time.monotonic()
        limit = limits.of(suite)
        if display is not None:
            display.suite_started(LOCAL, suite)
        try:
            done = proc.run([python, "-m", "nox", "--no-venv", "-f",
                             str(root / "noxfile.py"), "-s", suite], cwd=root,
                            env={"TORCHSHIP_RESULTS": str(folder), "PATH": path,
                                 **training_env(folder, metrics)}, check=False, timeout=limit)
            output, code, timed_out = done.stdout or "", done.returncode, False
        except CommandFailed as exc:  # with check=False, raised only at the time limit
            output, code, timed_out = exc.output, None, True
        (folder / f"{suite}.log").write_text(output)
        results.append(shown(display, LOCAL, suite_result(
            suite, folder, exit_code=code, timed_out=timed_out, seconds=time.monotonic() - t0,
            output=output), folder / f"{suite}.log"))
    from torchship import envinfo

    envinfo.write(folder / "env.json", root)
    return gather(LOCAL, folder, results, image=None, digest=None,
                  wall=time.monotonic() - started, metrics=metrics)


# ---------------------------------------------------------------- in a container


@dataclass(frozen=True)
class ContainerSpec:
    """How every container of a matrix run is started."""

    root: Path                       # the source tree, mounted read-only at /src
    run_id: str
    gpus: tuple[str, ...] | None = None   # None: no GPU; () all GPUs; ids: those GPUs
    extra_env: Mapping[str, str] = field(default_factory=dict)

    def device_requests(self) -> list[Any]:
        if self.gpus is None:
            return []
        from docker.types import DeviceRequest

        if not self.gpus:
            return [DeviceRequest(count=-1, capabilities=[["gpu"]])]
        return [DeviceRequest(device_ids=list(self.gpus), capabilities=[["gpu"]])]


def client() -> DockerClient:
    """A docker SDK client for the engine the docker CLI uses (torchship.adapters.docker)."""
    from torchship.adapters.docker import client as docker_client

    return docker_client()


def engine_available() -> bool:
    from torchship.adapters.docker import engine_answers

    return engine_answers()


def nvidia_runtime(c: DockerClient) -> bool:
    """True when the engine can give containers GPUs (the NVIDIA container runtime)."""
    info = c.info()
    return "nvidia" in (info.get("Runtimes") or {}) or bool(info.get("CDISpecDirs"))


@contextlib.contextmanager
def container(c: DockerClient, image: str, command: Sequence[str], *, spec: ContainerSpec,
              results: Path, env: str, name: str) -> Iterator[Container]:
    """A created (not started) container, removed on the way out whatever happened."""
    results.mkdir(parents=True, exist_ok=True)
    box = c.containers.create(
        image, list(command), name=name, network_mode="none", working_dir=SRC,
        user=f"{os.getuid()}:{os.getgid()}",
        volumes={str(spec.root): {"bind": SRC, "mode": "ro"},
                 str(results.resolve()): {"bind": RESULTS, "mode": "rw"}},
        environment={**CONTAINER_ENV, **spec.extra_env, "TORCHSHIP_ENV": env},
        device_requests=spec.device_requests(), labels={LABEL: spec.run_id, OWNER: owner()},
        detach=True)
    try:
        yield box
    finally:
        with contextlib.suppress(Exception):  # already gone is fine; others must not mask
            box.remove(force=True)


# The bound a container keeps by itself: should the process running the matrix die (SIGKILL,
# a lost machine) while a suite runs, its container stops GRACE seconds after the suite's time
# limit instead of running until the next matrix run removes it. The host stops it at the
# limit itself; this is the backstop. Python is in every image the matrix runs (the suites are
# `python -m nox`), where coreutils' `timeout` may not be; as PID 1 it is a parent that
# waits (the kernel does not deliver an unhandled signal to a namespace's init).
GRACE = 10.0
BOUND = """import subprocess, sys
limit = float(sys.argv[1])
child = subprocess.Popen(sys.argv[2:])
try:
    code = child.wait(timeout=limit)
except subprocess.TimeoutExpired:
    child.kill()
    child.wait()
    print(f"torchship: stopped after {limit:g} s, the suite's time limit (the container's "
          "own bound)", file=sys.stderr, flush=True)
    sys.exit(124)
sys.exit(code if code >= 0 else 128 - code)
"""


def bounded(command: Sequence[str], limit: float) -> list[str]:
    """`command` stopped inside its container at `limit` + GRACE seconds (exit 124)."""
    return ["python", "-c", BOUND, f"{limit + GRACE:g}", *command]


def run_in(c: DockerClient, image: str, command: Sequence[str], *, spec: ContainerSpec,
           results: Path, env: str, name: str, limit: float) -> tuple[int | None, str, float, bool]:
    """Run `command` in a fresh container: (exit code, output, seconds, timed out)."""
    import requests

    t0 = time.monotonic()
    with container(c, image, bounded(command, limit), spec=spec, results=results, env=env,
                   name=name) as box:
        box.start()
        try:
            code: int | None = int(box.wait(timeout=limit)["StatusCode"])
            timed_out = False
        except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
            box.kill()
            code, timed_out = None, True
        out = box.logs(stdout=True, stderr=True).decode(errors="replace")
    return code, out, time.monotonic() - t0, timed_out


def run_image(c: DockerClient, *, env: str, image: str, digest: str | None, spec: ContainerSpec,
              folder: Path, metrics: Metrics, suites: Sequence[str] = SUITES,
              limits: Limits = Limits(), runtime_image: str | None = None,
              smoke_command: Sequence[str] = (), display: Display | None = None) -> Record:
    """The suites in the devel image (one container each), then the runtime smoke test."""
    started = time.monotonic()
    spec = replace(spec, extra_env={**training_env(RESULTS, metrics), **spec.extra_env})
    results: list[SuiteResult] = []
    safe = env.replace("/", "-")
    for suite in suites:
        if display is not None:
            display.suite_started(env, suite)
        code, out, secs, timed_out = run_in(
            c, image, ["python", "-m", "nox", "--no-venv", "-f", f"{SRC}/noxfile.py", "-s", suite],
            spec=spec, results=folder, env=env, name=f"tsmx-{spec.run_id}-{safe}-{suite}",
            limit=limits.of(suite))
        (folder / f"{suite}.log").write_text(out)
        results.append(shown(display, env, suite_result(
            suite, folder, exit_code=code, seconds=secs, timed_out=timed_out, output=out),
            folder / f"{suite}.log"))
    code, out, _, _ = run_in(c, image, ["python", "-m", "torchship.envinfo", "--json"],
                             spec=spec, results=folder, env=env,
                             name=f"tsmx-{spec.run_id}-{safe}-envinfo", limit=120)
    if code == 0:
        with contextlib.suppress(json.JSONDecodeError):
            (folder / "env.json").write_text(json.dumps(json.loads(out), indent=2) + "\n")
    smoke = None
    if runtime_image and smoke_command:
        if display is not None:
            display.suite_started(env, "smoke")
        smoke = shown(display, env, smoke_test(c, env=env, image=runtime_image, spec=spec,
                                               folder=folder, command=smoke_command),
                      folder / "smoke.log")
    return gather(env, folder, results, image=image, digest=digest,
                  wall=time.monotonic() - started, metrics=metrics, smoke=smoke)


def smoke_test(c: DockerClient, *, env: str, image: str, spec: ContainerSpec, folder: Path,
               command: Sequence[str]) -> SuiteResult:
    """The runtime image runs the project's smoke command against the installed package:
    the mounted source is off the import path (no PYTHONPATH; PYTHONSAFEPATH keeps the
    working directory off it too)."""
    smoke_spec = ContainerSpec(root=spec.root, run_id=spec.run_id, gpus=spec.gpus,
                               extra_env={**spec.extra_env, "PYTHONPATH": "",
                                          "PYTHONSAFEPATH": "1"})
    code, out, secs, timed_out = run_in(
        c, image, list(command), spec=smoke_spec, results=folder / "smoke", env=env,
        name=f"tsmx-{spec.run_id}-{env}-smoke", limit=SMOKE_LIMIT)
    (folder / "smoke.log").write_text(out)
    if timed_out:
        return SuiteResult("smoke", "timed-out", None, secs, (),
                           f"stopped after {SMOKE_LIMIT:.0f} s")
    if code == 0:
        return SuiteResult("smoke", "passed", 0, secs)
    return SuiteResult("smoke", "failed", code, secs, (),
                       f"`{shlex.join(command)}` exited {code}: {_why(out)[:200]}")


def owner() -> str:
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"


def remove_orphans(c: DockerClient) -> list[str]:
    """Remove the containers of matrix runs on this host whose process is gone (killed, so
    it could not clean up): their names."""
    import socket

    host = socket.gethostname()
    gone = []
    for box in c.containers.list(all=True, filters={"label": OWNER}):
        who, _, pid = str(box.labels.get(OWNER, "")).rpartition(":")
        if who == host and pid.isdigit() and not proc.alive(int(pid)):
            with contextlib.suppress(Exception):  # removed meanwhile is fine
                box.remove(force=True)
                gone.append(str(box.name))
    return gone


def remove_run(c: DockerClient, run_id: str) -> None:
    """Force-remove every container a matrix run started (found by its label)."""
    for box in c.containers.list(all=True, filters={"label": f"{LABEL}={run_id}"}):
        with contextlib.suppress(Exception):  # gone meanwhile is fine
            box.remove(force=True)


def image_digest(c: DockerClient, image: str) -> str | None:
    """The image's repo digest when it has one, else its content id (sha256:...)."""
    img = c.images.get(image)
    digests = img.attrs.get("RepoDigests") or []
    return str(digests[0].split("@", 1)[1]) if digests else str(img.id)
