"""The matrix against the real engine: images built (torchship.images.build) on the stand-in bases.

One module-scoped run covers four environments: two good images on the same stand-in
bases (`cpu`, `cpu-b`), one whose base cannot be pulled (build fails), and one whose
"devel" image is the runtime image, which has no test tools (its suites fail). The good
ones must still run every suite, and the run must name each failure.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from torchship.adapters.docker import Docker
from torchship.matrix import records, suites
from torchship.matrix import run as matrix
from torchship.testing import standins
from torchship.testing.engine import remove_images_of
from torchship.testing.standins import PinnedBases

ROOT = Path(__file__).resolve().parents[3]
# What the matrix builds in these tests (removed afterwards): a name of this session's own,
# for the engine is shared and the tags carry only the commit, which other checkouts share.
IMAGE = f"tsmx-test/mlproject-{uuid.uuid4().hex[:8]}"
BROKEN = "127.0.0.1:9/tsmx-test/no-such-base@sha256:" + "0" * 64


def _bases_toml(bases: PinnedBases, envs: dict[str, tuple[str, str]]) -> str:
    return "".join(f'[bases.{env}]\nruntime = "{rt}"\ndevel = "{dv}"\n\n'
                   for env, (rt, dv) in envs.items())


@pytest.fixture(scope="module")
def built_images(engine: Docker) -> Iterator[None]:
    """Remove the images the matrix builds under this module's image name afterwards."""
    yield
    remove_images_of(engine, IMAGE)


@pytest.fixture(scope="module")
def matrix_config(standin_bases: PinnedBases, tmp_path_factory: pytest.TempPathFactory,
                  ) -> Iterator[Path]:
    good = (standin_bases.runtime, standin_bases.devel)
    path = tmp_path_factory.mktemp("config") / "torchship.local.toml"
    path.write_text(f'require_digest = true\nimage = "{IMAGE}"\n\n' + _bases_toml(standin_bases, {
        "cpu": good, "cpu-b": good, "broken": (BROKEN, BROKEN), "no-tools": good}))
    mp = pytest.MonkeyPatch()
    mp.setenv("TORCHSHIP_LOCAL_CONFIG", str(path))
    yield path
    mp.undo()


@pytest.fixture(scope="module")
def container_run(matrix_config: Path, built_images: None,
                  tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The run, shown as on a CI log (stdout is no terminal: a line per event), that output
    kept in stdout.txt beside the run's folder."""
    out = tmp_path_factory.mktemp("matrix") / "run"
    runtime = matrix.default_builder(matrix.configmod.load(ROOT), "cpu", "runtime")
    opts = matrix.Options(root=ROOT, mode="containers", out=out, images={"no-tools": runtime})
    shown = io.StringIO()
    with pytest.raises(matrix.MatrixFailed) as failed, contextlib.redirect_stdout(shown):
        matrix.gpu_tests(opts)
    (out.parent / "stdout.txt").write_text(shown.getvalue())
    return out, failed.value.render()


def test_good_images_run_every_suite_and_agree(container_run: tuple[Path, str]) -> None:
    out, _ = container_run
    run = records.load(out)
    assert run.mode == "containers"
    assert [r.env for r in run.records] == ["cpu", "cpu-b", "broken", "no-tools"]
    for env in ("cpu", "cpu-b"):
        rec = run.record(env)
        assert rec is not None
        assert rec.status == "ok"
        assert rec.image is not None
        assert rec.image.startswith(f"{IMAGE}:")
        assert rec.image.endswith(f"-{env}-devel")
        assert rec.image_digest is not None
        assert rec.image_digest.startswith("sha256:")
        for name in ("unit", "e2e"):
            s = rec.suite(name)
            assert s is not None
            assert s.status == "passed", s
        assert rec.smoke is not None
        assert rec.smoke.status == "passed"
        # The fingerprint came from inside the image.
        assert rec.fingerprint["container"]["image"] == rec.image
        assert rec.fingerprint["container"]["env"] == env
        assert rec.training is not None
        assert rec.repeat is not None
        assert rec.repeat.first_difference(rec.training) is None
    a, b = run.record("cpu"), run.record("cpu-b")
    assert a is not None
    assert b is not None
    assert a.training is not None
    assert b.training is not None
    # Same bases, same torch: bitwise equal on the CPU (only the timings differ).
    assert a.training.first_difference(b.training) is None
    assert (out / "compare.md").exists()
    assert (out / "compare.json").exists()


def test_failures_are_recorded_and_named_without_stopping_the_others(
        container_run: tuple[Path, str]) -> None:
    out, message = container_run
    run = records.load(out)
    broken = run.record("broken")
    assert broken is not None
    assert broken.status == "build-failed"
    assert broken.reason
    no_tools = run.record("no-tools")
    assert no_tools is not None
    assert no_tools.status == "ok"
    assert all(s.status == "crashed" for s in no_tools.suites)
    assert "No module named nox" in no_tools.suites[0].reason
    assert "environment: broken: build-failed" in message
    assert "suite: no-tools: unit: crashed" in message
    cmp = json.loads((out / "compare.json").read_text())
    kinds = {(p["kind"], p["env"]) for p in cmp["problems"]}
    assert ("environment", "broken") in kinds
    assert ("suite", "no-tools") in kinds
    good = [p for p in cmp["problems"] if p["env"] in {"cpu", "cpu-b"}]
    if (ROOT / "tests" / "benchmarks").is_dir():
        assert good == []
    else:  # until the project has a benchmark suite, only that one may fail
        assert all(p["subject"] == "benchmark" for p in good)


def test_progress_names_each_build_and_suite_and_its_log(container_run: tuple[Path, str],
                                                         ) -> None:
    """Not on a terminal: a line per event, each naming the log that holds the whole output;
    a failure shows the tail of its log."""
    out, _ = container_run
    shown = (out.parent / "stdout.txt").read_text()
    lines = shown.splitlines()
    assert f"torchship matrix: logs in {out}/" in lines
    # Each image built: where its log is, each Dockerfile step, the end. BuildKit's own
    # lines (`#5 0.312 Collecting ...`) are in the log only.
    for env in ("cpu", "cpu-b"):
        for variant in ("devel", "runtime"):
            log = out / env / f"{env}-{variant}.build.log"
            assert f"image {env}/{variant}: building (log: {log})" in lines
            assert re.search(rf"^image {env}/{variant}: built in [\dm.]+s \(\d+/\d+ "
                             r"cached, [\d.]+ [MG]B\)$", shown, re.M), shown
            text = log.read_text()
            assert "#1 [internal] load build definition from" in text
            assert re.search(r"^#\d+ (CACHED|DONE [\d.]+s)$", text, re.M)
            steps = re.findall(rf"^image {env}/{variant}: \[{variant} \d+/\d+\] (\w+ .*): "
                               r"(?:cached|done [\d.]+s)$", shown, re.M)
            assert steps, shown
            # Each step as a person scans it: RUN without its mount flags, a FROM's digest
            # cut, one line of at most 72 characters.
            assert all(len(s) <= 72 and "--mount" not in s for s in steps), steps
    assert not re.search(r"^#\d+ ", shown, re.M)
    # Each suite: running, then its outcome, counts, time and log; the log is the suite's.
    for env in ("cpu", "cpu-b"):
        for suite in ("unit", "e2e", "smoke"):
            log = out / env / f"{suite}.log"
            assert f"suite {env} {suite}: running" in lines
            assert re.search(rf"^suite {env} {suite}: passed in [\dm.]+s.*; log: "
                             rf"{re.escape(str(log))}$", shown, re.M), shown
        assert "passed" in (out / env / "unit.log").read_text()
    # The environment that cannot build: its image's failure, then the reason it is skipped.
    assert re.search(r"^image broken/devel: failed after [\d.]+s: base of broken/devel is "
                     r"not available", shown, re.M)
    assert re.search(r"^environment broken: build-failed: ", shown, re.M)
    # A crashed suite: the tail of its log, then where the whole of it is.
    log = out / "no-tools" / "unit.log"
    start = lines.index(next(ln for ln in lines if ln.startswith("suite no-tools unit: crashed")))
    assert lines[start + 1] == f"── no-tools unit crashed: the last " \
        f"{len(log.read_text().splitlines()[-20:])} lines of {log}"
    assert "No module named nox" in "\n".join(lines[start + 2:start + 23])
    assert f"── full log: {log}" in lines[start + 2:start + 24]


def _good_only(out: Path, dest: Path) -> Path:
    """The run with only the two good environments (what a passing matrix looks like)."""
    shutil.copytree(out, dest)
    data = json.loads((dest / "run.json").read_text())
    data["records"] = [r for r in data["records"] if r["env"] in {"cpu", "cpu-b"}]
    (dest / "run.json").write_text(json.dumps(data))
    return dest


def test_planted_divergence_between_images_fails_and_is_named(
        container_run: tuple[Path, str], tmp_path: Path) -> None:
    folder = _good_only(container_run[0], tmp_path / "diverged")
    data = json.loads((folder / "run.json").read_text())
    data["records"][1]["training"]["final"]["accuracy"] -= 0.2
    (folder / "run.json").write_text(json.dumps(data))
    with pytest.raises(matrix.MatrixFailed, match=r"divergence: cpu-b: training: .*accuracy"):
        matrix.compare_only(matrix.Options(root=ROOT, show=False, png=False), folder)


def test_planted_benchmark_regression_fails_and_is_named(
        container_run: tuple[Path, str], tmp_path: Path) -> None:
    folder = _good_only(container_run[0], tmp_path / "current")
    run = records.load(folder)
    if not any(r.benchmarks for r in run.records):
        pytest.skip("the project has no benchmark suite yet")
    baseline = _good_only(container_run[0], tmp_path / "baseline")
    data = json.loads((baseline / "run.json").read_text())
    data["run_id"] = "faster-baseline"
    for rec in data["records"]:
        for b in rec["benchmarks"]:
            b["median"] /= 2
            b["min"] /= 2
    (baseline / "run.json").write_text(json.dumps(data))
    with pytest.raises(matrix.MatrixFailed, match=r"regression: cpu: test_"):
        matrix.compare_only(matrix.Options(root=ROOT, baseline=baseline, show=False), folder)
    assert (folder / "compare.png").exists()


def test_container_is_removed_when_the_body_fails(engine: Docker, standin_bases: PinnedBases,
                                                   tmp_path: Path) -> None:
    client = suites.client()
    spec = suites.ContainerSpec(root=ROOT, run_id="cleanup-test")
    name = "tsmx-test-cleanup"
    with pytest.raises(KeyboardInterrupt), suites.container(  # noqa: PT012  (the body raises)
            client, standins.tag("runtime"), ["sleep", "60"], spec=spec, results=tmp_path,
            env="cpu", name=name) as box:
        box.start()
        raise KeyboardInterrupt
    assert client.containers.list(all=True, filters={"name": name}) == []


def test_container_time_limit_stops_and_removes_it(engine: Docker, standin_bases: PinnedBases,
                                                   tmp_path: Path) -> None:
    client = suites.client()
    spec = suites.ContainerSpec(root=ROOT, run_id="limit-test")
    code, _, _, timed_out = suites.run_in(client, standins.tag("runtime"), ["sleep", "60"],
                                          spec=spec, results=tmp_path, env="cpu",
                                          name="tsmx-test-limit", limit=2)
    assert timed_out
    assert code is None
    assert client.containers.list(all=True, filters={"name": "tsmx-test-limit"}) == []


def test_container_has_no_network_and_a_read_only_source(engine: Docker,
                                                         standin_bases: PinnedBases,
                                                         tmp_path: Path) -> None:
    client = suites.client()
    spec = suites.ContainerSpec(root=ROOT, run_id="sandbox-test")
    script = ("import os, socket; print(sorted(os.listdir('/sys/class/net')));"
              "open('/results/ok', 'w').write('x');"
              "open('/src/nope', 'w')")
    code, out, _, _ = suites.run_in(client, standins.tag("runtime"), ["python", "-c", script],
                                    spec=spec, results=tmp_path, env="cpu",
                                    name="tsmx-test-sandbox", limit=60)
    assert code == 1
    assert "['lo']" in out
    assert "Read-only file system" in out
    assert (tmp_path / "ok").read_text() == "x"


def test_the_smoke_command_is_the_projects_and_sees_the_installed_package_only(
        engine: Docker, standin_bases: PinnedBases, tmp_path: Path) -> None:
    client = suites.client()
    spec = suites.ContainerSpec(root=ROOT, run_id="smoke-test", extra_env={"PYTHONPATH": "/src/src"})
    # Neither the mounted source nor the working directory (/src) is on the import path.
    check = ("import json, sys; bad = [p for p in sys.path if p in ('', '/src', '/src/src')]; "
             "assert not bad, bad; print(json.dumps({'ok': True}))")
    ok = suites.smoke_test(client, env="cpu", image=standins.tag("runtime"), spec=spec,
                           folder=tmp_path, command=["python", "-c", check])
    assert ok.status == "passed", ok.reason
    assert (tmp_path / "smoke.log").read_text().strip() == '{"ok": true}'
    broken = suites.smoke_test(client, env="cpu", image=standins.tag("runtime"), spec=spec,
                               folder=tmp_path, command=["python", "-m", "no_such_project.smoke"])
    assert broken.status == "failed"
    assert broken.reason.startswith("`python -m no_such_project.smoke` exited 1: ")
    assert "No module named 'no_such_project'" in broken.reason
    assert client.containers.list(all=True, filters={"label": f"{suites.LABEL}=smoke-test"}) == []


def test_require_gpu_without_an_nvidia_runtime_is_an_error(engine: Docker,
                                                           matrix_config: Path,
                                                           tmp_path: Path) -> None:
    if suites.nvidia_runtime(suites.client()):
        pytest.skip("this engine has an NVIDIA runtime")
    opts = matrix.Options(root=ROOT, mode="containers", require_gpu=True, out=tmp_path,
                          show=False)
    with pytest.raises(matrix.GpuMissing, match="--require-gpu"):
        matrix.gpu_tests(opts)


def test_gpu_device_requests() -> None:
    all_gpus = suites.ContainerSpec(root=ROOT, run_id="x", gpus=()).device_requests()
    assert all_gpus[0]["Count"] == -1
    assert all_gpus[0]["Capabilities"] == [["gpu"]]
    one = suites.ContainerSpec(root=ROOT, run_id="x", gpus=("1",)).device_requests()
    assert one[0]["DeviceIDs"] == ["1"]
    assert suites.ContainerSpec(root=ROOT, run_id="x").device_requests() == []


_HOLD = """
import sys
from pathlib import Path
from torchship.adapters.proc import raise_interrupt, signals
from torchship.matrix import suites
spec = suites.ContainerSpec(root=Path(sys.argv[1]), run_id=sys.argv[2])
with signals(raise_interrupt):  # as `torchship matrix` runs a matrix
    suites.run_in(suites.client(), sys.argv[3], ["sleep", "600"], spec=spec,
                  results=Path(sys.argv[4]), env="cpu", name=sys.argv[2],
                  limit=float(sys.argv[5]))
"""


def _holding(tmp_path: Path, name: str, limit: float = 600) -> subprocess.Popen[str]:
    """A real process running a container (sleep 600) the way a matrix run does, with
    `limit` as the suite's time limit; returns once the container is running."""
    client = suites.client()
    child = subprocess.Popen([sys.executable, "-c", _HOLD, str(ROOT), name,
                              standins.tag("runtime"), str(tmp_path), str(limit)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for _ in range(600):
        if client.containers.list(filters={"name": name, "status": "running"}):
            return child
        assert child.poll() is None, child.communicate()
        time.sleep(0.1)
    child.kill()
    raise AssertionError("the container never started")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_terminated_run_leaves_no_container(engine: Docker, standin_bases: PinnedBases,
                                              tmp_path: Path, sig: signal.Signals) -> None:
    name = f"tsmx-test-{sig.name.lower()}-{uuid.uuid4().hex[:6]}"
    child = _holding(tmp_path, name)
    child.send_signal(sig)
    child.communicate(timeout=60)
    assert child.returncode != 0
    assert suites.client().containers.list(all=True, filters={"name": name}) == []


def test_a_killed_runs_containers_are_removed_by_the_next_run(engine: Docker,
                                                              standin_bases: PinnedBases,
                                                              tmp_path: Path) -> None:
    """SIGKILL cannot be caught: the container outlives its process until the next run
    (run_containers calls remove_orphans first) removes it, found by its owner label."""
    name = f"tsmx-test-sigkill-{uuid.uuid4().hex[:6]}"
    child = _holding(tmp_path, name)
    child.kill()
    child.communicate(timeout=60)
    client = suites.client()
    assert client.containers.list(all=True, filters={"name": name}) != []  # left behind
    assert name in suites.remove_orphans(client)
    assert client.containers.list(all=True, filters={"name": name}) == []


def test_a_killed_runs_container_stops_at_the_suites_time_limit(engine: Docker,
                                                                standin_bases: PinnedBases,
                                                                tmp_path: Path) -> None:
    """Until a next run removes it, a SIGKILLed run's container is bounded by the suite's
    time limit, kept inside the container: it stops by itself at the limit plus the grace."""
    name = f"tsmx-test-bound-{uuid.uuid4().hex[:6]}"
    limit = 3.0
    child = _holding(tmp_path, name, limit=limit)
    child.kill()
    child.communicate(timeout=60)
    client = suites.client()
    started = time.monotonic()
    try:
        [box] = client.containers.list(all=True, filters={"name": name})
        code = box.wait(timeout=45)["StatusCode"]  # ReadTimeout: still running
        assert time.monotonic() - started < 40  # limit + grace (10 s), and some slack
        assert code == 124
        assert "the suite's time limit (the container's own bound)" in box.logs().decode()
    finally:
        suites.remove_orphans(client)
    assert client.containers.list(all=True, filters={"name": name}) == []
