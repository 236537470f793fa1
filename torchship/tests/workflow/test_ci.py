"""CI files generated from [tool.torchship], validated by real schema validators."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from workflow_helpers import BIN, LOCAL_BASES, Project, bases_toml

from torchship.testing.gitrepo import snapshot
from torchship.workflow import cigen

SCHEMAS = {cigen.GITHUB_CI: "vendor.github-workflows",
           cigen.GITHUB_RELEASE: "vendor.github-workflows",
           cigen.GITLAB_CI: "vendor.gitlab-ci"}


def validate(root: Path) -> None:
    """check-jsonschema with its vendored GitHub Actions and GitLab CI schemas."""
    for rel, schema in SCHEMAS.items():
        res = subprocess.run([str(BIN / "check-jsonschema"), "--builtin-schema", schema,
                              str(root / rel)], capture_output=True, text=True, check=False)
        assert res.returncode == 0, f"{rel}: {res.stdout}{res.stderr}"


def load(root: Path) -> dict[str, Any]:
    return {rel: yaml.safe_load((root / rel).read_text()) for rel in SCHEMAS}


@pytest.fixture
def pinned(project: Project) -> Project:
    """Two pinned environments and a two-label GPU runner, committed in pyproject.toml."""
    envs = {k: LOCAL_BASES[k] for k in ("cu121", "cu124")}
    project.set_pyproject_tool(bases_toml(envs, prefix="tool.torchship.")
                               + '\n[tool.torchship.ci]\ngpu_runner = "linux, a100"\n')
    return project


def test_the_templates_own_files_are_up_to_date_and_valid(template: Path) -> None:
    res = subprocess.run([str(BIN / "invoke"), "ci.generate", "--check"], cwd=template,
                         capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    validate(template)


def test_one_matrix_job_per_pinned_env_and_the_branch_rules(pinned: Project) -> None:
    res = pinned.invoke("ci.generate")
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == [f"wrote {rel}" for rel in SCHEMAS]
    validate(pinned.path)
    files = load(pinned.path)

    ci = files[cigen.GITHUB_CI]
    jobs = ci["jobs"]
    assert "if" not in jobs["lint"]
    assert "if" not in jobs["unit"]
    assert ci["on"]["push"]["branches"] == ["**"]
    assert "feature/model-" in jobs["e2e"]["if"]
    assert "refs/heads/main" in jobs["e2e"]["if"]
    assert jobs["images"]["strategy"]["matrix"]["env"] == ["cu121", "cu124"]
    assert "refs/heads/feature/" in jobs["images"]["if"]
    runs = [step.get("run", "") for step in jobs["images"]["steps"]]
    assert "nox -s \"suite(env='${{ matrix.env }}', suite='unit')\"" in runs
    assert jobs["gpu"]["runs-on"] == ["self-hosted", "linux", "a100"]
    gpu_runs = " ".join(step.get("run", "") for step in jobs["gpu"]["steps"])
    assert "nox --no-venv -s gpu_tests -- --require-gpu" in gpu_runs
    assert "nox --no-venv -s benchmark" in gpu_runs

    release = files[cigen.GITHUB_RELEASE]
    assert release["on"]["push"]["tags"] == ["v*"]
    steps = " ".join(s.get("run", "") for s in release["jobs"]["images"]["steps"])
    assert release["jobs"]["images"]["name"] == "release images (cu121, cu124)"
    assert "invoke images.build " in steps
    assert "gpu_tests -- --no-build" in steps
    assert "invoke images.push" in steps
    assert "docker login 127.0.0.1:5000" not in steps  # the image, not the bases, names the registry

    gitlab = files[cigen.GITLAB_CI]
    assert gitlab["images"]["parallel"]["matrix"] == [{"ENV_NAME": ["cu121", "cu124"]}]
    assert gitlab["release-images"]["rules"] == [{"if": "$CI_COMMIT_TAG =~ /^v/"}]
    assert gitlab["gpu"]["tags"] == ["linux", "a100"]
    assert {"if": "$CI_COMMIT_BRANCH =~ /^feature\\/model-/"} in gitlab["e2e"]["rules"]

    assert pinned.invoke("ci.generate", "--check").returncode == 0


def test_check_fails_on_drift_and_changes_nothing(pinned: Project) -> None:
    assert pinned.invoke("ci.generate").returncode == 0
    pinned.set_pyproject_tool(bases_toml({"cu126": ("2.7.0", "12.6")},
                                         prefix="tool.torchship."))
    before = snapshot(pinned.path, env=pinned.env)
    res = pinned.invoke("ci.generate", "--check")
    assert res.returncode == 1
    assert res.stderr.strip().splitlines() == [
        "error: out of date with [tool.torchship] (pyproject.toml): .github/workflows/ci.yml, "
        ".github/workflows/release.yml, .gitlab-ci.yml (run `invoke ci.generate` and commit)"]
    assert snapshot(pinned.path, env=pinned.env) == before
    assert pinned.invoke("ci.generate").returncode == 0
    assert "cu126" in load(pinned.path)[cigen.GITHUB_CI]["jobs"]["images"]["strategy"]["matrix"]["env"]


def test_a_machines_local_pins_do_not_change_the_committed_files(project: Project) -> None:
    assert project.invoke("ci.generate").returncode == 0
    project.pin_locally(LOCAL_BASES)
    res = project.invoke("ci.generate", "--check")
    assert res.returncode == 0, res.stderr


def test_no_environments_gives_valid_files_without_image_jobs(project: Project) -> None:
    assert project.invoke("ci.generate").returncode == 0
    validate(project.path)
    files = load(project.path)
    assert "images" not in files[cigen.GITHUB_CI]["jobs"]
    assert "images" not in files[cigen.GITHUB_RELEASE]["jobs"]
    assert "No pinned environments are configured" in (project.path / cigen.GITLAB_CI).read_text()


def test_a_bad_ci_key_is_one_clear_line(project: Project) -> None:
    project.set_pyproject_tool('\n[tool.torchship.ci]\ngpu_label = "a100"\n')
    before = snapshot(project.path, env=project.env)
    res = project.invoke("ci.generate")
    assert res.returncode == 1
    assert res.stderr.strip().splitlines() == [
        "error: tool.torchship.ci.gpu_label: unknown key "
        "(allowed: gpu_runner, python, runner, torch_index)"]
    assert snapshot(project.path, env=project.env) == before


def test_the_validators_do_reject_broken_files(project: Project) -> None:
    """Proof the check above has teeth: each schema refuses a job its forge would refuse."""
    assert project.invoke("ci.generate").returncode == 0
    ci = project.path / cigen.GITHUB_CI
    ci.write_text(ci.read_text().replace("runs-on: ubuntu-latest", "runs_on: ubuntu-latest", 1))
    gitlab = project.path / cigen.GITLAB_CI
    doc = yaml.safe_load(gitlab.read_text())
    doc["unit"]["when"] = "sometimes"  # not one of on_success, manual, always, ...
    gitlab.write_text(yaml.safe_dump(doc))
    for path, schema in ((ci, "vendor.github-workflows"), (gitlab, "vendor.gitlab-ci")):
        res = subprocess.run([str(BIN / "check-jsonschema"), "--builtin-schema", schema,
                              str(path)], capture_output=True, text=True, check=False)
        assert res.returncode == 1, f"{path.name} passed: {res.stdout}"


def test_jobs_install_the_projects_own_extras_which_bring_the_tool(pinned: Project) -> None:
    assert pinned.invoke("ci.generate").returncode == 0
    text = "\n".join((pinned.path / rel).read_text() for rel in SCHEMAS)
    extras = tomllib.loads((pinned.path / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    installed = set(re.findall(r"pip install -e '\.\[([\w,]+)\]'", text))
    assert installed == {"dev", "test"}
    assert all(set(group.split(",")) <= set(extras) for group in installed)
    assert any(req.startswith("torchship~=") for req in extras["test"])
    images = load(pinned.path)[cigen.GITHUB_CI]["jobs"]["images"]["steps"]
    assert {"name": "Install", "run": "pip install -e '.[test]'"} in images


def test_extras_that_do_not_bring_the_tool_are_one_clear_line(project: Project) -> None:
    path = project.path / "pyproject.toml"
    path.write_text(re.sub(r', "torchship~=[^"]*"', "", path.read_text()))
    before = snapshot(project.path, env=project.env)
    res = project.invoke("ci.generate")
    assert res.returncode == 1
    assert res.stderr.strip().splitlines() == [
        "error: no extra the CI jobs install (dev) brings torchship (add torchship~=X.Y to the "
        "project's `test` extra (and `dev` = [\"<project>[torch,test]\", ...]))"]
    assert snapshot(project.path, env=project.env) == before
