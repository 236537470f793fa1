"""Installing like a user elsewhere: a clean virtualenv that sees only the package index
(pip with this machine's own configuration, nothing of the project's added)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from torchship.workflow import cigen


def clean_env(venv: Path) -> dict[str, str]:
    """A shell with `venv` active and pip's configuration as the machine has it: no PIP_* or
    UV_* variable of anyone's (this machine's pip.conf still names its own folder of wheels,
    where torch's CPU build lies)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PIP_", "UV_", "VIRTUAL_ENV", "PYTHON", "CONDA"))}
    env.update(VIRTUAL_ENV=str(venv), PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}")
    return env


@pytest.mark.slow
def test_a_clean_venv_resolves_what_the_templates_ci_installs(tmp_path: Path, template: Path) -> None:
    """The template's committed CI's install step, word for word, resolved against the index
    in a fresh venv (`--dry-run --report`: the resolution is the question, not the copying).
    Its job environment is left out: it adds PyTorch's CPU index, which only GitHub reaches;
    here this machine's pip.conf gives the same torch."""
    workflow = yaml.safe_load((template / cigen.GITHUB_CI).read_text())
    installs = {step["run"] for job in workflow["jobs"].values() for step in job["steps"]
                if step.get("name") == "Install"}
    # Each job's pip line (the GPU shard's in a venv of its own) installs the in-repo tool and
    # the project, with `dev` (lint) or `test` (the merge job), which `dev` includes.
    lines = {line.removeprefix(".venv/bin/") for run in installs for line in run.splitlines()
             if "pip install" in line}
    assert lines <= {"pip install -e ./torchship -e '.[dev]'", "pip install -e ./torchship -e '.[test]'"}
    install = "pip install -e ./torchship -e '.[dev]'"
    assert install in lines
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    report = tmp_path / "report.json"
    res = subprocess.run(["bash", "-c", f"{install} --dry-run --ignore-installed "
                                        f"--report {shlex.quote(str(report))}"],
                         cwd=template, env=clean_env(venv), capture_output=True, text=True,
                         timeout=900, check=False)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    resolved = {item["metadata"]["name"].lower(): item for item in json.loads(report.read_text())["install"]}
    tool = resolved["torchship"]
    assert tool["download_info"]["url"] == (template / "torchship").as_uri()
    assert tool["download_info"]["dir_info"] == {"editable": True}
    assert resolved["mlproject"]["download_info"]["dir_info"] == {"editable": True}
    assert resolved["torch"]["metadata"]["version"].startswith("2.13.0")
    # Everything else came from an index: nothing else local.
    local = sorted(name for name, item in resolved.items()
                   if "dir_info" in item["download_info"])
    assert local == ["mlproject", "torchship"]
    assert {"nox", "invoke", "pytest", "ruff", "mypy", "docker", "gitpython"} <= set(resolved)

