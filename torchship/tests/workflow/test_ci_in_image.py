"""The generated image job, run for real: its steps inside the pinned stand-in devel base.

What a forge does with `container:` / `image:`: the source in the container, the job's
steps in the image's shell, as root. The only difference is where pip finds the tool (this
checkout's wheel, as the image builds get it) and the machine's CA bundle, which this
project's machines need for any download.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml
from workflow_helpers import Project

from torchship.adapters.docker import Docker
from torchship.testing.standins import PinnedBases
from torchship.workflow import cigen

CA = Path("/etc/ssl/certs/ca-certificates.crt")


def test_the_image_jobs_steps_run_the_unit_suite_in_the_pinned_devel_base(
        project: Project, standin_bases: PinnedBases, engine: Docker, tool_wheels: Path) -> None:
    project.set_pyproject_tool(
        f'\n[tool.torchship.bases.{standin_bases.env}]\nruntime = "{standin_bases.runtime}"\n'
        f'devel = "{standin_bases.devel}"\n')
    assert project.invoke("ci.generate").returncode == 0
    job = yaml.safe_load((project.path / cigen.GITHUB_CI).read_text())["jobs"][
        f"suites-{standin_bases.env}"]
    assert job["container"]["image"] == standin_bases.devel
    steps = [s["run"] for s in job["steps"] if "run" in s and "if" not in s]  # e2e: main only
    assert steps[-1] == "nox --no-venv -s unit"
    script = ("set -e\n" + "\n".join(steps)
              + "\npython -c 'import torch; print(\"torch after:\", torch.__version__)'")
    ca = ["-v", f"{CA}:{CA}:ro", "-e", f"PIP_CERT={CA}"] if CA.is_file() else []
    res = subprocess.run(
        [engine.exe, "run", "--rm", "--network", "host", "-v", f"{project.path}:/workspace",
         "-w", "/workspace", "-v", f"{tool_wheels}:/wheels:ro", "-e", "PIP_FIND_LINKS=/wheels",
         *ca, *(f"-e{k}={v}" for k, v in job["env"].items()), job["container"]["image"],
         "sh", "-c", script], capture_output=True, text=True, timeout=900, check=False)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "Session unit was successful" in res.stdout + res.stderr
    # torch stayed the base's own: the install was held to it.
    after = [line for line in res.stdout.splitlines() if line.startswith("torch after:")]
    assert [a.split()[-1].split("+")[0] for a in after] == [standin_bases.torch]
