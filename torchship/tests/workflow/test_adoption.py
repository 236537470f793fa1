"""Adoption, as a new user does it: a project from the template, the example replaced by a
model of their own, and everything torchship promises run in it without touching the tool.

The project is named `wavefit` (it sorts after "torchship": ruff's import order once broke
such names). Its model is not the example's in any way the tool could lean on: a 1-D
convolutional regressor whose forward takes a (batch, 1, 64) signal and returns one float per
signal, trained with MSE, reporting `loss` and `rmse` (no accuracy), registered with a factory
that takes only keyword arguments. Its files are in tests/adoption/wavefit, as a user would
write them; the project's [tool.torchship] then compares `rmse` across images.

In the project, as its README tells a teammate: `scripts/setup_dev.sh` (a venv with the
project and torchship installed from the team's wheel folder, the hooks), then in that venv
`nox` (lint, typecheck, unit, e2e, benchmark, contract), `nox -s gpu_tests` over the stand-in
images, `invoke model.new`, a GPG-signed `invoke release --part patch` that builds the images,
and `invoke release.verify`. The sessions run with `--no-venv` in the project's venv, as
setup_dev.sh does: fresh per-session venvs are what tests/workflow/test_template.py checks.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import tomlkit
from workflow_helpers import BIN, workflow_env

from torchship.adapters.docker import Docker
from torchship.images.released import Recorded
from torchship.release.verify import images_in, images_tested
from torchship.testing import require
from torchship.testing.engine import engine, registry, remove_images_of, standin_bases
from torchship.testing.gitrepo import add_bare_remote
from torchship.testing.keys import gpg_key, have, stop_gpg_agent
from torchship.testing.standins import PinnedBases, Registry, write_local_config
from torchship.testing.template import find_links

__all__ = ["engine", "registry", "standin_bases"]  # session fixtures this module uses

pytestmark = [pytest.mark.docker, pytest.mark.slow]

OVERLAY = Path(__file__).resolve().parents[1] / "adoption" / "wavefit"
NAME = "wavefit"
# The example's files that the user's model replaces (the rest of the template stays).
EXAMPLE_FILES = ("data.py", "model.py", "train.py", "smoke.py", "repro.py", "models")
EXAMPLE_TESTS = ("tests/unit/test_model_data.py", "tests/unit/test_repro.py",
                 "tests/e2e/test_training.py", "tests/benchmarks/test_model.py")


@dataclass
class Adopted:
    path: Path
    env: dict[str, str]
    image: str

    def run(self, *args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
        res = subprocess.run(list(args), cwd=self.path, env=self.env, text=True,
                             capture_output=True, timeout=timeout, check=False)
        return res

    def ok(self, *args: str, timeout: float = 1800) -> str:
        res = self.run(*args, timeout=timeout)
        out = res.stdout + res.stderr
        assert res.returncode == 0, f"{' '.join(args)} failed:\n{out[-6000:]}"
        return out

    def venv(self, tool: str) -> str:
        return str(self.path / ".venv" / "bin" / tool)


def _replace_the_example(project: Path) -> None:
    """What the user does: their model, data, training, smoke test and tests in place of the
    example's, and the metric they care about compared across images."""
    package = project / "src" / NAME
    for name in EXAMPLE_FILES:
        target = package / name
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    for rel in EXAMPLE_TESTS:
        (project / rel).unlink()
    shutil.copytree(OVERLAY, project, dirs_exist_ok=True)
    pyproject = project / "pyproject.toml"
    doc = tomlkit.parse(pyproject.read_text())
    compare = tomlkit.table()
    compare["rmse"] = tomlkit.inline_table()
    compare["rmse"].update({"rtol": 0.05, "better": "lower"})
    doc["tool"]["torchship"]["metrics"]["compare"] = compare  # type: ignore[index]  # tomlkit
    pyproject.write_text(tomlkit.dumps(doc))
    changelog = project / "CHANGELOG.md"
    changelog.write_text(changelog.read_text().replace(
        "## [Unreleased]\n", "## [Unreleased]\n\n### Added\n\n- The wave model: a 1-D conv "
        "regressor of a signal's frequency, reporting RMSE.\n", 1))


@pytest.fixture(scope="module")
def adopted(tmp_path_factory: pytest.TempPathFactory, template: Path, tool_wheels: Path,
            pre_commit_home: Path, standin_bases: PinnedBases, registry: Registry,
            engine: Docker) -> Iterator[Adopted]:
    require(have("gpg"), "gpg is not installed (scripts/release_test_deps.sh)")
    base = tmp_path_factory.mktemp("adopt")
    env = workflow_env(base / "home", pre_commit_home)
    (base / "home" / ".gitconfig").write_text(
        "[user]\n\tname = New Person\n\temail = new@person.invalid\n")
    env.update(find_links(tool_wheels, env))  # the team's wheel folder serves torchship
    dest = base / NAME
    res = subprocess.run([str(BIN / "torchship"), "new", str(dest), "--name", NAME,
                          "--template", str(template), "--tool-source", "index"], env=env, text=True,
                         capture_output=True, timeout=600, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    assert not (dest / "torchship").exists()

    image = f"{registry.host}/adopt/{NAME}"
    write_local_config(dest / "torchship.local.toml", standin_bases, image=image)
    project = Adopted(dest, env, image)
    project.ok("scripts/setup_dev.sh", "--no-tests")
    # From here on, the project's venv is the teammate's shell (`source .venv/bin/activate`).
    env["PATH"] = f"{dest / '.venv' / 'bin'}{os.pathsep}{env['PATH']}"
    env["VIRTUAL_ENV"] = str(dest / ".venv")

    _replace_the_example(dest)
    project.ok("git", "add", "-A")
    project.ok("git", "commit", "-q", "-m", "Replace the example with the wave model")
    yield project
    remove_images_of(engine, image)


def test_the_project_holds_its_own_code_and_the_tool_as_a_dependency(adopted: Adopted) -> None:
    code = "import json, torchship, wavefit; print(json.dumps([torchship.__file__, wavefit.__file__]))"
    tool, package = json.loads(adopted.ok(adopted.venv("python"), "-c", code))
    assert "site-packages" in tool  # installed from the wheel, not a copy in the project
    assert package.startswith(str(adopted.path / "src" / NAME))
    tracked = adopted.ok("git", "ls-files").split()
    assert not [f for f in tracked if f.startswith("torchship/") or "/torchship/" in f]


def test_nox_passes_in_the_adopted_project(adopted: Adopted) -> None:
    out = adopted.ok(adopted.venv("nox"), "--no-venv")
    for session in ("lint", "typecheck", "unit", "e2e", "benchmark", "contract"):
        assert f"Session {session} was successful" in out


def test_gpu_tests_runs_the_new_model_in_the_stand_in_images(adopted: Adopted) -> None:
    out = adopted.ok(adopted.venv("nox"), "--no-venv", "-s", "gpu_tests")
    run = sorted((adopted.path / "results" / "matrix").iterdir())[-1]
    report = (run / "compare.md").read_text()
    assert "PASS" in report, report
    assert "rmse" in report
    assert "accuracy" not in report
    results = json.loads((run / "run.json").read_text())
    [record] = results["records"]
    assert record["image"]
    assert record["smoke"]["status"] == "passed", record["smoke"]
    assert {s["suite"]: s["status"] for s in record["suites"]} == {
        "unit": "passed", "e2e": "passed", "benchmark": "passed"}
    assert "Session gpu_tests was successful" in out


def test_model_new_writes_a_skeleton_whose_tests_pass(adopted: Adopted) -> None:
    adopted.ok(adopted.venv("invoke"), "model.new", "tiny")
    try:
        assert adopted.ok("git", "branch", "--show-current").strip() == "feature/model-tiny"
        out = adopted.ok(adopted.venv("nox"), "--no-venv", "-s", "unit", "e2e")
        assert "tiny" in out
    finally:
        adopted.ok("git", "checkout", "-q", "main")


def test_a_signed_release_with_images_verifies(adopted: Adopted, tmp_path_factory: pytest.TempPathFactory,
                                               engine: Docker) -> None:
    key = gpg_key(Path(tmp_path_factory.mktemp("g")) / "gnupg")
    adopted.env["GNUPGHOME"] = str(key.home)
    # --push: the images go to the registry once, by digest, signed with the tag's key into
    # a lookaside store, and the tag records them: what release.verify ties to the bytes.
    elsewhere = tmp_path_factory.mktemp("published")
    add_bare_remote(adopted.path, elsewhere / "remote.git", env=adopted.env)
    local = adopted.path / "torchship.local.toml"
    local.write_text(local.read_text() + f'\n[signatures]\nlookaside = "{elsewhere / "sigstore"}"\n')
    try:
        adopted.ok("git", "config", "user.signingkey", key.fingerprint)
        # --matrix: a release with images takes its evidence in the images it ships (built once
        # from the release tree, tested, then pushed as they are).
        out = adopted.ok(adopted.venv("invoke"), "release", "--part", "patch", "--matrix",
                         "--push")
        tag = "v0.1.1"
        assert adopted.ok("git", "describe", "--tags", "--exact-match").strip() == tag
        assert adopted.ok("git", "cat-file", "-t", tag).strip() == "tag"
        for variant in ("runtime", "devel"):
            assert engine.image_exists(f"{adopted.image}:0.1.1-cpu-{variant}"), out
        verified = adopted.ok(adopted.venv("invoke"), "release.verify", tag)
        assert tag in verified
        message = adopted.ok("git", "cat-file", "tag", tag)
        recorded = images_in(message)
        assert len(recorded) >= 2
        # Each image the tag records is one the evidence ran in.
        tested = images_tested(message)
        assert sorted(Recorded.parse(r).tag for r in recorded) == sorted(tested), (recorded,
                                                                                   tested)
        assert all("@sha256:" in item for item in recorded), recorded
        assert adopted.ok("git", "ls-remote", "--tags", "origin", tag).strip()
    finally:
        stop_gpg_agent(key.home)
