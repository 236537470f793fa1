"""Helpers for the workflow tests (a module of its own: test files import from it, and a
`conftest` module name is shared by every test folder)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from torchship.testing.gitrepo import Snapshot, git, isolated_env
from torchship.testing.template import drop_bases

BIN = Path(sys.executable).parent
VENV = BIN.parent
DIGEST = "sha256:" + "ab" * 32

# A base whose torch/CUDA match this machine's CPU torch 2.13.0, and two that do not.
LOCAL_BASES = {
    "cpu": ("2.13.0", None),
    "cu121": ("2.5.1", "12.1"),
    "cu124": ("2.6.0", "12.4"),
}


def bases_toml(bases: dict[str, tuple[str, str | None]], *, prefix: str = "",
               digest: str = DIGEST) -> str:
    """[<prefix>bases.<env>] tables pinning stand-in references by digest."""
    out = []
    for env, (torch, cuda) in bases.items():
        out.append(f"\n[{prefix}bases.{env}]\n"
                   f'runtime = "127.0.0.1:5000/stand-in/pytorch:{env}-runtime@{digest}"\n'
                   f'devel = "127.0.0.1:5000/stand-in/pytorch:{env}-devel@{digest}"\n'
                   f'torch = "{torch}"\n' + (f'cuda = "{cuda}"\n' if cuda else ""))
    return "".join(out)


@dataclass
class Project:
    """A copy of the template in tmp_path with a bare remote; commits run its hooks."""

    path: Path
    remote: Path
    env: dict[str, str]

    def run(self, *args: str, env: dict[str, str] | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(args), cwd=self.path, env={**self.env, **(env or {})},
                              text=True, capture_output=True, timeout=timeout, check=False)

    def invoke(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return self.run(str(BIN / "invoke"), *args, env=env)

    def git(self, *args: str) -> str:
        return git(self.path, *args, env=self.env)

    def commit(self, message: str, *, env: dict[str, str] | None = None,
               file: str = "notes.txt") -> subprocess.CompletedProcess[str]:
        """Change a file and `git commit -m message` (the hooks run)."""
        path = self.path / file
        path.write_text((path.read_text() if path.exists() else "") + message + "\n")
        self.git("add", file)
        return self.run("git", "commit", "-m", message, env=env)

    def trailer(self, rev: str = "HEAD") -> str:
        return self.git("log", "-1", "--format=%(trailers:key=Env,valueonly)", rev)

    def pin_locally(self, bases: dict[str, tuple[str, str | None]], *,
                    default_env: str | None = None) -> None:
        """Stand-in bases in the git-ignored torchship.local.toml, as the images scripts do."""
        head = f'default_env = "{default_env}"\n' if default_env else ""
        (self.path / "torchship.local.toml").write_text(head + bases_toml(bases))

    def set_pyproject_tool(self, text: str) -> None:
        """Append `text` (tables under [tool.torchship]) to pyproject.toml; bases in it
        replace the template's."""
        if "[tool.torchship.bases." in text:
            drop_bases(self.path)
        path = self.path / "pyproject.toml"
        path.write_text(path.read_text() + text)




def workflow_env(home: Path, pre_commit_home: Path) -> dict[str, str]:
    """Isolated git config; this venv's tools on PATH, as a developer with it activated."""
    env = isolated_env(home, PRE_COMMIT_HOME=str(pre_commit_home), VIRTUAL_ENV=str(VENV),
                       PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    for var in ("TORCHSHIP_ENV", "TORCHSHIP_LOCAL_CONFIG", "SKIP"):
        env.pop(var, None)
    return env


def unchanged(before: Snapshot, after: Snapshot) -> list[str]:
    """What differs, ignoring tool caches (ruff's, written by the hook) and index stat data.

    A commit refused by a hook leaves ruff's cache behind and git re-stats the index; neither
    is a change a person would call one.
    """
    def clean(s: Snapshot) -> Snapshot:
        return Snapshot(s.head, s.refs, None,
                        tuple(f for f in s.files if not f[0].startswith(".ruff_cache/")),
                        "\n".join(ln for ln in s.status.splitlines() if ".ruff_cache" not in ln))
    return clean(before).diff(clean(after))
