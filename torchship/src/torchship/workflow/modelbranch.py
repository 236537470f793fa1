"""One branch per model: `invoke model.new NAME` -> `feature/model-NAME` with a skeleton.

The branch starts from the release branch (main) and its first commit holds a module
under src/<package>/models/, an entry in models/registry.toml, a unit test and an e2e
test that pass as they are. Every check runs before anything is touched, so a refused
name changes nothing; a failure half-way switches back and deletes the branch.
"""

from __future__ import annotations

import keyword
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from torchship import config as configmod
from torchship.adapters.proc import run
from torchship.errors import TorchshipError

BRANCH_PREFIX = "feature/model-"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


class ModelError(TorchshipError):
    """The model cannot be created as asked; nothing was changed."""


@dataclass(frozen=True)
class Skeleton:
    package: str
    name: str

    @property
    def branch(self) -> str:
        return BRANCH_PREFIX + self.name

    @property
    def module(self) -> str:
        return f"src/{self.package}/models/{self.name}.py"

    @property
    def registry(self) -> str:
        return f"src/{self.package}/models/registry.toml"

    @property
    def unit_test(self) -> str:
        return f"tests/unit/test_model_{self.name}.py"

    @property
    def e2e_test(self) -> str:
        return f"tests/e2e/test_train_{self.name}.py"

    @property
    def files(self) -> list[str]:
        return [self.module, self.registry, self.unit_test, self.e2e_test]


def find_package(root: Path) -> str:
    """The project's package: the one folder under src/ that is not torchship."""
    found = sorted(init.parent.name for init in (root / "src").glob("*/__init__.py")
                   if init.parent.name != "torchship")
    if len(found) != 1:
        raise ModelError(f"expected one package under {root / 'src'} besides torchship, "
                         f"found {', '.join(found) or 'none'}")
    if not (root / "src" / found[0] / "models" / "registry.toml").is_file():
        raise ModelError(f"src/{found[0]}/models/registry.toml is missing",
                         hint="restore it from the template")
    return found[0]


def validate_name(name: str) -> None:
    if not _NAME.match(name):
        raise ModelError(f"{name!r} is not a valid model name",
                         hint="lower-case letters, digits and _, starting with a letter, "
                              "at most 40 (e.g. resnet_small)")
    if keyword.iskeyword(name) or name in sys.stdlib_module_names:
        raise ModelError(f"{name!r} is a Python keyword or standard-library module name",
                         hint="pick another name")


def _git(root: Path, *args: str, check: bool = True) -> str:
    return run(["git", *args], cwd=root, check=check).stdout.strip()


def _exists(root: Path, ref: str) -> bool:
    return run(["git", "rev-parse", "--verify", "--quiet", ref], cwd=root,
               check=False).returncode == 0


def plan(root: Path, name: str) -> tuple[Skeleton, str]:
    """Check everything; return the skeleton and the base branch. Raises before any change."""
    validate_name(name)
    if not _exists(root, "HEAD"):
        raise ModelError(f"{root} is not a git repository with a commit")
    base = configmod.load(root).release.branch
    skeleton = Skeleton(find_package(root), name)
    if not _exists(root, f"refs/heads/{base}"):
        raise ModelError(f"there is no {base} branch to start from")
    if _git(root, "status", "--porcelain", "--untracked-files=no"):
        raise ModelError("the work tree has uncommitted changes", hint="commit or stash them first")
    remote = _git(root, "for-each-ref", "--format=%(refname)",
                  f"refs/remotes/*/{skeleton.branch}")
    if _exists(root, f"refs/heads/{skeleton.branch}") or remote:
        raise ModelError(f"branch {skeleton.branch} already exists",
                         hint="pick another name, or `git switch` to it")
    registry = run(["git", "show", f"{base}:{skeleton.registry}"], cwd=root, check=False)
    taken = tomllib.loads(registry.stdout) if registry.returncode == 0 else {}
    if name in taken or _exists(root, f"{base}:{skeleton.module}"):
        raise ModelError(f"model {name!r} already exists on {base}", hint="pick another name")
    return skeleton, base


def _class_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_") if part) or "Model"


def render(s: Skeleton) -> dict[str, str]:
    """The new files' text (the registry entry is appended, not rendered whole)."""
    pkg, name, cls = s.package, s.name, _class_name(s.name)
    return {
        s.module: f'''"""The {name} model: a small MLP to start from. Replace it with the real architecture."""

from __future__ import annotations

import torch
from torch import nn


class {cls}(nn.Module):
    """features -> `width` -> `width` -> classes logits."""

    def __init__(self, features: int = 32, classes: int = 4, *, width: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(features, width), nn.ReLU(),
            nn.Linear(width, width), nn.ReLU(),
            nn.Linear(width, classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def make_model(features: int = 32, classes: int = 4, **kwargs: int) -> {cls}:
    """The factory models/registry.toml names."""
    return {cls}(features, classes, **kwargs)
''',
        s.unit_test: f'''"""The {name} model: shapes, gradients, registry entry."""

from __future__ import annotations

import torch

from {pkg}.models import build, names


def test_it_is_registered() -> None:
    assert "{name}" in names()


def test_forward_gives_one_logit_per_class() -> None:
    model = build("{name}", features=32, classes=4)
    assert model(torch.randn(8, 32)).shape == (8, 4)


def test_every_parameter_gets_a_gradient() -> None:
    torch.manual_seed(0)
    model = build("{name}")
    loss = torch.nn.functional.cross_entropy(model(torch.randn(16, 32)), torch.arange(16) % 4)
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
''',
        s.e2e_test: f'''"""A real short training run of the {name} model through the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_{name}_learns(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "{pkg}.train", "--model", "{name}", "--epochs", "3",
         "--samples", "1024", "--seed", "0", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=600, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["model"] == "{name}"
    assert metrics["final"]["loss"] < metrics["initial"]["loss"]
    assert (tmp_path / "checkpoint.pt").is_file()
''',
    }


def registry_entry(s: Skeleton) -> str:
    return (f'\n[{s.name}]\nfactory = "{s.package}.models.{s.name}:make_model"\n'
            "kwargs = { width = 64 }\n")


@dataclass(frozen=True)
class Created:
    skeleton: Skeleton
    base: str
    commit: str | None
    env: str = ""  # the commit's Env trailer, when the hooks added one

    def render(self) -> str:
        s = self.skeleton
        head = f"on branch {s.branch} (from {self.base})"
        done = f"committed {self.commit[:12]}" if self.commit else "staged, not committed"
        done += f" (Env: {self.env})" if self.env else ""
        return "\n".join([f"{head}: {done}", *(f"  {f}" for f in s.files),
                          f"train it: python -m {s.package}.train --model {s.name}",
                          f"test it:  pytest {s.unit_test} {s.e2e_test}"])


def new(root: Path, name: str, *, commit: bool = True) -> Created:
    """Create the branch and the skeleton; undo everything if a step fails."""
    skeleton, base = plan(root, name)
    previous = _git(root, "rev-parse", "--abbrev-ref", "HEAD")
    _git(root, "switch", "-q", "-c", skeleton.branch, base)
    try:
        for rel, text in render(skeleton).items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        with (root / skeleton.registry).open("a") as fh:
            fh.write(registry_entry(skeleton))
        _git(root, "add", "--", *skeleton.files)
        sha, env = None, ""
        if commit:
            proc = run(["git", "commit", "-q", "-m", f"Add the {name} model skeleton"], cwd=root,
                       check=False)
            if proc.returncode != 0:
                failed = [ln.split(".")[0] for ln in proc.stdout.splitlines()
                          if ln.endswith("Failed")]
                raise ModelError("the skeleton's commit failed"
                                 + (f" in its hooks: {', '.join(failed)}" if failed else
                                    f": {proc.stdout.strip()[-300:]}"))
            sha = _git(root, "rev-parse", "HEAD")
            env = _git(root, "log", "-1", "--format=%(trailers:key=Env,valueonly)", sha)
    except BaseException:
        _git(root, "reset", "-q", "--hard", base, check=False)
        for rel in render(skeleton):
            (root / rel).unlink(missing_ok=True)
        _git(root, "switch", "-q", previous if previous != "HEAD" else base, check=False)
        _git(root, "branch", "-q", "-D", skeleton.branch, check=False)
        raise
    return Created(skeleton, base, sha, env)
