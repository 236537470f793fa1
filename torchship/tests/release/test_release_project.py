"""The release command builds one Project (torchship.project.find) and passes it down: the
release plans on that Project's configuration and repository handle, read once."""

from __future__ import annotations

import pytest

from torchship import project as projectmod
from torchship.errors import ConfigError, TorchshipError
from torchship.release.plan import Options
from torchship.release.run import run
from torchship.testing.gitrepo import Project, git


def test_the_release_plans_on_the_project_it_is_given(project: Project,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in project.env.items():
        monkeypatch.setenv(key, value)
    with projectmod.find(project.path / "src") as proj:  # from inside: the nearest pyproject
        assert proj.root == project.path.resolve()
        assert proj.git.top == project.path.resolve()
        # [tool.torchship] goes bad on disk after the command read it (committed: the tree is
        # clean); reading it again anywhere in the release would fail.
        pyproject = project.path / "pyproject.toml"
        pyproject.write_text(pyproject.read_text() + "not_a_key = 1\n")
        git(project.path, "commit", "-qam", "a bad key", env=project.env)
        out: list[str] = []
        plan = run(proj, Options(part="patch", images=False, dry_run=True), out=out.append)
        assert plan is not None
        assert plan.tag == "v0.1.1"
        assert out[-1].endswith("dry run: nothing was changed")
    with pytest.raises(ConfigError, match="not_a_key"):  # a folder: the Project made afresh
        run(project.path, Options(part="patch", images=False, dry_run=True), out=print)


def test_find_outside_a_project_is_one_clear_error(project: Project) -> None:
    outside = project.tmp / "empty"
    outside.mkdir()
    with pytest.raises(TorchshipError, match="not inside a git repository"):
        projectmod.find(outside)
    (project.path / "pyproject.toml").unlink()
    with pytest.raises(TorchshipError, match=r"no pyproject.toml in .* or above it"):
        projectmod.find(project.path / "src")
