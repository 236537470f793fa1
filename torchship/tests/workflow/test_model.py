"""One branch per model: `invoke model.new NAME` in a real repository, in the template and
in a project whose model, training and metrics are not the example's."""

from __future__ import annotations

import sys
import tomllib

import pytest
from workflow_helpers import LOCAL_BASES, Project, unchanged

from torchship.testing.gitrepo import snapshot
from torchship.workflow import modelbranch


def package(project: Project) -> str:
    return str(tomllib.loads((project.path / "pyproject.toml").read_text())["project"]["name"])


def skeleton_tests_pass(project: Project, name: str) -> str:
    """Run the skeleton's own tests from the branch's source (not the installed package)."""
    tests = project.run(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        f"tests/unit/test_model_{name}.py", f"tests/e2e/test_train_{name}.py",
                        env={"PYTHONPATH": str(project.path / "src")})
    assert tests.returncode == 0, tests.stdout + tests.stderr
    return tests.stdout


def test_new_model_branch_from_main_whose_tests_pass(hooked: Project) -> None:
    hooked.pin_locally(LOCAL_BASES)
    hooked.git("switch", "-q", "-c", "feature/other")  # model.new starts from main regardless
    hooked.commit("Work in progress elsewhere")
    main = hooked.git("rev-parse", "main")

    res = hooked.invoke("model.new", "tiny_net")
    assert res.returncode == 0, res.stdout + res.stderr
    first = res.stdout.splitlines()[0]
    assert first.startswith("on branch feature/model-tiny_net (from main): committed ")
    assert first.endswith(" (Env: cpu)")
    assert hooked.git("rev-parse", "--abbrev-ref", "HEAD") == "feature/model-tiny_net"
    assert hooked.git("rev-parse", "HEAD~1") == main
    assert hooked.git("log", "-1", "--format=%s") == "Add the tiny_net model skeleton"
    assert hooked.trailer() == "cpu"  # the commit went through the hooks
    assert hooked.git("status", "--porcelain") == ""
    pkg = package(hooked)
    assert sorted(hooked.git("show", "--name-only", "--format=", "HEAD").splitlines()) == [
        f"src/{pkg}/models/registry.toml", f"src/{pkg}/models/tiny_net.py",
        "tests/e2e/test_train_tiny_net.py", "tests/unit/test_model_tiny_net.py"]
    # The registry's first model is the starting point: its module, its kwargs.
    registry = tomllib.loads((hooked.path / f"src/{pkg}/models/registry.toml").read_text())
    default = next(iter(registry.values()))
    assert registry["tiny_net"]["kwargs"] == default.get("kwargs", {})
    assert registry["tiny_net"]["factory"] == (f"{pkg}.models.tiny_net:"
                                               + default["factory"].partition(":")[2])
    assert "3 passed" in skeleton_tests_pass(hooked, "tiny_net")


@pytest.mark.parametrize(("name", "message"), [
    ("Tiny", "'Tiny' is not a valid model name"),
    ("9lives", "'9lives' is not a valid model name"),
    ("tiny-net", "'tiny-net' is not a valid model name"),
    ("a" * 41, "is not a valid model name"),
    ("class", "'class' is a Python keyword or standard-library module name"),
    ("json", "'json' is a Python keyword or standard-library module name"),
    ("example", "model 'example' already exists on main"),
])
def test_bad_or_taken_names_are_refused_and_nothing_changes(project: Project, name: str,
                                                            message: str) -> None:
    before = snapshot(project.path, env=project.env)
    res = project.invoke("model.new", name)
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: ")
    assert message in lines[0]
    assert snapshot(project.path, env=project.env) == before


def test_an_existing_branch_local_or_remote_is_refused(project: Project) -> None:
    project.git("branch", "feature/model-taken")
    res = project.invoke("model.new", "taken")
    assert res.returncode == 1
    assert "branch feature/model-taken already exists" in res.stderr
    project.git("push", "-q", "origin", "feature/model-taken")
    project.git("branch", "-q", "-D", "feature/model-taken")
    before = snapshot(project.path, env=project.env)
    res = project.invoke("model.new", "taken")
    assert res.returncode == 1
    assert "branch feature/model-taken already exists" in res.stderr
    assert snapshot(project.path, env=project.env) == before


def test_a_dirty_tree_is_refused(project: Project) -> None:
    readme = project.path / "pyproject.toml"
    readme.write_text(readme.read_text() + "\n# local edit\n")
    before = snapshot(project.path, env=project.env)
    res = project.invoke("model.new", "tiny_net")
    assert res.returncode == 1
    assert res.stderr.strip() == ("error: the work tree has uncommitted changes "
                                  "(commit or stash them first)")
    assert snapshot(project.path, env=project.env) == before


def test_a_failing_commit_leaves_the_repository_as_it_was(hooked: Project) -> None:
    """A hook that refuses the skeleton's commit: branch, files and index are undone."""
    hooked.pin_locally(LOCAL_BASES)
    hooked.commit("Start", env={"TORCHSHIP_ENV": "cpu"})
    before = snapshot(hooked.path, env=hooked.env)
    res = hooked.invoke("model.new", "tiny_net", env={"TORCHSHIP_ENV": "cu999"})
    assert res.returncode == 1
    assert res.stderr.startswith("error: the skeleton's commit failed")
    assert unchanged(before, snapshot(hooked.path, env=hooked.env)) == []


# A project that replaced the example: a 1-D convolutional regressor whose forward takes a
# (batch, 1, length) signal and returns one float per signal, whose factory needs the
# signal's length (training passes the data's, through build's overrides; the registry holds
# a default), trained with MSE, whose metrics have no loss or accuracy. The template's generic
# files (the registry's build, its test_repro) are left as they are; its quick training is
# `--steps 2`.
WAVE_MODEL = '''"""A 1-D convolutional regressor: a (batch, 1, length) signal -> one float."""

from __future__ import annotations

import torch
from torch import nn


class WaveNet(nn.Module):
    def __init__(self, length: int, channels: int = 8) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv1d(1, channels, 5, padding=2), nn.GELU(),
            nn.Flatten(), nn.Linear(channels * length, 1),
        )

    def forward(self, signal: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.body(signal)
        return out.squeeze(-1)


def make_model(length: int, channels: int = 8) -> WaveNet:
    return WaveNet(length, channels)
'''

WAVE_TRAIN = '''"""Fit the frequency of noisy sine waves: `python -m {package}.train --model NAME --out DIR`."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import torch

from {package}.models import build, names


def waves(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    freq = 1.0 + 4.0 * torch.rand(n, generator=g)
    t = torch.linspace(0.0, 1.0, 64).unsqueeze(0)
    signal = torch.sin(2 * math.pi * freq.unsqueeze(1) * t) + 0.1 * torch.randn(n, 64, generator=g)
    return signal.unsqueeze(1), freq


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="wave", choices=names())
    parser.add_argument("--out", type=Path, default=Path("results/train"))
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    torch.manual_seed(0)
    x, y = waves(256, seed=0)
    model = build(args.model, length=x.shape[-1])  # a size only the data knows
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    mse = []
    for _ in range(args.steps):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        mse.append(float(loss))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "metrics.json").write_text(json.dumps({{"model": args.model, "mse": mse}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
'''


@pytest.fixture
def adopted(hooked: Project) -> Project:
    """The template with its example replaced by the wave regressor, committed on main."""
    pkg = package(hooked)
    src = hooked.path / "src" / pkg
    (src / "model.py").write_text(WAVE_MODEL)
    (src / "models" / "registry.toml").write_text(
        f'[wave]\nfactory = "{pkg}.model:make_model"\nkwargs = {{ length = 64, channels = 8 }}\n')
    (src / "train.py").write_text(WAVE_TRAIN.format(package=pkg))
    (src / "data.py").unlink()
    for example in ("unit/test_model_data.py", "e2e/test_training.py", "benchmarks/test_model.py"):
        (hooked.path / "tests" / example).unlink()  # the example's tests
    pyproject = hooked.path / "pyproject.toml"
    text = pyproject.read_text()
    start = text.index("quick_train = ")
    pyproject.write_text(text[:start] + 'quick_train = "--steps 2"' + text[text.index("\n", start):])
    hooked.git("add", "-A")
    res = hooked.run("git", "commit", "-q", "-m", "Replace the example with the wave regressor",
                     env={"TORCHSHIP_ENV": "", "SKIP": "torchship-env-check"})
    assert res.returncode == 0, res.stdout + res.stderr
    return hooked


def test_a_model_with_another_signature_and_metrics_gets_passing_tests(adopted: Project) -> None:
    adopted.pin_locally(LOCAL_BASES)
    res = adopted.invoke("model.new", "wave_small")
    assert res.returncode == 0, res.stdout + res.stderr
    pkg = package(adopted)
    module = (adopted.path / f"src/{pkg}/models/wave_small.py").read_text()
    assert module.startswith(f'"""The wave_small model, started as a copy of {pkg}.model (wave)')
    assert "class WaveNet(nn.Module):" in module  # the project's model, not a classifier
    registry = tomllib.loads((adopted.path / f"src/{pkg}/models/registry.toml").read_text())
    assert registry["wave_small"] == {"factory": f"{pkg}.models.wave_small:make_model",
                                      "kwargs": {"length": 64, "channels": 8}}
    assert adopted.trailer() == "cpu"
    unit = (adopted.path / "tests/unit/test_model_wave_small.py").read_text()
    assert f"from {pkg}.models import build" in unit
    assert 'model = build("wave_small")' in unit  # through the project's own build
    e2e = (adopted.path / "tests/e2e/test_train_wave_small.py").read_text()
    assert 'QUICK = ["--steps", "2"]' in e2e
    assert "3 passed" in skeleton_tests_pass(adopted, "wave_small")
    # The template's generic files were not touched, and still pass for this model.
    repro = adopted.run(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "tests/unit/test_repro.py", env={"PYTHONPATH": str(adopted.path / "src")})
    assert repro.returncode == 0, repro.stdout + repro.stderr


def test_a_copied_module_keeps_its_imports_working_from_its_new_folder() -> None:
    source = ('"""The example."""\n\nfrom __future__ import annotations\n\n'
              "from . import layers\nfrom .heads import Head\nfrom ..util import seed\n")
    skeleton = modelbranch.Skeleton("pkg", "tiny", modelbranch.Contract("pkg", ("python", "-m", "pkg.train")),
                                    "example", "pkg.nets.model:make_model", {}, (source, False))
    assert modelbranch.module_text(skeleton) == (
        '"""The tiny model, started as a copy of pkg.nets.model (example): make it yours."""\n\n'
        "from __future__ import annotations\n\n"
        "from pkg.nets import layers\nfrom pkg.nets.heads import Head\nfrom pkg.util import seed\n")


def test_a_default_model_from_a_library_starts_from_its_factory() -> None:
    skeleton = modelbranch.Skeleton("pkg", "lin", modelbranch.Contract("pkg", ("python", "-m", "pkg.train")),
                                    "linear", "torch.nn:Linear", {"in_features": 4}, None)
    assert "from torch.nn import Linear as make_model\n" in modelbranch.module_text(skeleton)
    assert modelbranch.registry_entry(skeleton) == (
        '\n[lin]\nfactory = "pkg.models.lin:make_model"\nkwargs = { in_features = 4 }\n')
