"""nox sessions of the tool itself (`cd torchship && nox -l`): its tests, lint and types."""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["lint", "typecheck", "tests"]


@nox.session
def tests(session: nox.Session) -> None:
    """The tool's tests, against throwaway projects made from the template: real git, keys,
    engine and registry."""
    if session.venv_backend != "none":
        session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


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
