"""bump-my-version owns the version: how it parses (the project's `parse`, `serialize`) and
which files hold it (its [[tool.bumpversion.files]], globs included), at a release and at
its verification."""

from __future__ import annotations

from pathlib import Path

import pytest

from torchship import config
from torchship.adapters.git import Git
from torchship.release import version
from torchship.release.plan import ReleaseError
from torchship.release.verify import verify
from torchship.testing.gitrepo import git, isolated_env

DASHED = '''[project]
name = "demo"
version = "{v}"

[tool.bumpversion]
current_version = "{v}"
parse = """(?x)
    (?P<major>\\\\d+)\\\\.(?P<minor>\\\\d+)\\\\.(?P<patch>\\\\d+)
    (?:-(?P<pre_l>[a-z]+)(?P<pre_n>\\\\d+))?
"""
serialize = ["{{major}}.{{minor}}.{{patch}}-{{pre_l}}{{pre_n}}", "{{major}}.{{minor}}.{{patch}}"]

[tool.bumpversion.parts.pre_l]
values = ["rc", "final"]
optional_value = "final"
first_value = "final"

[[tool.bumpversion.files]]
filename = "pyproject.toml"
search = 'version = "{{current_version}}"'
replace = 'version = "{{new_version}}"'

[[tool.bumpversion.files]]
filename = "demo.py"
'''


def test_a_custom_parse_and_serialize_are_the_project_s(tmp_path: Path) -> None:
    """X.Y.Z-rcN, not the tool's X.Y.ZrcN: the release reads and writes the project's form."""
    (tmp_path / "pyproject.toml").write_text(DASHED.format(v="1.2.3-rc1"))
    (tmp_path / "demo.py").write_text('__version__ = "1.2.3-rc1"\n')
    nxt = version.plan(tmp_path, part=None, pre="rc", final=False)
    assert (str(nxt.current), str(nxt.new)) == ("1.2.3-rc1", "1.2.3-rc2")
    done = version.plan(tmp_path, part=None, pre=None, final=True)
    assert str(done.new) == "1.2.3"
    version.apply(tmp_path, nxt)
    assert (tmp_path / "demo.py").read_text() == '__version__ = "1.2.3-rc2"\n'


def test_a_version_outside_the_project_s_parse_is_one_line() -> None:
    with pytest.raises(version.VersionError, match="does not match"):
        version.parse("v1", r"(?P<major>\d+)\.(?P<minor>\d+)\.(?P<patch>\d+)")


GLOBBED = '''[project]
name = "demo"
version = "1.0.0"

[tool.bumpversion]
current_version = "1.0.0"

[[tool.bumpversion.files]]
glob = "src/**/__init__.py"
search = '__version__ = "{current_version}"'
replace = '__version__ = "{new_version}"'
'''


@pytest.fixture
def globbed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    env = isolated_env(tmp_path / "home")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("TORCHSHIP_LOCAL_CONFIG", raising=False)
    root = tmp_path / "repo"
    (root / "src" / "demo" / "sub").mkdir(parents=True)
    (root / "pyproject.toml").write_text(GLOBBED)
    (root / "CHANGELOG.md").write_text("# Changelog\n\n## [1.0.0] - 2026-12-01\n\n- first\n")
    for init in ("src/demo/__init__.py", "src/demo/sub/__init__.py"):
        (root / init).write_text('__version__ = "1.0.0"\n')
    git(root, "init", "-q", "-b", "main", env=env)
    git(root, "config", "user.name", "T", env=env)
    git(root, "config", "user.email", "t@example.invalid", env=env)
    git(root, "add", "-A", env=env)
    git(root, "commit", "-q", "-m", "one", env=env)
    git(root, "tag", "-a", "v1.0.0", "-m", "Release 1.0.0", "--no-sign", env=env)
    return root


def test_verify_checks_the_files_a_glob_names(globbed: Path) -> None:
    """A `glob` entry made verify raise KeyError: 'filename'; bump-my-version expands it."""
    with Git.discover(globbed) as repo:
        checked = verify(repo, config.load(globbed), "v1.0.0", require_signature=False)
    assert "version 1.0.0 in pyproject.toml and every [tool.bumpversion] file" in checked


def test_verify_names_a_globbed_file_that_lacks_the_version(globbed: Path) -> None:
    env = isolated_env(globbed.parent / "home")
    (globbed / "src" / "demo" / "sub" / "__init__.py").write_text('__version__ = "0.9.0"\n')
    git(globbed, "commit", "-q", "-am", "stale", env=env)
    git(globbed, "tag", "-a", "v1.0.0", "-f", "-m", "Release 1.0.0", "--no-sign", env=env)
    with Git.discover(globbed) as repo, pytest.raises(ReleaseError) as info:
        verify(repo, config.load(globbed), "v1.0.0", require_signature=False)
    assert info.value.message == "v1.0.0: src/demo/sub/__init__.py does not hold version 1.0.0"
