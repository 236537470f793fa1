"""With an engine that cannot reach a base's registry, gpu_tests stops in one line, before
building anything: the base it cannot pull, and the two ways on."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

from torchship.adapters.docker import Docker
from torchship.testing.gitrepo import isolated_env, make_repo


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_base_stops_the_matrix_in_one_line(engine: Docker, template_root: Path,
                                                          tmp_path: Path) -> None:
    project = make_repo(template_root, tmp_path / "repo", env=isolated_env(tmp_path / "home"))
    # The shipped cu128 bases, moved to a registry that does not answer: what a machine with
    # Docker but no route to Docker Hub meets, on any machine (one that reaches Docker Hub
    # would otherwise pull gigabytes here).
    pyproject = (project / "pyproject.toml").read_text()
    port = _closed_port()
    assert "pytorch/pytorch:2.8.0" in pyproject
    (project / "torchship.local.toml").write_text(
        pyproject.split("[tool.torchship.bases.cu128]")[1].split("\n\n")[0].join(
            ["[bases.cu128]", ""]).replace("pytorch/pytorch:", f"127.0.0.1:{port}/pytorch/pytorch:"))
    env = {k: v for k, v in os.environ.items() if k != "TORCHSHIP_LOCAL_CONFIG"}
    tool = shutil.which("torchship", path=str(Path(sys.executable).parent)) or "torchship"
    done = subprocess.run([tool, "matrix"], cwd=project, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert len(lines) == 1, lines
    [line] = lines
    assert line.startswith(f"error: cannot pull the cu128 devel base 127.0.0.1:{port}/pytorch/pytorch:"
                           "2.8.0-cuda12.8-cudnn9-devel@sha256:"), line
    assert "does not answer" in line
    assert "torchship.testing.standins" in line
    assert "--local" in line
    # Stopped before anything started: no run folder, so no build and no container either.
    assert not (project / "results").exists()
