"""nox sessions of the project: its three suites, lint and types, and the matrix (`nox -l`).

Each session is configuration over the installed torchship (a development dependency of the
project, pinned in pyproject.toml's `test` extra); nothing here imports it, so `nox -l`
needs only nox.
"""

from __future__ import annotations

import os
import runpy
import tomllib
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["lint", "typecheck", "unit", "e2e", "benchmark", "contract"]


def results_dir() -> Path:
    """Where the suites write junit/benchmark/metrics files ($TORCHSHIP_RESULTS, else results/local)."""
    out = Path(os.environ.get("TORCHSHIP_RESULTS") or ROOT / "results" / "local")
    out.mkdir(parents=True, exist_ok=True)
    return out


def pytest_args(suite: str) -> list[str]:
    """The junit report every suite writes, so records can be made from it."""
    return [f"tests/{suite}", f"--junitxml={results_dir() / f'junit-{suite}.xml'}"]


def tool_args() -> list[str]:
    """pip arguments for torchship from its recorded source ([tool.torchship.tool]):
    scripts/tool_source.py, which scripts/setup_dev.sh uses too."""
    found: list[str] = runpy.run_path(str(ROOT / "scripts" / "tool_source.py"))["pip_args"](ROOT)
    return found


def install(session: nox.Session, *extras: str) -> None:
    """Install the project with `extras`, the tool from its source; a no-op under --no-venv
    (an image has them)."""
    if session.venv_backend == "none":
        return
    session.install(*tool_args(), "-e", f".[{','.join(extras)}]" if extras else ".")


# --- one environment for the sessions that need the same things -------------------------
# The suites, typecheck and the matrix all need the project with torch and the tools, so
# they share the `dev` session's virtualenv (`.nox/dev`): a cold `nox` installs torch once,
# not once per session. nox has no setting for a shared virtualenv (wntrblm/nox#167), so
# these sessions make none of their own (venv_backend="none"), require `dev`, and run its
# programs. Under --no-venv (`nox --no-venv -s unit` in an image), `dev` makes no
# virtualenv either and they run what is on PATH, as before.

#: What the `dev` session made when it ran in this process: its virtualenv, or None (--no-venv).
_DEV: dict[str, Path | None] = {}


@nox.session(default=False)
def dev(session: nox.Session) -> None:
    """The environment the suites, typecheck and the matrix share: the project's dev extra."""
    install(session, "dev")  # torch, the test tools (torchship among them), ruff, mypy
    _DEV["venv"] = None if session.venv_backend == "none" else Path(session.bin).parent


def run(session: nox.Session, program: str, *args: str) -> None:
    """`session.run(program, *args)` in the `dev` session's virtualenv, or under --no-venv
    with the programs on PATH."""
    if "venv" in _DEV:
        venv = _DEV["venv"]
    else:  # `dev` ran in another process (nox --parallel runs each session in its own):
        # its virtualenv when there is one (so --parallel with --no-venv wants no .nox/dev)
        made = Path(session.env_dir).with_name("dev")
        venv = made if (made / "pyvenv.cfg").is_file() else None
    if venv is None:
        session.run(program, *args)
        return
    scripts = venv / ("Scripts" if os.name == "nt" else "bin")
    session.run(str(scripts / program), *args, env={
        "VIRTUAL_ENV": str(venv), "PATH": os.pathsep.join([str(scripts), os.environ["PATH"]])})


#: The sessions that run in `dev`'s virtualenv.
shared = nox.session(venv_backend="none", requires=["dev"])


@shared
def unit(session: nox.Session) -> None:
    """The project's unit suite (model, data, seeding, health check)."""
    run(session, "pytest", *pytest_args("unit"), *session.posargs)


@shared
def e2e(session: nox.Session) -> None:
    """A real short training run through the CLI: learning, artefacts, determinism."""
    run(session, "pytest", *pytest_args("e2e"), *session.posargs)


@shared
def benchmark(session: nox.Session) -> None:
    """pytest-benchmark cases on CPU (and CUDA when present); JSON under results/."""
    run(session, "pytest", *pytest_args("benchmarks"),
        f"--benchmark-json={results_dir() / 'benchmark.json'}", *session.posargs)


@nox.session
def contract(session: nox.Session) -> None:
    """The project against torchship's contract: configuration, sessions, hooks, metrics."""
    install(session, "test")
    session.run("pytest", "tests/contract", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over the project."""
    if session.venv_backend != "none":
        session.install("ruff")
    session.run("ruff", "check", ".", "--exclude", "torchship")


@shared
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the project's package."""
    run(session, "mypy")  # in `dev`'s virtualenv: mypy follows torch, it must be there


def matrix_envs() -> list[str]:
    """The pinned environments ([tool.torchship.bases], or the local override's), and local.

    The override rule is torchship.config's (local_config_path, load), written out again:
    nox imports this file from its own environment, where torchship need not be installed,
    and `nox -l` must not pay for the tool. The tool's tests hold the two to one answer
    (tests/config/test_config.py).
    """
    tables = [nox.project.load_toml(ROOT / "pyproject.toml").get("tool", {}).get("torchship", {})]
    local = Path(os.environ.get("TORCHSHIP_LOCAL_CONFIG") or ROOT / "torchship.local.toml")
    if local.is_file():
        with local.open("rb") as fh:
            tables.append(tomllib.load(fh))
    bases = next((t["bases"] for t in reversed(tables) if isinstance(t.get("bases"), dict)), {})
    return [*bases, "local"]


@shared
def gpu_tests(session: nox.Session) -> None:
    """Every suite in every pinned image (or on the host with no engine), then compare."""
    run(session, "torchship", "matrix", *session.posargs)


@shared
def compare(session: nox.Session) -> None:
    """Compare the latest matrix run again: `nox -s compare -- --baseline DIR [--run DIR]`."""
    run(session, "torchship", "compare", *session.posargs)


@shared
@nox.parametrize("suite", ["unit", "e2e", "benchmark"])
@nox.parametrize("env", [nox.param(e, tags=[e]) for e in matrix_envs()])
def suite(session: nox.Session, env: str, suite: str) -> None:
    """One suite in one environment's image (env `local`: on the host), compared alone."""
    where = ["--local"] if env == "local" else ["--env", env]
    run(session, "torchship", "matrix", *where, "--suite", suite, "--no-smoke", *session.posargs)
