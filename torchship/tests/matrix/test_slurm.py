"""The matrix on a real Slurm cluster (`torchship matrix --on slurm`): the machine's one-node
cluster (scripts/slurm_cluster.sh), the real engine, and the devel images in a real registry.

Each environment is a real job: it pulls its image by digest and runs the unit suite in it
on the node; the shards come back through the run's folder and are merged into one report.
The environments all stand on the stand-in bases; what differs is the image each job runs:
the project's devel image (built and pushed by the runner itself), its runtime image as a
"devel" one (no test tools: its suite fails), or a devel image whose Python never starts
(every process sleeps in a .pth file: a job that runs into its time limit, or is cancelled).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from torchship.adapters import proc
from torchship.adapters import slurm as slurmctl
from torchship.adapters.docker import Docker
from torchship.images import publish
from torchship.matrix import records
from torchship.matrix import run as matrix
from torchship.matrix.runners.slurm import JOBS_FILE
from torchship.matrix.suites import LABEL
from torchship.testing import one_error
from torchship.testing.engine import remove_images_of
from torchship.testing.standins import PinnedBases, Registry

ROOT = Path(__file__).resolve().parents[3]
NAME = f"tsmx-slurm/mlproject-{uuid.uuid4().hex[:8]}"
ENVS = ("cpu", "cpu-b", "failing", "slow")
# Every Python process in this image sleeps before it starts: its suite never ends.
SLOW = ("RUN python -c \"import pathlib, site; pathlib.Path(site.getsitepackages()[0], "
        "'zz-slow.pth').write_text('import time; time.sleep(3600)\\n')\"\n")


@pytest.fixture(scope="module")
def cluster_config(slurm_cluster: None, standin_bases: PinnedBases, registry: Registry,
                   engine: Docker, tmp_path_factory: pytest.TempPathFactory,
                   ) -> Iterator[Path]:
    """A local configuration: four environments on the stand-ins, an image name in the
    session's registry, and one CPU per job (two jobs side by side on this 2-CPU node)."""
    path = tmp_path_factory.mktemp("slurm-config") / "torchship.local.toml"
    mp = pytest.MonkeyPatch()
    mp.setenv("TORCHSHIP_LOCAL_CONFIG", str(path))
    configure(path, registry, standin_bases, time=10)
    yield path
    mp.undo()
    remove_images_of(engine, f"{registry.host}/{NAME}")


def configure(path: Path, registry: Registry, bases: PinnedBases, *, time: int) -> None:
    path.write_text(
        f'require_digest = true\nimage = "{registry.host}/{NAME}"\n\n'
        + "".join(f'[bases.{env}]\nruntime = "{bases.runtime}"\ndevel = "{bases.devel}"\n\n'
                  for env in ENVS)
        + f"[slurm]\ntime = {time}\ncpus = 1\n")


@pytest.fixture(scope="module")
def images(cluster_config: Path, engine: Docker) -> dict[str, str]:
    """The runtime image (as a failing "devel" one) and the never-starting devel image,
    pushed to the session's registry, by digest."""
    cfg = matrix.configmod.load(ROOT)
    runtime = matrix.default_builder(cfg, "cpu", "runtime")
    devel = matrix.default_builder(cfg, "cpu", "devel")
    slow = f"{cfg.image}:slow-{uuid.uuid4().hex[:6]}"
    proc.run([engine.exe, "build", "--network", "none", "-t", slow, "-"], input=f"FROM {devel}\n{SLOW}",
             env={"DOCKER_BUILDKIT": "1"})
    pushed = publish.push(cfg, [runtime, slow], docker=engine)
    return {"failing": f"{runtime.rsplit(':', 1)[0]}@{pushed[0].digest}",
            "slow": f"{slow.rsplit(':', 1)[0]}@{pushed[1].digest}"}


def _main(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = matrix.main(["--on", "slurm", "--suite", "unit", *argv], root=ROOT)
    return code, out.getvalue(), err.getvalue()


def _jobs(folder: Path) -> dict[str, dict[str, str]]:
    return {j["label"]: j for j in json.loads((folder / JOBS_FILE).read_text())["jobs"]}


def test_two_environments_run_as_two_jobs_and_merge_into_one_passing_report(
        cluster_config: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    code, shown, err = _main("--env", "cpu", "--env", "cpu-b", "--out", str(out))
    assert code == 0, err + shown[-3000:]
    jobs = _jobs(out)
    assert sorted(jobs) == ["cpu-b@cpu", "cpu@cpu"]
    assert len({j["job_id"] for j in jobs.values()}) == 2
    assert all(j["state"] == "COMPLETED" for j in jobs.values())
    run = records.load(out)
    assert [r.env for r in run.records] == ["cpu@cpu", "cpu-b@cpu"]
    for rec in run.records:
        assert rec.status == "ok", rec.reason
        unit = rec.suite("unit")
        assert unit is not None
        assert unit.status == "passed"
        # The runner built the devel image and pushed it; the job pulled it by digest.
        assert rec.image is not None
        assert rec.image.startswith(f"{matrix.configmod.load(ROOT).image}@sha256:")
        assert rec.image == jobs[rec.env]["image"]
        # What the suite saw came from inside the image, on the job's node.
        assert rec.fingerprint["container"]["image"] == rec.image
    # Each job's shard is a gpu_tests folder of its own, in the run's (shared) folder.
    for label in jobs:
        assert (out / "shards" / label / "shard.json").is_file()
    assert (out / "compare.md").is_file()
    # The live display's lines (stdout is no terminal): each job's states as they changed.
    for label, j in jobs.items():
        assert f"job {j['job_id']} {label}: PENDING" in shown
        assert f"job {j['job_id']} {label}: COMPLETED" in shown


def test_a_failing_suite_and_a_timed_out_job_are_named_and_fail_the_run(
        cluster_config: Path, images: dict[str, str], registry: Registry,
        standin_bases: PinnedBases, engine: Docker, tmp_path: Path) -> None:
    configure(cluster_config, registry, standin_bases, time=1)   # a minute per job
    out = tmp_path / "run"
    code, shown, err = _main("--env", "failing", "--env", "slow", "--out", str(out),
                             "--image", f"failing={images['failing']}",
                             "--image", f"slow={images['slow']}")
    assert code == 1, err + shown[-3000:]
    jobs = _jobs(out)
    assert jobs["failing@cpu"]["state"] == "COMPLETED"
    assert jobs["slow@cpu"]["state"] == "TIMEOUT"
    run = records.load(out)
    failing, slow = run.record("failing@cpu"), run.record("slow@cpu")
    assert failing is not None
    assert slow is not None
    unit = failing.suite("unit")
    assert unit is not None
    assert unit.status == "crashed"   # no nox, no pytest in a runtime image
    # The timed-out job's shard is not merged: its record is the job's end, named.
    assert slow.status == "timed-out"
    assert slow.suites == ()
    assert f"Slurm job {jobs['slow@cpu']['job_id']} TIMEOUT" in slow.reason
    assert "time limit" in slow.reason
    assert "error: 2 problem(s)" in err
    assert "suite: failing@cpu: unit: crashed" in err
    assert "environment: slow@cpu: timed-out: Slurm job" in err
    report = (out / "compare.md").read_text()
    assert "slow@cpu" in report
    assert jobs["slow@cpu"]["job_id"] in report
    # The failed job's log tail was shown, and its containers did not outlive it.
    assert f"job {jobs['slow@cpu']['job_id']} slow@cpu TIMEOUT" in shown
    left = engine("ps", "-a", "--filter", f"label={LABEL}", "--format", "{{.Names}}").stdout
    assert "-slow-unit" not in left


def test_ctrl_c_cancels_every_submitted_job_and_says_so(
        cluster_config: Path, images: dict[str, str], registry: Registry,
        standin_bases: PinnedBases, engine: Docker, tmp_path: Path) -> None:
    configure(cluster_config, registry, standin_bases, time=10)
    out = tmp_path / "run"
    child = subprocess.Popen(
        [str(Path(sys.executable).parent / "torchship"), "matrix", "--on", "slurm", "--suite", "unit",
         "--env", "slow", "--env", "failing", "--image", f"slow={images['slow']}",
         "--image", f"failing={images['failing']}", "--out", str(out)],
        cwd=ROOT, env={**os.environ, "TORCHSHIP_LOCAL_CONFIG": str(cluster_config),
                       "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        ids: list[str] = []
        deadline = time.monotonic() + 120
        for line in child.stdout:   # wait until the slow job runs
            if line.startswith("job ") and ": PENDING" in line:
                ids.append(line.split()[1])
            if "slow@cpu: RUNNING" in line or time.monotonic() > deadline:
                break
        assert len(ids) == 2, ids
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 130, err
    assert "cancelled 2 Slurm job(s) with scancel" in err or (
        # the failing job may have ended by itself before the Ctrl-C
        "cancelled 1 Slurm job(s) with scancel" in err), err
    assert f"{ids[0]} (slow@cpu)" in err or f"{ids[1]} (slow@cpu)" in err
    assert "Traceback" not in err
    # Slurm ended them: nothing of this run waits or runs any more.
    deadline = time.monotonic() + 60
    while True:
        states = slurmctl.states(ids)
        if all(s.ended for s in states.values()) or time.monotonic() > deadline:
            break
        time.sleep(1)
    slow_id = next(i for i in ids if f"{i} (slow@cpu)" in err)
    assert states[slow_id].state == "CANCELLED", states
    deadline = time.monotonic() + 30
    while "-slow-unit" in engine("ps", "-a", "--filter", f"label={LABEL}", "--format",
                                 "{{.Names}}").stdout and time.monotonic() < deadline:
        time.sleep(1)
    assert "-slow-unit" not in engine("ps", "-a", "--filter", f"label={LABEL}", "--format",
                                      "{{.Names}}").stdout


def test_an_image_the_nodes_cannot_pull_by_digest_is_refused_before_any_job(
        tmp_path: Path) -> None:
    local = tmp_path / "torchship.local.toml"
    digest = "sha256:" + "ab" * 32
    local.write_text(f'[bases.cpu]\nruntime = "127.0.0.1:5000/b@{digest}"\n'
                     f'devel = "127.0.0.1:5000/b@{digest}"\n')
    res = subprocess.run(
        [str(Path(sys.executable).parent / "torchship"), "matrix", "--on", "slurm",
         "--out", str(tmp_path / "run"), "--image", "cpu=mlproject:devel"],
        cwd=ROOT, env={**os.environ, "TORCHSHIP_LOCAL_CONFIG": str(local)},
        capture_output=True, text=True, timeout=120)
    assert one_error(res) == (
        "error: --image cpu: 'mlproject:devel' is not an image in a registry pinned by digest "
        "(the nodes pull it: give registry/name@sha256:... (as `invoke images.push` prints))")
    assert not (tmp_path / "run").exists()


def test_a_job_gives_its_containers_the_gpus_slurm_gave_it(monkeypatch: pytest.MonkeyPatch,
                                                          ) -> None:
    # The engine runs outside the job's cgroup: "every GPU" would be every GPU of the node.
    monkeypatch.setenv("SLURM_JOB_GPUS", "1,3")
    assert matrix.host_gpus() == ["1", "3"]


def test_the_live_display_shows_each_jobs_state_and_a_failed_jobs_log_tail(
        tmp_path: Path) -> None:
    from rich.console import Console

    from torchship.matrix.runners.slurm import Board, Job, JobSpec

    log = tmp_path / "7_0_log.out"
    log.write_text("pulling\nsuite slow unit: running\n")
    screen = io.StringIO()
    board = Board("live", console=Console(file=screen, width=200))   # no colour codes
    jobs = [Job(spec=JobSpec(root=tmp_path, env=env, kind="a100", image="r/x@sha256:0",
                             suites=("unit",), limit=60, out=tmp_path / env),
                job_id=jid, log=log, handle=None, state=slurmctl.JobState(jid, state, reason,
                                                                          node="gpu3"),
                since=time.monotonic())
            for env, jid, state, reason in (("cu128", "7", "TIMEOUT", "TimeLimit"),
                                            ("cu121", "8", "RUNNING", ""),
                                            ("cu124", "9", "PENDING", "Resources"))]
    for j in jobs:
        board.show(j)
    board.console.print(board.renderable())
    shown = screen.getvalue()
    assert "Slurm jobs  1 of 3 ended" in shown
    assert "cu121@a100" in shown
    assert "running" in shown
    assert "gpu3" in shown                       # where the running job runs
    assert "Resources" in shown                  # why the pending one waits
    assert "timeout" in shown
    # The failed job's log tail, shown the moment it ended.
    assert "job 7 cu128@a100 TIMEOUT: the last 2 lines of" in shown
    assert "suite slow unit: running" in shown
