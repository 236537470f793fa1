"""The `slurm` runner: one Slurm job per environment and GPU kind, merged into one Run.

On the submitting machine: each environment's devel image pinned by digest in the team's
registry (built and pushed here, or given as --image ENV=REF@sha256:...), then one job per
(environment, GPU kind) submitted with submitit, asking for its GPUs with --gres and for the
partition, account, CPUs and time limit of [tool.torchship.slurm]. A live display shows
each job's state (pending, running, done, failed with its log's tail) until all have ended;
Ctrl-C (or SIGTERM) cancels every job submitted (scancel) and says so.

On the node, each job (`job`) pulls its image by digest and runs a `host` run of its one
environment in the engine there (torchship.matrix.run.execute), writing a shard into the
shared folder. The jobs' shards are merged as CI's are (torchship.matrix.merge); a job that
did not end COMPLETED with its shard written (failed, timed out, preempted, cancelled, lost
its node) is a failed record of its own, named in the report, and never merged as passing.

Where another container runtime plugs in (enroot/pyxis, apptainer): `job` is the one place
that runs the image on the node (docs/slurm.md).
"""

from __future__ import annotations

import json
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torchship.adapters import slurm as slurmctl
from torchship.errors import ConfigError
from torchship.matrix.merge import CPU, label
from torchship.ui.progress import Display, choose, seconds, tail

if TYPE_CHECKING:
    from rich.console import RenderableType

    from torchship import config as configmod
    from torchship.matrix.records import Record, Run
    from torchship.matrix.run import Builder, Options

JOBS_FILE = "jobs.json"
POLL = 1.0            # seconds between two looks at the jobs' states
LOST = 300.0          # seconds a job may be unknown to Slurm before it counts as lost
SHARDS = "shards"     # in the shared folder: one host run per job
LOGS = "jobs"         # in the shared folder: submitit's files, each job's log


@dataclass(frozen=True)
class JobSpec:
    """What one job runs on its node: one environment, in one image, as one GPU kind."""

    root: Path
    env: str
    kind: str
    image: str                      # registry/name@sha256:...: the node pulls it
    suites: tuple[str, ...]
    limit: float
    out: Path                       # the shard's folder (shared)


@dataclass
class Job:
    """A submitted job, and what the runner last saw of it."""

    spec: JobSpec
    job_id: str
    log: Path
    handle: Any                     # the submitit Job (its result file)
    state: slurmctl.JobState
    since: float                    # monotonic time its state last changed

    @property
    def label(self) -> str:
        return label(self.spec.env, self.spec.kind)


# ---------------------------------------------------------------- on the node


def job(spec: JobSpec) -> str:
    """One job's work on its node: pull the image by digest, run the suites in it there,
    write the shard. SIGTERM (scancel, the time limit) removes the job's containers: the
    engine runs them outside the job, where Slurm's kill does not reach."""
    from torchship.adapters.docker import require_engine
    from torchship.adapters.proc import STOP_SIGNALS, signals
    from torchship.matrix.run import Options, execute

    def stop(signum: int, frame: object) -> None:
        # Slurm's SIGTERM comes twice (from slurmstepd, and forwarded by srun): the second
        # must not break off the removal of the containers the first one started.
        for name in STOP_SIGNALS:
            signal.signal(getattr(signal, name), signal.SIG_IGN)
        raise KeyboardInterrupt(signal.Signals(signum).name)

    # submitit asks Slurm for SIGUSR2 before the time limit, to requeue what can checkpoint;
    # suites cannot: the limit's own SIGTERM ends the job (and its containers), as TIMEOUT.
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    with signals(stop):
        print(f"pulling {spec.image}", flush=True)
        require_engine()("pull", spec.image)
        opts = Options(root=spec.root, mode="containers", envs=(spec.env,), suites=spec.suites,
                       images={spec.env: spec.image}, build=False, smoke=False,
                       limit=spec.limit, out=spec.out, png=False, show=True, verbose=True,
                       gpu_kind=spec.kind)
        _, folder = execute(opts)
    return str(folder)


# ---------------------------------------------------------------- on the submitting machine


def run(opts: Options, /, *, builder: Builder, cfg: configmod.Config) -> tuple[Run, Path]:
    """Submit, wait (Ctrl-C cancels), gather; the merged Run saved in the run's folder."""
    from torchship.matrix.records import save
    from torchship.matrix.run import MATRIX, RESULTS, plan_envs, run_id

    envs = plan_envs(cfg, opts, "containers")
    for env, ref in opts.images.items():
        _pinned(ref, f"--image {env}")   # refused before anything is built or submitted
    slurmctl.require()
    rid = run_id(opts.root)
    folder = opts.out or opts.root / RESULTS / MATRIX / rid
    folder.mkdir(parents=True, exist_ok=True)
    # Absolute: a job's working directory on its node may be another.
    shared = ((Path(cfg.slurm.shared).expanduser() / rid) if cfg.slurm.shared
              else folder).resolve()
    board = Board(choose(verbose=opts.verbose, quiet=not opts.show), folder=folder,
                  verbose=opts.verbose, title=f"torchship matrix on Slurm: logs in {shared}/")
    jobs: list[Job] = []
    with board, cancelling(jobs, board):
        images = {env: opts.images.get(env) or _build_and_push(cfg, env, builder, board,
                                                                folder / env)
                  for env in envs}
        kinds = dict(cfg.slurm.gres) or {CPU: ""}
        for env in envs:
            for kind, gres in kinds.items():
                spec = JobSpec(root=opts.root.resolve(), env=env, kind=kind, image=images[env],
                               suites=tuple(opts.suites), limit=opts.limit,
                               out=shared / SHARDS / label(env, kind))
                jobs.append(submit(cfg, spec, gres, shared / LOGS))
                board.show(jobs[-1])
        wait(jobs, board)
    merged = gather(jobs, rid, opts.root)
    save(merged, folder)
    write_jobs(folder, jobs, cfg)
    return merged, folder


def _pinned(ref: str, key: str) -> str:
    from torchship.images.reference import Reference

    parsed = Reference.parse(ref, key=key)
    if not parsed.digest or not parsed.host:
        raise ConfigError(key, f"{ref!r} is not an image in a registry pinned by digest",
                          hint="the nodes pull it: give registry/name@sha256:... (as "
                               "`invoke images.push` prints)")
    return ref


def _build_and_push(cfg: configmod.Config, env: str, builder: Builder, display: Display,
                    logs: Path) -> str:
    """This commit's devel image of `env`, built here and pushed to the image's registry:
    what the nodes pull, by digest."""
    from torchship.images import publish
    from torchship.images.reference import Reference

    if Reference.parse(cfg.image, key="tool.torchship.image").host is None:
        raise ConfigError("tool.torchship.image", f"{cfg.image!r} names no registry, and the "
                          "Slurm nodes pull each devel image from one",
                          hint='e.g. image = "registry.example.com/team/project", or give '
                               "--image ENV=REF@sha256:... for each environment")
    tag = builder(cfg, env, "devel", display=display, logs=logs)
    display.note(f"pushing {tag}")
    pushed = publish.push(cfg, [tag])[0]
    return f"{Reference.parse(tag).name}@{pushed.digest}"


def submit(cfg: configmod.Config, spec: JobSpec, gres: str, logs: Path) -> Job:
    """One sbatch (by submitit): the job's resources from [tool.torchship.slurm]."""
    import submitit

    s = cfg.slurm
    executor = submitit.SlurmExecutor(folder=logs, max_num_timeout=0)
    params: dict[str, Any] = {
        "job_name": f"torchship-{label(spec.env, spec.kind)}", "time": s.time,
        "cpus_per_task": s.cpus, "stderr_to_stdout": True,
        # submitit's warning before the time limit (SIGUSR2, which `job` ignores): within
        # the limit, so that Slurm accepts it.
        "signal_delay_s": max(5, min(90, s.time * 60 // 4))}
    if s.partition:
        params["partition"] = s.partition
    if s.account:
        params["account"] = s.account
    if gres:
        params["gres"] = gres
    executor.update_parameters(**params)
    handle = executor.submit(job, spec)
    jid = str(handle.job_id)
    return Job(spec=spec, job_id=jid, log=Path(handle.paths.stdout), handle=handle,
               state=slurmctl.JobState(jid, "PENDING"), since=time.monotonic())


def wait(jobs: Sequence[Job], board: Board, *, poll: float = POLL) -> None:
    """Until every job has ended, its state shown as it changes."""
    unknown: dict[str, float] = {}
    while True:
        now = slurmctl.states([j.job_id for j in jobs])
        for j in jobs:
            state = now[j.job_id]
            if state.state == "UNKNOWN" and Path(j.handle.paths.result_pickle).exists():
                # Forgotten by the controller (and no accounting): its result says it ended.
                state = replace(state, state=slurmctl.DONE)
            elif state.state == "UNKNOWN" and not j.state.ended:
                # Neither scontrol nor sacct knows it any more, and it left no result.
                since = unknown.setdefault(j.job_id, time.monotonic())
                if time.monotonic() - since > LOST:
                    state = replace(state, state="LOST", reason="Slurm no longer knows it")
                else:
                    state = j.state
            else:
                unknown.pop(j.job_id, None)
            if state.state != j.state.state:
                j.state, j.since = state, time.monotonic()
                board.show(j)
        if all(j.state.ended for j in jobs):
            return
        time.sleep(poll)


@contextmanager
def cancelling(jobs: list[Job], board: Board) -> Iterator[None]:
    """Ctrl-C (or SIGTERM, SIGHUP: adapters.proc.signals) while jobs are out: scancel
    every one submitted, say so, and go on stopping."""
    try:
        yield
    except BaseException:
        ids = slurmctl.cancel(j.job_id for j in jobs if not j.state.ended)
        if ids:
            named = ", ".join(f"{j.job_id} ({j.label})" for j in jobs if j.job_id in ids)
            board.stop()
            print(f"cancelled {len(ids)} Slurm job(s) with scancel: {named}", file=sys.stderr,
                  flush=True)
        raise


def gather(jobs: Sequence[Job], rid: str, root: Path) -> Run:
    """The shards of the jobs that ended COMPLETED with their shard, merged; every other job
    a failed record named by its job id, state and log."""
    from torchship.matrix import merge
    from torchship.matrix.records import Record, RecordError, Run

    shards: list[tuple[Path, merge.Shard, Run]] = []
    failed: dict[str, Record] = {}
    for j in jobs:
        problem = _problem(j)
        if problem is None:
            try:
                shards.append((j.spec.out, *merge.read_shard(j.spec.out)))
                continue
            except RecordError as exc:
                problem = f"ended COMPLETED but left no shard ({exc.render()})"
        timed_out = j.state.state == "TIMEOUT"
        failed[j.label] = Record(
            env=j.label, image=j.spec.image, image_digest=j.spec.image.partition("@")[2] or None,
            status="timed-out" if timed_out else "failed",
            reason=f"Slurm job {j.job_id} {j.state.state}: {problem}; log {j.log}")
    if shards:
        merged = merge.merge(shards)
    else:
        from torchship import envinfo

        merged = Run(run_id=rid, created="", mode="containers", records=(),
                     host=envinfo.collect(root))
    by_label = {r.env: r for r in merged.records} | failed
    records = tuple(by_label[j.label] for j in jobs if j.label in by_label)
    note = "; ".join(n for n in (merged.note, f"{len(jobs)} Slurm job(s): " + ", ".join(
        f"{j.label} {j.job_id} {j.state.state}" for j in jobs)) if n)
    return replace(merged, run_id=rid, created=datetime.now(UTC).isoformat(timespec="seconds"),
                   records=records, note=note)


def _problem(j: Job) -> str | None:
    """Why this job's shard cannot be merged (None: it can)."""
    st = j.state
    if not st.ok:
        why = {"TIMEOUT": "killed at its time limit", "PREEMPTED": "preempted",
               "CANCELLED": "cancelled", "NODE_FAIL": "its node failed",
               "OUT_OF_MEMORY": "out of memory"}.get(st.state, f"exit code {st.exit_code}")
        detail = _error(j)
        return f"{why}{f' ({st.reason})' if st.reason else ''}" + (f": {detail}" if detail else "")
    detail = _error(j)
    return f"its job failed: {detail}" if detail else None


def _error(j: Job) -> str:
    """The last line of the error the job's function raised, as submitit kept it ("" when
    it returned, or left no result)."""
    import submitit

    if not Path(j.handle.paths.result_pickle).exists():
        return ""
    try:
        j.handle.result()
    except submitit.core.utils.FailedJobError as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        return lines[-1][:300] if lines else "failed"
    except submitit.core.utils.UncompletedJobError as exc:
        return str(exc).splitlines()[0][:300]
    return ""


def write_jobs(folder: Path, jobs: Sequence[Job], cfg: configmod.Config) -> None:
    """jobs.json: which job ran what, where, and how it ended (read by people and the
    benchmark: benchmarks/bench_slurm.py)."""
    data = {"slurm": {**asdict(cfg.slurm), "gres": dict(cfg.slurm.gres)},
            "jobs": [{"label": j.label, "env": j.spec.env, "gpu_kind": j.spec.kind,
                      "job_id": j.job_id, "image": j.spec.image, **asdict(j.state),
                      "log": str(j.log), "shard": str(j.spec.out)} for j in jobs]}
    (folder / JOBS_FILE).write_text(json.dumps(data, indent=2) + "\n")


# ---------------------------------------------------------------- the live display


class Board(Display):
    """The run's Display (image builds) with a row per Slurm job: its id, state, time in
    that state, node or reason, and log; a line per change when not on a terminal, and a
    failed job's log tail in every mode but quiet."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.jobs: dict[str, Job] = {}

    def show(self, j: Job) -> None:
        with self._lock:
            self.jobs[j.job_id] = j
        st = j.state
        where = f" on {st.node}" if st.running and st.node else ""
        why = f" ({st.reason})" if st.reason and not st.ok else ""
        self._plain(f"job {j.job_id} {j.label}: {st.state}{where}{why}; log: {j.log}")
        if st.ended and not st.ok:
            if self.mode == "live":
                self.print(f"[red]✗ job {j.job_id} {j.label}: {st.state}[/]{why}")
            self._show_tail(f"job {j.job_id} {j.label} {st.state}", tail(j.log), j.log)

    def stop(self) -> None:
        """End the live display now (a message follows that must not be drawn over)."""
        with self._lock:
            if self._live is not None:
                self._live.stop()
                self._live = None

    def renderable(self) -> RenderableType:
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        with self._lock:
            base = super().renderable()
            if not self.jobs:
                return base
            grid = Table.grid(padding=(0, 2))
            for j in self.jobs.values():
                st = j.state
                style = "green" if st.ok else "cyan" if st.running else \
                    "dim" if st.waiting else "red"
                icon = "✓" if st.ok else "…" if not st.ended else "✗"
                what = st.node if st.running else st.reason
                grid.add_row(Text(icon, style=style), Text(f"{j.label}"), Text(j.job_id),
                             Text(st.state.lower(), style=style),
                             Text(seconds(time.monotonic() - j.since)),
                             Text(f"{what} · {j.log}" if what else str(j.log), style="dim",
                                  overflow="ellipsis", no_wrap=True))
            done = sum(1 for j in self.jobs.values() if j.state.ended)
            return Group(base, Text(f"Slurm jobs  {done} of {len(self.jobs)} ended",
                                    style="bold"), grid)

