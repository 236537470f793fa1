"""`invoke release` run as a user runs it, on a copy of the template: the happy paths."""

from __future__ import annotations

import re
import subprocess

from torchship.testing.gitrepo import Project, remote_refs
from torchship.testing.keys import SshKey, configure_ssh
from torchship.testing.template import drop_bases
from torchship.workflow.template import package_of


def _version_files(p: Project) -> tuple[str, str]:
    pyproject = (p.path / "pyproject.toml").read_text()
    init = (p.path / "src" / package_of(p.path) / "__init__.py").read_text()
    return (re.search(r'^version = "(.*)"', pyproject, re.M).group(1),  # type: ignore[union-attr]
            re.search(r'__version__ = "(.*)"', init).group(1))  # type: ignore[union-attr]


def test_dry_run_prints_the_plan_and_changes_nothing(project: Project) -> None:
    before = project.snapshot()
    res = project.invoke("release", "--part", "minor", "--dry-run", "--no-images")
    assert res.returncode == 0, res.stderr
    assert project.snapshot().diff(before) == []
    out = res.stdout
    assert "release 0.1.0 -> 0.2.0 on main" in out
    assert 'pyproject.toml:7\n    - version = "0.1.0"\n    + version = "0.2.0"' in out
    assert '+ __version__ = "0.2.0"' in out
    assert "  CHANGELOG.md:\n    12: +\n    13: + ## [0.2.0] - " in out
    assert "+ [unreleased]: https://github.com/torchship/torchship/compare/v0.2.0...HEAD" in out
    assert "tag: v0.2.0 (annotated, signed)" in out
    assert "  | Release 0.2.0" in out
    assert "  | ### Added" in out
    assert "  | Environment:" in out
    assert "images: skipped (--no-images)" in out
    assert "push: nothing (no --push)" in out
    assert out.rstrip().endswith("dry run: nothing was changed")


def test_dry_run_plans_no_images_without_pinned_bases(project: Project) -> None:
    drop_bases(project.path)  # the template pins cu128
    project.git("commit", "-q", "-am", "no pinned environment")
    res = project.invoke("release", "--part", "patch", "--dry-run", "--push")
    assert res.returncode == 0, res.stderr
    # torchship.images.build.release_step plans nothing for a project with no pinned environment.
    assert "images: 0 to build" in res.stdout
    assert "push: git push --atomic origin main v0.1.1" in res.stdout


def test_gpg_release_verifies_with_git_and_release_verify(project: Project) -> None:
    res = project.invoke("release", "--part", "patch", "--no-images")
    assert res.returncode == 0, res.stderr
    assert "released 0.1.1: tag v0.1.1" in res.stdout
    assert _version_files(project) == ("0.1.1", "0.1.1")
    assert project.git("log", "-1", "--format=%s") == "Release 0.1.1"
    assert project.git("status", "--porcelain") == ""
    tag_v = subprocess.run(["git", "tag", "-v", "v0.1.1"], cwd=project.path, env=project.env,
                           capture_output=True, text=True, check=False)
    assert tag_v.returncode == 0, tag_v.stderr
    assert "Good signature" in tag_v.stderr
    body = project.git("cat-file", "tag", "v0.1.1")
    assert "### Added" in body
    assert "Environment:" in body
    log = (project.path / "CHANGELOG.md").read_text()
    assert re.search(r"## \[Unreleased\]\n\n## \[0\.1\.1\] - \d{4}-\d{2}-\d{2}\n\n### Changed", log)
    assert "/compare/v0.1.1...HEAD" in log
    verify = project.invoke("release.verify", "v0.1.1")
    assert verify.returncode == 0, verify.stderr
    assert "v0.1.1 verifies" in verify.stdout


def test_ssh_release_with_signed_commit(project: Project, sshkey: SshKey) -> None:
    configure_ssh(project.path, sshkey, env=project.env)
    res = project.invoke("release", "--part", "major", "--no-images", "--sign-commit")
    assert res.returncode == 0, res.stderr
    assert "-----BEGIN SSH SIGNATURE-----" in project.git("cat-file", "tag", "v1.0.0")
    project.git("tag", "-v", "v1.0.0")
    project.git("verify-commit", "HEAD")
    verify = project.invoke("release.verify", "v1.0.0")
    assert verify.returncode == 0, verify.stderr
    assert "signature verifies (ssh)" in verify.stdout


def test_push_is_atomic_and_complete_and_says_what_it_changed(project: Project) -> None:
    before = dict(line.split(" ") for line in remote_refs(project.remote, env=project.env))
    res = project.invoke("release", "--part", "patch", "--no-images", "--push")
    assert res.returncode == 0, res.stderr
    refs = dict(line.split(" ") for line in remote_refs(project.remote, env=project.env))
    commit, tag = project.git("rev-parse", "HEAD"), project.git("rev-parse", "refs/tags/v0.1.1")
    assert refs["refs/heads/main"] == commit
    assert refs["refs/tags/v0.1.1"] == tag
    # What changed outside the repository is in the output: which remote (name and URL),
    # each ref and the object it now points at; nothing else on the remote moved.
    assert (f"• git push --atomic to origin ({project.remote}): branch main at {commit[:12]}, "
            f"tag v0.1.1 (tag object {tag[:12]} of {commit[:12]})") in res.stdout.splitlines()
    assert {k: v for k, v in refs.items() if k not in ("refs/heads/main", "refs/tags/v0.1.1")} \
        == {k: v for k, v in before.items() if k != "refs/heads/main"}
    assert res.stdout.rstrip().splitlines()[-1] == "released 0.1.1: tag v0.1.1"


def test_pre_releases_then_finalise(project: Project) -> None:
    def entry(text: str) -> None:
        log = (project.path / "CHANGELOG.md").read_text()
        log = log.replace("## [Unreleased]\n", f"## [Unreleased]\n\n### Fixed\n\n- {text}\n", 1)
        project.commit("CHANGELOG.md", log, text)

    steps = [(["--part", "minor", "--pre", "rc"], "0.2.0rc1"), (["--pre", "rc"], "0.2.0rc2"),
             (["--final"], "0.2.0")]
    for n, (args, expected) in enumerate(steps):
        if n:
            entry(f"change {n}")
        res = project.invoke("release", *args, "--no-images", "--no-sign")
        assert res.returncode == 0, res.stderr
        assert _version_files(project) == (expected, expected)
        assert project.git("describe", "--tags", "--exact-match") == f"v{expected}"
    project.refused("release", "--final", "--no-images", says="not a pre-release")


def test_unsigned_release_when_asked(project: Project) -> None:
    res = project.invoke("release", "--part", "patch", "--no-images", "--no-sign")
    assert res.returncode == 0, res.stderr
    assert "-----BEGIN" not in project.git("cat-file", "tag", "v0.1.1")
    refused = project.invoke("release.verify", "v0.1.1")
    assert refused.returncode == 1
    assert refused.stderr.strip() == "error: tag v0.1.1 is not signed (release with signing on)"


def test_release_policy_from_pyproject(project: Project, sshkey: SshKey) -> None:
    configure_ssh(project.path, sshkey, env=project.env)
    text = (project.path / "pyproject.toml").read_text()
    table = "[tool.torchship.release]\n"  # the fixture's (evidence = false)
    policy = f'{table}sign_commit = true\ntag_prefix = "release-"\n'
    project.commit("pyproject.toml", text.replace(table, policy))
    res = project.invoke("release", "--part", "patch", "--no-images")
    assert res.returncode == 0, res.stderr
    project.git("verify-commit", "HEAD")
    project.git("tag", "-v", "release-0.1.1")
    assert "/compare/release-0.1.1...HEAD" in (project.path / "CHANGELOG.md").read_text()
    assert project.invoke("release.verify", "release-0.1.1").returncode == 0
