"""nox sessions: each a few lines calling into torchship (`nox -l` lists them)."""

from __future__ import annotations

import sys
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "src"))

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["lint", "typecheck", "unit", "e2e", "benchmark", "tests"]


def results_dir() -> Path:
    """Where the suites write junit/benchmark/metrics files ($TORCHSHIP_RESULTS, else results/local)."""
    import os

    out = Path(os.environ.get("TORCHSHIP_RESULTS") or ROOT / "results" / "local")
    out.mkdir(parents=True, exist_ok=True)
    return out


def pytest_args(suite: str) -> list[str]:
    """The junit report every suite writes, so records can be made from it."""
    return [f"tests/{suite}", f"--junitxml={results_dir() / f'junit-{suite}.xml'}"]


def install(session: nox.Session, *extras: str) -> None:
    """Install the project with `extras`; a no-op under --no-venv (an image has them)."""
    if session.venv_backend == "none":
        return
    session.install("-e", f".[{','.join(extras)}]" if extras else ".")


@nox.session
def unit(session: nox.Session) -> None:
    """The example project's unit suite (model, data, seeding, fingerprint, health check)."""
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
def lint(session: nox.Session) -> None:
    """ruff over the whole tree."""
    if session.venv_backend != "none":
        session.install("ruff")
    session.run("ruff", "check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the automation library."""
    install(session, "dev")  # mypy follows torch and yaml: their packages and stubs must be there
    session.run("mypy")


@nox.session
def tests(session: nox.Session) -> None:
    """The tooling's own tests: real git, real keys, real engine and registry."""
    install(session, "torch", "tooling", "test")  # gpubench's tests time real torch ops
    session.run("pytest", "tests/torchship", *session.posargs)


def matrix_envs() -> list[str]:
    """The pinned environments from [tool.torchship] (light: no docker, no torch), and local."""
    from torchship import config

    try:
        return [*config.load(ROOT).envs, "local"]
    except Exception:  # a broken configuration must not break `nox -l`; gpu_tests reports it
        return ["local"]


def matrix_install(session: nox.Session) -> None:
    """What running and comparing the suites needs (the suites themselves run in `local`).

    The matrix runs in the session's interpreter, not nox's own: only the session has rich,
    docker, matplotlib and, for the host's `local` run, torch.
    """
    install(session, "torch", "test", "tooling")


@nox.session
def gpu_tests(session: nox.Session) -> None:
    """Every suite in every pinned image (or on the host with no engine), then compare."""
    matrix_install(session)
    session.run("python", "-m", "torchship.matrix", *session.posargs)


@nox.session
def compare(session: nox.Session) -> None:
    """Compare the latest matrix run again: `nox -s compare -- --baseline DIR [--run DIR]`."""
    matrix_install(session)
    session.run("python", "-m", "torchship.matrix", "compare", *session.posargs)


@nox.session
@nox.parametrize("suite", ["unit", "e2e", "benchmark"])
@nox.parametrize("env", [nox.param(e, tags=[e]) for e in matrix_envs()])
def suite(session: nox.Session, env: str, suite: str) -> None:
    """One suite in one environment's image (env `local`: on the host), compared alone."""
    matrix_install(session)
    where = ["--local"] if env == "local" else ["--env", env]
    session.run("python", "-m", "torchship.matrix", *where, "--suite", suite, "--no-smoke",
                *session.posargs)
