"""Fixtures for every tool test: where the template is, a throwaway copy of it, the tool's wheel.

No tool test uses the template's checkout as its project: tests read `template_root` and run
in `template` (or a copy of it of their own), so nothing they do reaches the checkout's
results/ or depends on what the checkout holds besides its committed files.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from torchship.testing.gitrepo import isolated_env, make_repo
from torchship.testing.template import build_tool_wheel, template_source

# The files a user writes when adopting a model of their own (tests/test_adoption.py): a
# project's sources and tests, not the tool's, so neither collected nor linted here.
collect_ignore = ["adoption"]

TOOL = Path(__file__).resolve().parents[1]  # the tool's source folder (its pyproject.toml)

# The fixtures that need the Docker engine (torchship.testing.engine): a test that asks for
# one, itself or through another fixture, is an engine test, so `-m "not docker"` is the
# fast session (no engine) and `-m docker` the engine's.
ENGINE_FIXTURES = frozenset({"engine", "registry", "standin_bases"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if ENGINE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.docker)


@pytest.fixture(scope="session")
def template_root() -> Path:
    """The template: the repository root beside the tool, or $TORCHSHIP_TEMPLATE. Read only."""
    return template_source(Path(__file__).resolve().parents[2])


@pytest.fixture(scope="session")
def package(template_root: Path) -> str:
    """The template's package (its import name, [tool.torchship.project]), read from the
    template: no test names it, so a template with another example still passes."""
    from torchship.workflow.template import package_of

    return package_of(template_root)


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory, template_root: Path) -> Path:
    """A throwaway copy of the template (its tracked and unignored files) committed in a fresh
    repository, once per session: a test that changes files copies it again."""
    base = tmp_path_factory.mktemp("template")
    return make_repo(template_root, base / "repo", env=isolated_env(base / "home"))


@pytest.fixture(scope="session")
def tool_wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the tool's wheel, built once from its source (for PIP_FIND_LINKS)."""
    folder = tmp_path_factory.mktemp("wheels")
    build_tool_wheel(TOOL, folder)
    return folder
