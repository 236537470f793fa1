"""`nox -s gpu_tests`: the suites in every pinned image (or on the host), compared.

plan (which environments, which images, GPUs or not) -> run each environment (one after
another on a CPU host, side by side with one GPU each when there are several) -> a Run of
records saved under results/matrix/<run id>/ -> compare with the reference environment and
the baseline -> report -> exit status naming each failing suite, divergence and regression.

An environment that fails to build or start is recorded as such; the others still run.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from torchship import config as configmod
from torchship import project as projectmod
from torchship.adapters import proc
from torchship.adapters.git import Git
from torchship.errors import ConfigError, TorchshipError
from torchship.matrix.records import LOCAL, SUITES, Record, RecordError, Run
from torchship.matrix.records import load as load_run
from torchship.matrix.records import save as save_run

if TYPE_CHECKING:
    from torchship.ui.progress import Display

RESULTS = "results"
MATRIX = "matrix"
RELEASES = "releases"

class Builder(Protocol):
    """(env, variant) -> an image reference the engine has; raises TorchshipError when it
    cannot. The build is shown on `display`, its log written under `logs`."""

    def __call__(self, cfg: configmod.Config, env: str, variant: str, /, *,
                 display: Display | None = None, logs: Path | None = None) -> str: ...


class MatrixFailed(TorchshipError):
    """The matrix ran, and something failed, diverged or regressed (each one is named)."""

    def __init__(self, problems: Sequence[str], folder: Path) -> None:
        shown = "; ".join(problems[:6]) + (f"; and {len(problems) - 6} more"
                                           if len(problems) > 6 else "")
        super().__init__(f"{len(problems)} problem(s): {shown}",
                         hint=f"report in {folder}/compare.md")
        self.problems = list(problems)
        self.folder = folder


class GpuMissing(TorchshipError):
    """--require-gpu on a host that cannot give a GPU to the suites."""


@dataclass(frozen=True)
class Options:
    """What a matrix run does; every field has the default a new user meets."""

    root: Path
    mode: Literal["auto", "local", "containers"] = "auto"
    envs: tuple[str, ...] = ()              # empty: every configured environment
    suites: tuple[str, ...] = SUITES
    baseline: Path | None = None            # None: the last release's records, if any
    require_gpu: bool = False
    smoke: bool = True                      # runtime image smoke test
    build: bool = True                      # build images (else they must exist)
    images: Mapping[str, str] = field(default_factory=dict)   # env -> devel image to reuse
    # env -> runtime image to reuse for the smoke (CI: the build job's, by digest)
    runtime_images: Mapping[str, str] = field(default_factory=dict)
    jobs: int | None = None                 # None: one per GPU, else one at a time
    limit: float = 900.0                    # seconds per suite
    out: Path | None = None                 # default results/matrix/<run id>
    png: bool = True
    show: bool = True                       # show progress and print the rich tables
    verbose: bool = False                   # a line per event and every build line
    gpu_kind: str | None = None             # this machine's GPU kind (default: detected)
    merge: tuple[Path, ...] = ()            # compare: shards to merge into one comparison
    on: str = "host"                        # where it runs: a runner (matrix/runners/)


def run_id(root: Path) -> str:
    """UTC time and the short commit: sortable and traceable."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    repo = Git.find(root)
    sha = repo.short("HEAD") if repo else None
    return f"{stamp}-{sha}" if sha else stamp


def resolve_mode(opts: Options, cfg: configmod.Config,
                 ) -> tuple[Literal["local", "containers"], str]:
    """Containers when asked, or when an engine answers and environments are pinned; else
    the host. The second value says why the host was chosen (shown in the report)."""
    if opts.mode != "auto":
        return opts.mode, "--local was given" if opts.mode == "local" else ""
    if not cfg.bases:
        return "local", ("no pinned environment is configured ([tool.torchship.bases], or "
                         "torchship.local.toml from scripts/standin_bases.py)")
    from torchship.matrix.suites import engine_available

    if engine_available():
        return "containers", ""
    return "local", "no container engine answers"


def host_gpus() -> list[str]:
    """GPU indices nvidia-smi lists on the host (empty when none, or no driver); in a Slurm
    job, the GPUs Slurm gave the job (the engine runs outside the job: it must be told)."""
    allocated = os.environ.get("SLURM_JOB_GPUS", "").strip()
    if allocated:
        return [g.strip() for g in allocated.split(",") if g.strip()]
    if proc.which("nvidia-smi") is None:
        return []
    out = proc.run(["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"], check=False)
    return [line.strip() for line in out.stdout.splitlines() if line.strip().isdigit()] \
        if out.returncode == 0 else []


def default_builder(cfg: configmod.Config, env: str, variant: str, /, *,
                    display: Display | None = None, logs: Path | None = None) -> str:
    """Build (or reuse, when every layer is cached) the image with torchship.images.build."""
    from torchship.images import build as images

    return images.build(cfg, envs=[env], variants=[variant], display=display, logs=logs,
                        quiet=display is not None)[0].tag


def last_release_baseline(root: Path, *, git: Git | None = None) -> Path | None:
    """results/releases/<last tag>/: the record the last release stood on (its evidence),
    which the release copied there: the only way a baseline is made. `git`: the handle of
    the repository holding `root`, when the caller has one (else one is opened)."""
    repo = git or Git.find(root)
    tag = repo.describe("--tags", "--abbrev=0") if repo else None
    if tag is None:
        return None
    folder = root / RESULTS / RELEASES / tag
    return folder if (folder / "run.json").exists() else None


def load_baseline(opts: Options) -> Run | None:
    if opts.baseline is not None:
        if not opts.baseline.exists():
            raise RecordError(opts.baseline, "baseline does not exist",
                              hint="give a results folder holding run.json (e.g. "
                                   "results/matrix/<run id>)")
        return load_run(opts.baseline)
    found = last_release_baseline(opts.root)
    return load_run(found) if found else None


def check_envs(cfg: configmod.Config, opts: Options) -> None:
    """Every environment --env and --image name is configured, whatever the mode: a name
    ignored on the host would be a run of something else than was asked for."""
    for flag, names in (("--env", opts.envs), ("--image", tuple(opts.images)),
                        ("--runtime-image", tuple(opts.runtime_images))):
        unknown = [e for e in names if e not in cfg.bases]
        if unknown:
            raise ConfigError(flag, f"{unknown[0]!r} is not a configured environment",
                              hint=f"one of: {', '.join(cfg.bases)}" if cfg.bases else
                              "none is configured ([tool.torchship.bases], or "
                              "torchship.local.toml from scripts/standin_bases.py)")
    if opts.jobs is not None and opts.jobs < 1:
        raise ConfigError("--jobs", f"{opts.jobs} is not a number of environments to run "
                          "side by side", hint="1 or more (default: one per GPU)")


def plan_envs(cfg: configmod.Config, opts: Options, mode: str) -> list[str]:
    if mode == "local":
        return [LOCAL]
    if not cfg.bases:
        raise ConfigError("tool.torchship.bases", "no pinned environment configured",
                                    hint="add [tool.torchship.bases.<env>] with runtime and "
                                         "devel images, or run on the host with --local")
    unknown = [e for e in opts.envs if e not in cfg.bases]
    if unknown:
        raise ConfigError("--env", f"{unknown[0]!r} is not configured",
                                    hint=f"one of: {', '.join(cfg.bases)}")
    return list(opts.envs or cfg.bases)


class BaseUnavailable(TorchshipError):
    """A pinned base the run must build on is neither on the engine nor pullable."""


def check_bases(cfg: configmod.Config, opts: Options, envs: Sequence[str]) -> None:
    """Before any build: can any environment be built at all? A base is available when the
    engine has it or its registry serves it. When no environment of the run has all of its
    bases, nothing could run: one line naming the first base it cannot pull and the two ways
    on, rather than every build failing deep inside BuildKit. When some can, the others are
    built and recorded as build-failed, naming their base, beside the ones that ran."""
    from torchship.adapters.docker import require_engine
    from torchship.images.registry import RegistryError, resolve_digest

    docker = require_engine()
    first: tuple[str, str, str, RegistryError] | None = None
    for env in envs:
        variants = (([] if env in opts.images else ["devel"])
                    + (["runtime"] if opts.smoke and env not in opts.runtime_images else []))
        missing = None
        for variant in variants:
            ref = str(getattr(cfg.bases[env], variant))
            if docker.image_exists(ref):
                continue
            try:
                resolve_digest(ref)
            except RegistryError as exc:
                missing = (env, variant, ref, exc)
                break
        if missing is None:
            return  # this environment can run
        first = first or missing
    if first is not None:
        env, variant, ref, cause = first
        raise BaseUnavailable(
            f"cannot pull the {env} {variant} base {ref} ({cause.problem})",
            hint="where its registry is out of reach, build stand-in bases into "
                 "torchship.local.toml (`python -m torchship.testing.standins`), or "
                 "run the suites on this host with --local") from cause


def run_containers(cfg: configmod.Config, opts: Options, envs: Sequence[str], rid: str,
                   folder: Path, builder: Builder, display: Display) -> list[Record]:
    """Each environment in its images; a failure to build or start is recorded, not raised."""
    from torchship.matrix import suites as S

    client = S.client()
    for name in S.remove_orphans(client):
        display.note(f"removed {name}, left running by a matrix run that was killed")
    gpus = host_gpus() if S.nvidia_runtime(client) else []
    if opts.require_gpu and not gpus:
        raise GpuMissing("--require-gpu: the container engine has no NVIDIA runtime or the "
                         "host no GPU", hint="install the NVIDIA container toolkit and its "
                                             "driver, or drop --require-gpu")
    jobs = opts.jobs or max(1, len(gpus))
    repo = Git.find(opts.root)
    commit = (repo.head() if repo else None) or ""
    describe = (repo.describe("--tags", "--always", "--dirty") if repo else None) or ""

    for env in envs:
        display.expect(env, [*opts.suites, *(["smoke"] if opts.smoke else [])])

    def one(index: int, env: str) -> Record:
        record = run_env(index, env)
        if record.status in ("build-failed", "start-failed"):
            display.env_failed(env, record.status, record.reason)
        return record

    def run_env(index: int, env: str) -> Record:
        t0 = time.monotonic()
        env_dir = folder / env

        def build(variant: str) -> str:
            return builder(cfg, env, variant, display=display, logs=env_dir)

        try:
            devel = opts.images.get(env) or (build("devel") if opts.build
                                             else _existing(cfg, env, "devel")) or ""
            runtime = None
            if opts.smoke:
                runtime = opts.runtime_images.get(env) or (build("runtime") if opts.build else
                                                           _existing(cfg, env, "runtime",
                                                                     required=False))
        except TorchshipError as exc:
            return Record(env=env, image=opts.images.get(env), status="build-failed",
                          reason=exc.render(), wall_seconds=time.monotonic() - t0)
        try:
            digest = S.image_digest(client, devel)
        except Exception as exc:  # the engine's NotFound/APIError: this env cannot start
            return Record(env=env, image=devel, status="start-failed",
                          reason=f"{type(exc).__name__}: {exc}"[:300],
                          wall_seconds=time.monotonic() - t0)
        # () is every GPU of the host: in a Slurm job, only those the job was given.
        whole = tuple(gpus) if os.environ.get("SLURM_JOB_GPUS") else ()
        gpu = (tuple([gpus[index % len(gpus)]]) if len(gpus) > 1 and jobs > 1 else whole) \
            if gpus else None
        spec = S.ContainerSpec(root=opts.root, run_id=rid, gpus=gpu, extra_env={
            "TORCHSHIP_IMAGE": devel, "TORCHSHIP_IMAGE_DIGEST": digest or "",
            "TORCHSHIP_VARIANT": "devel", "TORCHSHIP_GIT_COMMIT": commit,
            "TORCHSHIP_GIT_DESCRIBE": describe})
        try:
            return S.run_image(client, env=env, image=devel, digest=digest, spec=spec,
                               folder=env_dir, metrics=cfg.metrics, suites=opts.suites,
                               limits=S.Limits(default=opts.limit), runtime_image=runtime,
                               smoke_command=cfg.project.smoke, display=display)
        except TorchshipError as exc:
            return Record(env=env, image=devel, image_digest=digest, status="failed",
                          reason=exc.render(), wall_seconds=time.monotonic() - t0)
        except Exception as exc:  # the engine refusing to create/start: recorded, not fatal
            return Record(env=env, image=devel, image_digest=digest, status="start-failed",
                          reason=f"{type(exc).__name__}: {exc}"[:300],
                          wall_seconds=time.monotonic() - t0)

    pool = None
    try:
        if jobs <= 1 or len(envs) <= 1:
            return [one(i, env) for i, env in enumerate(envs)]
        pool = ThreadPoolExecutor(max_workers=min(jobs, len(envs)))
        return list(pool.map(one, range(len(envs)), envs))
    except BaseException:
        # Ctrl-C (or SIGTERM, SIGHUP) lands in this thread while others may still hold
        # containers: remove every container of this run by its label first, so that their
        # waits end, then stop the pool (a `with` block would wait for them before this).
        S.remove_run(client, rid)
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
            S.remove_run(client, rid)  # one a worker created while the first sweep ran
        raise
    finally:
        if pool is not None:
            pool.shutdown(wait=False)


def _existing(cfg: configmod.Config, env: str, variant: str, *, required: bool = True,
              ) -> str | None:
    """The tag `invoke images.build` gives this commit's image, when the engine has it."""
    from torchship.adapters.docker import require_engine
    from torchship.images import spec as images

    tag = images.plan(cfg, images.provenance(cfg), envs=[env], variants=[variant])[0].tags[0]
    if require_engine().image_exists(tag):
        return tag
    if required:
        raise TorchshipError(f"no {variant} image {tag} for {env}",
                             hint="build it (`invoke images.build`), drop --no-build, or "
                                  "pass --image ENV=REF")
    return None


def execute(opts: Options, *, builder: Builder = default_builder,
            cfg: configmod.Config | None = None) -> tuple[Run, Path]:
    """Run the suites in every environment and save the records; return the run and folder.
    `cfg`: the command's configuration of the project at opts.root (else read here)."""
    cfg = cfg or projectmod.load(opts.root).config
    check_envs(cfg, opts)
    mode, why = resolve_mode(opts, cfg)
    baseline_check = opts.baseline
    if baseline_check is not None and not baseline_check.exists():
        load_baseline(opts)  # fail before an hour of suites, not after
    envs = plan_envs(cfg, opts, mode)
    if mode == "containers" and opts.build:
        check_bases(cfg, opts, envs)
    rid = run_id(opts.root)
    folder = opts.out or opts.root / RESULTS / MATRIX / rid
    folder.mkdir(parents=True, exist_ok=True)
    from torchship import envinfo
    from torchship.ui.progress import Display

    if mode == "local" and opts.require_gpu and not host_gpus():
        raise GpuMissing("--require-gpu: no NVIDIA GPU on this host",
                         hint="run on a GPU machine, or drop --require-gpu")
    # The host's fingerprint imports torch (about a second): taken while the images build
    # and the suites run, not after them.
    fingerprinting = ThreadPoolExecutor(max_workers=1, thread_name_prefix="envinfo")
    host = fingerprinting.submit(envinfo.collect, opts.root)
    fingerprinting.shutdown(wait=False)
    display = Display.auto(verbose=opts.verbose, quiet=not opts.show, folder=folder,
                           title=f"torchship matrix: logs in {_shown_path(folder)}/")
    if mode == "local":
        display.note(f"No image is used: the suites run on this host ({why}).")
    with display:
        if mode == "local":
            from torchship.matrix.suites import Limits, run_local

            display.expect(LOCAL, opts.suites)
            records = [run_local(opts.root, folder / LOCAL, metrics=cfg.metrics,
                                 suites=opts.suites, limits=Limits(default=opts.limit),
                                 display=display)]
        else:
            records = run_containers(cfg, opts, envs, rid, folder, builder, display)
    run = Run(run_id=rid, created=datetime.now(UTC).isoformat(timespec="seconds"),
              mode=mode, records=tuple(records), host=host.result(), note=why)
    save_run(run, folder)
    from torchship.matrix.merge import write_shard

    write_shard(folder, cfg, run, opts.gpu_kind)
    return run, folder


def _shown_path(path: Path) -> str:
    """`path` relative to the working directory when it is inside it (shorter to read)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def report_and_verdict(run: Run, folder: Path, opts: Options, *, cfg: configmod.Config) -> None:
    """Compare (by the configured tolerances and metrics), write the report, raise
    MatrixFailed naming each problem."""
    from torchship.matrix import report
    from torchship.matrix.compare import compare

    cmp = compare(run, tolerances=cfg.compare, metrics=cfg.metrics, baseline=load_baseline(opts))
    report.write(cmp, folder, png=opts.png)
    if opts.show:
        report.terminal(cmp)
        print(f"report: {folder}/compare.md")
    if not cmp.ok:
        raise MatrixFailed([p.render() for p in cmp.problems], folder)


def gpu_tests(opts: Options, *, builder: Builder = default_builder,
              cfg: configmod.Config | None = None) -> Path:
    """The whole job: run (on the runner --on names), save, compare, report. Raises
    MatrixFailed when anything failed. The configuration is read once (or given: `cfg`)
    and used by every part."""
    from torchship.matrix import runners

    cfg = cfg or projectmod.load(opts.root).config
    run, folder = runners.get(opts.on)(opts, builder=builder, cfg=cfg)
    report_and_verdict(run, folder, opts, cfg=cfg)
    return folder


def saved_runs(root: Path) -> list[Path]:
    """The runs saved in results/matrix/, newest first (run ids start with their UTC time)."""
    return sorted((p for p in (root / RESULTS / MATRIX).glob("*") if (p / "run.json").is_file()),
                  key=lambda p: p.name, reverse=True)


def latest_run(root: Path) -> Path:
    runs = saved_runs(root)
    if not runs:
        raise RecordError(root / RESULTS / MATRIX, "no matrix results here",
                          hint="run `nox -s gpu_tests` first")
    return runs[0]


def compare_only(opts: Options, run_dir: Path | None = None, *,
                 cfg: configmod.Config | None = None) -> Path:
    """`nox -s compare`: re-compare a saved run (default: the latest) against a baseline;
    with --merge, the shards of many machines as one run (saved in --out)."""
    if opts.merge:
        from torchship.matrix import runners

        cfg = cfg or projectmod.load(opts.root).config  # before anything is written
        run, folder = runners.get("ci-shards")(opts, builder=default_builder, cfg=cfg)
        report_and_verdict(run, folder, opts, cfg=cfg)
        return folder
    folder = run_dir or latest_run(opts.root)
    run = load_run(folder)
    report_and_verdict(run, folder, opts, cfg=cfg or projectmod.load(opts.root).config)
    return folder


# ---------------------------------------------------------------- command line (nox posargs)


def parse(argv: Sequence[str], *, root: Path, prog: str = "torchship matrix",
          ) -> tuple[Options, Path | None]:
    from torchship.cli import Parser  # usage errors as one line, as every expected failure

    # `prog`: the command that was run (its help names its own usage; the nox sessions are
    # aliases of it).
    p = Parser(prog=prog, description=__doc__.split("\n")[0])
    p.add_argument("--local", action="store_true", help="run on the host; no image is used")
    p.add_argument("--containers", action="store_true", help="require the container engine")
    p.add_argument("--env", action="append", default=[], help="only this environment")
    p.add_argument("--suite", action="append", default=[], choices=SUITES)
    p.add_argument("--baseline", type=Path, help="results folder to compare benchmarks with")
    p.add_argument("--require-gpu", action="store_true", help="no GPU is an error")
    p.add_argument("--no-smoke", action="store_true", help="skip the runtime image smoke test")
    p.add_argument("--no-build", action="store_true", help="use images already built")
    p.add_argument("--image", action="append", default=[], metavar="ENV=REF",
                   help="reuse this devel image for ENV")
    p.add_argument("--runtime-image", action="append", default=[], metavar="ENV=REF",
                   help="reuse this runtime image for ENV's smoke test")
    p.add_argument("--jobs", type=int, help="environments side by side (default: one per GPU)")
    p.add_argument("--limit", type=float, default=900.0, help="seconds per suite")
    p.add_argument("--out", type=Path, help="results folder (default results/matrix/<id>)")
    p.add_argument("--run", type=Path, help="compare: the run folder (default: the latest)")
    p.add_argument("--gpu-kind", help="this machine's GPU kind, as the merge names it "
                                      "(default: its first GPU's name, or cpu)")
    p.add_argument("--merge", nargs="+", type=Path, default=[], metavar="DIR",
                   help="compare: merge these shards (gpu_tests folders) into one comparison")
    p.add_argument("--on", choices=("host", "slurm"), default="host",
                   help="where the suites run: this host, or one Slurm job per environment "
                        "and GPU kind ([tool.torchship.slurm], docs/slurm.md)")
    p.add_argument("--verbose", action="store_true",
                   help="a line per event (as when not on a terminal) and every build line")
    a = p.parse_args(list(argv))
    images, runtime_images = _given_images("--image", a.image), _given_images(
        "--runtime-image", a.runtime_image)
    if a.gpu_kind is not None and not re.fullmatch(r"[a-z0-9][a-z0-9_.-]*", a.gpu_kind):
        raise ConfigError("--gpu-kind", f"{a.gpu_kind!r} is not a GPU kind name",
                          hint="lower-case letters, digits, . _ - (e.g. a100)")
    if a.local and a.containers:
        raise ConfigError("--local", "cannot be combined with --containers")
    mode: Literal["auto", "local", "containers"] = (
        "local" if a.local else "containers" if a.containers else "auto")
    return Options(root=root, mode=mode, envs=tuple(a.env), suites=tuple(a.suite) or SUITES,
                   baseline=a.baseline, require_gpu=a.require_gpu, smoke=not a.no_smoke,
                   build=not a.no_build, images=images, runtime_images=runtime_images,
                   jobs=a.jobs, limit=a.limit,
                   out=a.out, gpu_kind=a.gpu_kind, merge=tuple(a.merge),
                   verbose=a.verbose, on=a.on), a.run


def _given_images(flag: str, items: Sequence[str]) -> dict[str, str]:
    """`ENV=REF` items of `flag`, each REF an image reference."""
    from torchship.images.reference import Reference

    images: dict[str, str] = {}
    for item in items:
        env, sep, ref = item.partition("=")
        if not sep or not env or not ref:
            raise ConfigError(flag, f"{item!r} is not ENV=REF")
        Reference.parse(ref, key=f"{flag} {env}")  # not a 15-line engine error later
        images[env] = ref
    return images


def main(argv: Sequence[str], *, root: Path, what: Literal["gpu_tests", "compare"] = "gpu_tests",
         ) -> int:
    """Entry point for the nox sessions: one `error:` line and a non-zero exit on failure."""
    from torchship import project
    from torchship.adapters.proc import raise_interrupt, signals
    from torchship.cli import guarded

    def body() -> int:
        opts, run_dir = parse(argv, root=root,
                              prog="torchship compare" if what == "compare" else "torchship matrix")
        cfg = project.load(opts.root).config  # read once, passed to every part
        # SIGTERM and SIGHUP (a CI job cancelled, a terminal closed) clean up as Ctrl-C does:
        # every container of the run removed, the suite's process group killed.
        with signals(raise_interrupt):
            if what == "compare":
                compare_only(opts, run_dir, cfg=cfg)
            else:
                gpu_tests(opts, cfg=cfg)
        return 0

    return guarded(body, interrupted="interrupted; every container of the run was removed")
