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


@nox.session
def unit(session: nox.Session) -> None:
    """The project's unit suite (model, data, seeding, health check)."""
    install(session, "torch", "test")
    session.run("pytest", *pytest_args("unit"), *session.posargs)


@nox.session
def e2e(session: nox.Session) -> None:
    """A real short training run through the CLI: learning, artefacts, determinism."""
    install(session, "torch", "test")
    session.run("pytest", *pytest_args("e2e"), *session.posargs)


@nox.session
def benchmark(session: nox.Session) -> None:
    """pytest-benchmark cases on CPU (and CUDA when present); JSON under results/."""
    install(session, "torch", "test")
    session.run("pytest", *pytest_args("benchmarks"),
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


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the project's package."""
    install(session, "dev")  # mypy follows torch: it must be there
    session.run("mypy")


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


@nox.session
def gpu_tests(session: nox.Session) -> None:
    """Every suite in every pinned image (or on the host with no engine), then compare."""
    install(session, "torch", "test")
    session.run("torchship", "matrix", *session.posargs)


@nox.session
def compare(session: nox.Session) -> None:
    """Compare the latest matrix run again: `nox -s compare -- --baseline DIR [--run DIR]`."""
    install(session, "torch", "test")
    session.run("torchship", "compare", *session.posargs)


@nox.session
@nox.parametrize("suite", ["unit", "e2e", "benchmark"])
@nox.parametrize("env", [nox.param(e, tags=[e]) for e in matrix_envs()])
def suite(session: nox.Session, env: str, suite: str) -> None:
    """One suite in one environment's image (env `local`: on the host), compared alone."""
    install(session, "torch", "test")
    where = ["--local"] if env == "local" else ["--env", env]
    session.run("torchship", "matrix", *where, "--suite", suite, "--no-smoke", *session.posargs)
