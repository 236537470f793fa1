"""Commits that name their environment: real hooks on real `git commit`s."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from workflow_helpers import DIGEST, LOCAL_BASES, Project, bases_toml

from torchship.testing.gitrepo import snapshot
from torchship.testing.template import drop_bases


def test_install_sets_the_template_and_both_hooks(hooked: Project) -> None:
    assert hooked.git("config", "commit.template") == ".gitmessage"
    hooks = hooked.path / ".git" / "hooks"
    for name in ("pre-commit", "commit-msg"):
        text = (hooks / name).read_text()
        assert ("pre-commit" in text and sys.executable in text) or str(hooks) in text


def test_missing_trailer_gets_the_env_matching_local_torch(hooked: Project) -> None:
    # default_env is cu121, but this venv's torch 2.13.0 (no CUDA) is what `cpu` pins.
    hooked.pin_locally(LOCAL_BASES, default_env="cu121")
    res = hooked.commit("Tune the learning rate")
    assert res.returncode == 0, res.stdout + res.stderr
    assert hooked.trailer() == "cpu"
    assert hooked.git("log", "-1", "--format=%B").startswith("Tune the learning rate\n\nEnv: cpu")
    assert "matches the local torch 2.13.0+cpu" in res.stdout + res.stderr


def test_inside_an_image_the_image_env_wins(hooked: Project) -> None:
    hooked.pin_locally(LOCAL_BASES)
    res = hooked.commit("Fix the loader", env={"TORCHSHIP_ENV": "cu124"})
    assert res.returncode == 0, res.stdout + res.stderr
    assert hooked.trailer() == "cu124"


# Bases whose torch differs from this venv's 2.13.0 (CPU): one of them a CPU base too, so the
# torch version alone decides. The local stack matches none of them.
UNMATCHED_BASES = {"cpu": ("2.12.0", None), "cu124": LOCAL_BASES["cu124"]}
NONE_TRAILER = "none (local torch 2.13.0+cpu, CUDA none; matches no pinned environment)"


def torchship_lines(res: subprocess.CompletedProcess[str]) -> list[str]:
    return [ln for ln in (res.stdout + res.stderr).splitlines() if ln.startswith("torchship:")]


def test_no_match_names_no_environment_and_the_check_warns(hooked: Project) -> None:
    """The default environment is not claimed: the trailer says what the local stack is."""
    hooked.pin_locally(UNMATCHED_BASES, default_env="cpu")
    res = hooked.commit("Add a metric")
    assert res.returncode == 0, res.stdout + res.stderr
    assert hooked.trailer() == NONE_TRAILER
    assert hooked.git("log", "-1", "--format=%B") == f"Add a metric\n\nEnv: {NONE_TRAILER}"
    out = res.stdout + res.stderr
    assert "warning: local torch 2.13.0+cpu, CUDA none matches no pinned environment" in out
    assert f"torchship: added `Env: {NONE_TRAILER}`" in out

    which = hooked.invoke("env.which", "HEAD")
    assert which.returncode == 0, which.stderr
    assert which.stdout.splitlines()[1:] == [
        f"env     {NONE_TRAILER}",
        "images  (none: the commit was made in no pinned environment)"]
    detect = hooked.invoke("env.detect")
    assert detect.returncode == 0, detect.stderr
    assert detect.stdout.strip() == (
        "(none): local torch 2.13.0+cpu, CUDA none matches no pinned environment (cpu, cu124); "
        f"a commit here gets `Env: {NONE_TRAILER}`")


def test_an_unmatched_trailer_is_kept_on_amend(hooked: Project) -> None:
    hooked.pin_locally(UNMATCHED_BASES)
    assert hooked.commit("Add a metric").returncode == 0
    res = hooked.run("git", "commit", "--amend", "--no-edit")
    assert res.returncode == 0, res.stdout + res.stderr
    assert hooked.trailer() == NONE_TRAILER
    assert hooked.git("log", "-1", "--format=%B").count("Env:") == 1
    assert f"torchship: Env: {NONE_TRAILER} kept as written" in res.stdout + res.stderr


def test_off_mode_still_writes_the_honest_trailer(hooked: Project) -> None:
    hooked.set_pyproject_tool('\n[tool.torchship.hooks]\nenv_check = "off"\n')
    hooked.git("commit", "-q", "--no-verify", "-am", "No torch check")
    hooked.pin_locally(UNMATCHED_BASES)
    res = hooked.commit("Add a metric")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "warning" not in res.stdout + res.stderr
    assert hooked.trailer() == NONE_TRAILER


def test_refuse_mode_blocks_a_commit_from_an_unpinned_torch(hooked: Project) -> None:
    hooked.set_pyproject_tool('\n[tool.torchship.hooks]\nenv_check = "refuse"\n')
    hooked.git("commit", "-q", "--no-verify", "-am", "Refuse unpinned environments")
    hooked.pin_locally(UNMATCHED_BASES)
    before = hooked.git("rev-parse", "HEAD")
    res = hooked.commit("Should not land")
    assert res.returncode != 0
    assert torchship_lines(res) == [
        "torchship: error: local torch 2.13.0+cpu, CUDA none matches no pinned environment "
        "(cpu: torch 2.12.0, CUDA none; cu124: torch 2.6.0, CUDA 12.4); work in a devel image or "
        'install a pinned torch (set [tool.torchship.hooks] env_check = "warn" to allow)']
    assert "Traceback" not in res.stdout + res.stderr
    assert hooked.git("rev-parse", "HEAD") == before


def test_refuse_mode_the_commit_msg_hook_refuses_too(hooked: Project) -> None:
    """With the pre-commit check skipped, the commit-msg hook does not write `none` instead."""
    hooked.set_pyproject_tool('\n[tool.torchship.hooks]\nenv_check = "refuse"\n')
    hooked.git("commit", "-q", "--no-verify", "-am", "Refuse unpinned environments")
    hooked.pin_locally(UNMATCHED_BASES)
    before = hooked.git("rev-parse", "HEAD")
    res = hooked.commit("Should not land", env={"SKIP": "torchship-env-check"})
    assert res.returncode != 0
    assert torchship_lines(res) == [
        "torchship: error: local torch 2.13.0+cpu, CUDA none matches no pinned environment "
        '(cpu, cu124); [tool.torchship.hooks] env_check = "refuse" (work in a devel image or '
        "install a pinned torch)"]
    assert "Traceback" not in res.stdout + res.stderr
    assert hooked.git("rev-parse", "HEAD") == before
    written = hooked.commit("Should not land either\n\nEnv: none",
                            env={"SKIP": "torchship-env-check"})
    assert written.returncode != 0
    assert torchship_lines(written) == [
        "torchship: error: `Env: none` says the commit matches no pinned environment, and "
        '[tool.torchship.hooks] env_check = "refuse" (commit from a pinned environment)']
    assert hooked.git("rev-parse", "HEAD") == before


def test_a_trailer_naming_an_unpinned_env_is_refused(hooked: Project) -> None:
    hooked.pin_locally(LOCAL_BASES)
    before = hooked.git("rev-parse", "HEAD")
    res = hooked.commit("Try cu999\n\nEnv: cu999")
    assert res.returncode != 0
    assert "`Env: cu999` is not a pinned environment (one of: cpu, cu121, cu124)" in res.stdout + res.stderr
    assert hooked.git("rev-parse", "HEAD") == before


def test_a_pinned_trailer_is_kept_as_written(hooked: Project) -> None:
    hooked.pin_locally(LOCAL_BASES)
    res = hooked.commit("Benchmarked on the A100 box\n\nEnv: cu121")
    assert res.returncode == 0, res.stdout + res.stderr
    assert hooked.trailer() == "cu121"
    assert hooked.git("log", "-1", "--format=%B").count("Env:") == 1


def test_two_env_trailers_are_refused(hooked: Project) -> None:
    hooked.pin_locally(LOCAL_BASES)
    res = hooked.commit("Both?\n\nEnv: cpu\nEnv: cu121")
    assert res.returncode != 0
    assert "2 Env trailers" in res.stdout + res.stderr


def test_no_environments_configured_adds_nothing_and_says_so(hooked: Project) -> None:
    drop_bases(hooked.path)  # the template pins cu128: a project that pins none
    hooked.git("commit", "-qam", "Pin no environment")
    res = hooked.commit("Start the model")
    assert res.returncode == 0, res.stdout + res.stderr
    assert hooked.trailer() == ""
    assert "no environments are configured" in res.stdout + res.stderr


def test_editor_commit_with_the_template(hooked: Project) -> None:
    """Through the editor: the template's comments go, the trailer lands after the body."""
    hooked.pin_locally(LOCAL_BASES)
    (hooked.path / "notes.txt").write_text("x\n")
    hooked.git("add", "notes.txt")
    editor = "sed -i '1s/^/Write notes/'"
    res = hooked.run("git", "commit", env={"GIT_EDITOR": editor})
    assert res.returncode == 0, res.stdout + res.stderr
    assert hooked.git("log", "-1", "--format=%B") == "Write notes\n\nEnv: cpu"


def test_an_empty_message_still_aborts(hooked: Project) -> None:
    hooked.pin_locally(LOCAL_BASES)
    (hooked.path / "notes.txt").write_text("x\n")
    hooked.git("add", "notes.txt")
    before = hooked.git("rev-parse", "HEAD")
    res = hooked.run("git", "commit", env={"GIT_EDITOR": "true"})
    assert res.returncode != 0
    assert "empty commit message" in res.stderr + res.stdout
    assert hooked.git("rev-parse", "HEAD") == before


def test_a_bad_hooks_key_is_one_clear_line(hooked: Project) -> None:
    hooked.set_pyproject_tool('\n[tool.torchship.hooks]\nenv_check = "sometimes"\n')
    hooked.git("add", "pyproject.toml")  # hooks see what is staged (pre-commit stashes the rest)
    before = hooked.git("rev-parse", "HEAD")
    res = hooked.commit("Anything")
    assert res.returncode != 0
    assert ("tool.torchship.hooks.env_check: 'sometimes' is not allowed (one of: warn, refuse, off)"
            in res.stdout + res.stderr)
    assert "Traceback" not in res.stdout + res.stderr
    assert hooked.git("rev-parse", "HEAD") == before


def test_which_reads_the_pins_at_that_commit(hooked: Project) -> None:
    """env.which shows the digest pinned when the commit was made, not today's."""
    hooked.set_pyproject_tool(bases_toml({"cpu": LOCAL_BASES["cpu"]}, prefix="tool.torchship."))
    hooked.git("add", "pyproject.toml")
    res = hooked.run("git", "commit", "-m", "Pin the cpu base")
    assert res.returncode == 0, res.stdout + res.stderr
    pinned = hooked.git("rev-parse", "HEAD")
    newer = "sha256:" + "cd" * 32
    text = (hooked.path / "pyproject.toml").read_text().replace(DIGEST, newer)
    (hooked.path / "pyproject.toml").write_text(text)
    hooked.git("add", "pyproject.toml")
    assert hooked.run("git", "commit", "-m", "Move the cpu base").returncode == 0

    old = hooked.invoke("env.which", pinned[:10])
    assert old.returncode == 0, old.stderr
    assert "env     cpu" in old.stdout
    assert f"devel   {DIGEST}" in old.stdout
    assert f"pins    from pyproject.toml at {pinned[:12]}" in old.stdout
    new = hooked.invoke("env.which", "HEAD")
    assert f"devel   {newer}" in new.stdout


def test_which_falls_back_to_the_local_pins_and_says_so(hooked: Project) -> None:
    hooked.pin_locally(LOCAL_BASES)
    assert hooked.commit("Anything", env={"TORCHSHIP_ENV": "cu121"}).returncode == 0
    res = hooked.invoke("env.which", "HEAD")
    assert res.returncode == 0, res.stderr
    assert "env     cu121" in res.stdout + res.stderr
    assert ("pins    from torchship.local.toml as it is now: the commit's pyproject.toml does "
            "not pin it") in res.stdout + res.stderr


def test_which_on_a_commit_without_trailer_and_on_a_bad_rev(project: Project) -> None:
    res = project.invoke("env.which", "HEAD")
    assert res.returncode == 0
    assert "(none: the commit has no Env trailer)" in res.stdout + res.stderr
    before = snapshot(project.path, env=project.env)
    bad = project.invoke("env.which", "no-such-rev")
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines() == [
        f"error: 'no-such-rev' is not a commit in {project.path} "
        "(give a sha, branch or tag (git log --oneline))"]
    assert snapshot(project.path, env=project.env) == before


def test_a_commit_works_from_a_shell_with_no_virtualenv_active(hooked: Project) -> None:
    """The hooks find the project's ./.venv (scripts/setup_dev.sh's) with nothing activated
    and no torchship on PATH; with no tool anywhere they say what to do."""
    hooked.pin_locally(LOCAL_BASES)
    bare = {**hooked.env, "PATH": "/usr/bin:/bin", "VIRTUAL_ENV": ""}
    res = hooked.commit("Nothing found", env=bare)
    assert res.returncode != 0
    assert ("torchship hook: torchship is not in ./.venv, the active virtualenv or on PATH: run "
            "scripts/setup_dev.sh") in res.stdout + res.stderr
    venv = hooked.path / ".venv"  # the project's venv: this one's parts (its torch, its tool)
    venv.mkdir()
    for part in Path(sys.prefix).iterdir():
        (venv / part.name).symlink_to(part)
    res = hooked.commit("Commit from a plain shell", env=bare)
    assert res.returncode == 0, res.stdout + res.stderr
    assert hooked.trailer() == "cpu"
