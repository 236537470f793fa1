"""nox sessions of the tool itself (`cd torchship && nox -l`): its tests, lint and types."""

from __future__ import annotations

from pathlib import Path

import nox

TEMPLATE = Path(__file__).resolve().parent.parent

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["lint", "typecheck", "tests"]


def install_tests(session: nox.Session) -> None:
    if session.venv_backend != "none":
        # The template beside the tool (this repository's root), installed too: the tests
        # run its suites on the host (`--local`) and its training command with this
        # interpreter, as a project's own venv would.
        template = TEMPLATE if (TEMPLATE / "pyproject.toml").is_file() else None
        session.install("-e", ".[test]", *(["-e", str(template)] if template else []))


@nox.session
def tests(session: nox.Session) -> None:
    """The tool's tests, against throwaway projects made from the template: real git, keys,
    engine and registry."""
    install_tests(session)
    session.run("pytest", *session.posargs)


@nox.session
def fast(session: nox.Session) -> None:
    """The tests that need no Docker engine (-m "not docker"; tests/conftest.py marks them)."""
    install_tests(session)
    session.run("pytest", "-m", "not docker", *session.posargs)


@nox.session
def engine(session: nox.Session) -> None:
    """The tests that need the Docker engine and a registry (-m docker)."""
    install_tests(session)
    session.run("pytest", "-m", "docker", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over the tool."""
    if session.venv_backend != "none":
        session.install("ruff")
    session.run("ruff", "check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over src/torchship."""
    if session.venv_backend != "none":
        session.install("-e", ".[dev]")
    session.run("mypy")
