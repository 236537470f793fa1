"""One branch per model: `invoke model.new NAME` in a real repository."""

from __future__ import annotations

import sys

import pytest
from workflow_helpers import LOCAL_BASES, Project, unchanged

from torchship.testing.gitrepo import snapshot


def test_new_model_branch_from_main_whose_tests_pass(hooked: Project) -> None:
    hooked.pin_locally(LOCAL_BASES)
    hooked.git("switch", "-q", "-c", "feature/other")  # model.new starts from main regardless
    hooked.commit("Work in progress elsewhere")
    main = hooked.git("rev-parse", "main")

    res = hooked.invoke("model.new", "tiny_net")
    assert res.returncode == 0, res.stdout + res.stderr
    first = res.stdout.splitlines()[0]
    assert first.startswith("on branch feature/model-tiny_net (from main): committed ")
    assert first.endswith(" (Env: cpu)")
    assert hooked.git("rev-parse", "--abbrev-ref", "HEAD") == "feature/model-tiny_net"
    assert hooked.git("rev-parse", "HEAD~1") == main
    assert hooked.git("log", "-1", "--format=%s") == "Add the tiny_net model skeleton"
    assert hooked.trailer() == "cpu"  # the commit went through the hooks
    assert hooked.git("status", "--porcelain") == ""
    assert sorted(hooked.git("show", "--name-only", "--format=", "HEAD").splitlines()) == [
        "src/mlproject/models/registry.toml", "src/mlproject/models/tiny_net.py",
        "tests/e2e/test_train_tiny_net.py", "tests/unit/test_model_tiny_net.py"]

    # The skeleton's own tests, run from the new branch's source (not the installed package).
    tests = hooked.run(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                       "tests/unit/test_model_tiny_net.py", "tests/e2e/test_train_tiny_net.py",
                       env={"PYTHONPATH": str(hooked.path / "src")})
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "4 passed" in tests.stdout


@pytest.mark.parametrize(("name", "message"), [
    ("Tiny", "'Tiny' is not a valid model name"),
    ("9lives", "'9lives' is not a valid model name"),
    ("tiny-net", "'tiny-net' is not a valid model name"),
    ("a" * 41, "is not a valid model name"),
    ("class", "'class' is a Python keyword or standard-library module name"),
    ("json", "'json' is a Python keyword or standard-library module name"),
    ("example", "model 'example' already exists on main"),
])
def test_bad_or_taken_names_are_refused_and_nothing_changes(project: Project, name: str,
                                                            message: str) -> None:
    before = snapshot(project.path, env=project.env)
    res = project.invoke("model.new", name)
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: ")
    assert message in lines[0]
    assert snapshot(project.path, env=project.env) == before


def test_an_existing_branch_local_or_remote_is_refused(project: Project) -> None:
    project.git("branch", "feature/model-taken")
    res = project.invoke("model.new", "taken")
    assert res.returncode == 1
    assert "branch feature/model-taken already exists" in res.stderr
    project.git("push", "-q", "origin", "feature/model-taken")
    project.git("branch", "-q", "-D", "feature/model-taken")
    before = snapshot(project.path, env=project.env)
    res = project.invoke("model.new", "taken")
    assert res.returncode == 1
    assert "branch feature/model-taken already exists" in res.stderr
    assert snapshot(project.path, env=project.env) == before


def test_a_dirty_tree_is_refused(project: Project) -> None:
    readme = project.path / "pyproject.toml"
    readme.write_text(readme.read_text() + "\n# local edit\n")
    before = snapshot(project.path, env=project.env)
    res = project.invoke("model.new", "tiny_net")
    assert res.returncode == 1
    assert res.stderr.strip() == ("error: the work tree has uncommitted changes "
                                  "(commit or stash them first)")
    assert snapshot(project.path, env=project.env) == before


def test_a_failing_commit_leaves_the_repository_as_it_was(hooked: Project) -> None:
    """A hook that refuses the skeleton's commit: branch, files and index are undone."""
    hooked.pin_locally(LOCAL_BASES)
    hooked.commit("Start", env={"TORCHSHIP_ENV": "cpu"})
    before = snapshot(hooked.path, env=hooked.env)
    res = hooked.invoke("model.new", "tiny_net", env={"TORCHSHIP_ENV": "cu999"})
    assert res.returncode == 1
    assert res.stderr.startswith("error: the skeleton's commit failed")
    assert unchanged(before, snapshot(hooked.path, env=hooked.env)) == []
