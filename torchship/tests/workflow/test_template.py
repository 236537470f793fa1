"""New projects from the template: `invoke template.new DEST --name NAME` / `torchship new`.

Real git, the real hooks (pre-commit, ruff, the Env trailer) on the first commit, and in the
new project the real `nox` sessions installing the tool from its wheel, as a team whose
private index serves torchship would.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import tomllib
from pathlib import Path, PurePosixPath

import pytest
from workflow_helpers import BIN, LOCAL_BASES, bases_toml, workflow_env

import torchship
from torchship.release import changelog
from torchship.testing.gitrepo import template_files
from torchship.testing.template import find_links
from torchship.workflow import template as templatemod

PIN = "torchship~={}.{}".format(*torchship.__version__.split(".")[:2])


@pytest.fixture(scope="module")
def person(tmp_path_factory: pytest.TempPathFactory, pre_commit_home: Path) -> dict[str, str]:
    """A person's environment: their git identity, this venv's tools on PATH, and local pins
    whose `cpu` environment matches this machine's torch (so commits get `Env: cpu`)."""
    base = tmp_path_factory.mktemp("person")
    env = workflow_env(base / "home", pre_commit_home)
    (base / "home" / ".gitconfig").write_text("[user]\n\tname = New Person\n\temail = new@person.invalid\n")
    local = base / "torchship.local.toml"
    local.write_text(bases_toml(LOCAL_BASES))
    env["TORCHSHIP_LOCAL_CONFIG"] = str(local)
    return env


def new(template: Path, dest: Path, name: str, env: dict[str, str],
        *extra: str) -> subprocess.CompletedProcess[str]:
    """`invoke template.new DEST --name NAME`, run in the template as its README says."""
    return subprocess.run([str(BIN / "invoke"), "template.new", str(dest), "--name", name, *extra],
                          cwd=template, env=env, capture_output=True, text=True, timeout=600,
                          check=False)


def git(repo: Path, env: dict[str, str], *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True,
                          check=True).stdout.strip()


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory, template: Path,
        person: dict[str, str]) -> tuple[Path, float]:
    """A project whose name sorts after "torchship" (ruff's import order once broke those),
    and how long making it took."""
    dest = tmp_path_factory.mktemp("made") / "zoo"
    started = time.perf_counter()
    # From an index (the tests' wheel folder stands in for it: test_the_new_project_passes_its_own_nox).
    res = new(template, dest, "zoo_vision", person, "--tool-source", "index")
    seconds = time.perf_counter() - started
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.startswith(f"created {dest} (")
    return dest, seconds


def test_the_project_holds_the_projects_files_only(zoo: tuple[Path, float], template: Path,
                                                   person: dict[str, str], package: str) -> None:
    dest, seconds = zoo
    files = set(git(dest, person, "ls-files").splitlines())
    assert not (dest / "torchship").exists()
    assert not (dest / ".ci").exists()
    assert not any(f.startswith(("torchship/", "src/torchship/")) for f in files)
    # Every project file of the template, renamed, plus the three written for the project.
    expected = {str(templatemod.rename_path(PurePosixPath(f), package, "zoo_vision"))
                for f in template_files(template) if templatemod.belongs(f)}
    assert files == expected | {"README.md", "CHANGELOG.md", templatemod.ANSWERS}
    tool = len(git(template, person, "ls-files", "torchship").splitlines())
    lines = sum(len((dest / f).read_bytes().splitlines()) for f in files)
    print(f"\nnew project: {len(files)} files, {lines} lines, made in {seconds:.1f} s; "
          f"the tool it no longer copies: {tool} files")


def test_the_example_package_is_renamed_not_the_prose(zoo: tuple[Path, float],
                                                      person: dict[str, str], package: str) -> None:
    dest, _ = zoo
    assert (dest / "src" / "zoo_vision" / "models" / "registry.toml").is_file()
    assert not (dest / "src" / package).exists()
    leftovers = subprocess.run(["git", "grep", "-l", "-w", package], cwd=dest, env=person,
                               capture_output=True, text=True, check=False).stdout.split()
    assert leftovers == [templatemod.ANSWERS]  # where the template's own name is recorded
    assert "from zoo_vision.data import make_dataset" in (dest / "tests/unit/test_model_data.py").read_text()
    assert '"-m", "zoo_vision.train"' in (dest / "tests/e2e/test_training.py").read_text()
    registry = tomllib.loads((dest / "src/zoo_vision/models/registry.toml").read_text())
    assert registry["example"]["factory"] == "zoo_vision.model:make_model"

    pyproject = tomllib.loads((dest / "pyproject.toml").read_text())
    project = pyproject["project"]
    assert (project["name"], project["version"]) == ("zoo_vision", "0.1.0")
    assert "zoo_vision[torch,test]" in project["optional-dependencies"]["dev"]
    assert PIN in project["optional-dependencies"]["test"]
    tool = pyproject["tool"]
    assert tool["setuptools"]["package-data"] == {"zoo_vision": ["models/registry.toml"]}
    assert tool["ruff"]["lint"]["isort"]["known-first-party"] == ["zoo_vision"]
    assert tool["mypy"]["files"] == ["src/zoo_vision"]
    assert tool["bumpversion"]["current_version"] == "0.1.0"
    assert [f["filename"] for f in tool["bumpversion"]["files"]] == [
        "pyproject.toml", "src/zoo_vision/__init__.py"]
    assert '__version__ = "0.1.0"' in (dest / "src/zoo_vision/__init__.py").read_text()
    assert tool["torchship"]["tool"] == {"source": "index"}


def test_the_ci_files_are_the_projects_own_and_install_the_tool_from_its_source(
        zoo: tuple[Path, float], tmp_path: Path, template: Path, person: dict[str, str]) -> None:
    """The template's CI installs its checkout of the tool (`-e ./torchship`); a project's is
    generated again from its own configuration, so `ci.generate --check` passes there."""
    dest, _ = zoo
    ci = (dest / ".github/workflows/ci.yml").read_text()
    assert "pip install -e '.[dev]'" in ci
    assert "./torchship" not in ci
    check = subprocess.run([str(BIN / "invoke"), "ci.generate", "--check"], cwd=dest, env=person,
                           capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    # The default: this repository at the tool's own release tag.
    res = new(template, tmp_path / "p", "acme", person, "--no-hooks")
    assert res.returncode == 0, res.stderr
    url = (f"git+https://github.com/torchship/torchship@torchship-v{torchship.__version__}"
           "#subdirectory=torchship")
    assert f"from git ({url})" in res.stdout
    pyproject = tomllib.loads((tmp_path / "p" / "pyproject.toml").read_text())
    assert pyproject["tool"]["torchship"]["tool"] == {"source": url}
    for rel in (".github/workflows/ci.yml", ".github/workflows/release.yml", ".gitlab-ci.yml"):
        assert f"pip install 'torchship @ {url}'" in (tmp_path / "p" / rel).read_text()
    # The template's own workflows (the tool's tests, publishing it) stay behind.
    assert sorted(p.name for p in (tmp_path / "p" / ".github" / "workflows").iterdir()) == [
        "bases.yml", "ci.yml", "release.yml"]


@pytest.mark.parametrize(("source", "message"), [
    ("pypi", "error: --tool-source: 'pypi' is not a tool source"),
    ("git+https://github.com/torchship/torchship#subdirectory=torchship",
     "error: --tool-source: 'git+https://github.com/torchship/torchship#subdirectory=torchship' "
     "names no tag (end the repository with @torchship-vX.Y.Z"),
    ("git+https://github.com/torchship/torchship@torchship-v9.0.0#subdirectory=torchship",
     f"error: the tool source's tag names torchship 9.0.0, which the project's pin {PIN} "
     "does not admit"),
])
def test_a_bad_tool_source_is_one_line_and_nothing_is_created(
        tmp_path: Path, template: Path, person: dict[str, str], source: str, message: str) -> None:
    res = new(template, tmp_path / "p", "acme", person, "--tool-source", source)
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith(message)
    assert not (tmp_path / "p").exists()


def _preamble(text: str) -> str:
    return text.split("## [Unreleased]", 1)[0]


def test_every_changelog_tells_one_versioning_story(template_root: Path) -> None:
    """PEP 440 versions (what the release makes: `0.2.0rc1`) with SemVer's meaning of the
    parts, in the template's, a new project's and the tool's changelog; none claims to adhere
    to Semantic Versioning, whose pre-releases are `0.2.0-rc.1`."""
    root = _preamble((template_root / "CHANGELOG.md").read_text())
    tool = _preamble((Path(__file__).resolve().parents[2] / "CHANGELOG.md").read_text())
    assert _preamble(templatemod.CHANGELOG) == root  # a new project starts with these words
    for text, tag in ((root, "v0.2.0rc1"), (tool, "torchship-v0.3.0rc1")):
        words = " ".join(text.split())
        assert "Versions follow [PEP 440](https://peps.python.org/pep-0440/)" in words
        assert f"tagged `{tag}`" in words
        assert "Major, minor and patch mean what [Semantic Versioning]" in words
        assert "adheres to" not in words


def test_readme_changelog_and_the_template_record_are_the_projects(
        zoo: tuple[Path, float], template: Path, template_root: Path,
        person: dict[str, str], package: str) -> None:
    dest, _ = zoo
    readme = (dest / "README.md").read_text()
    assert readme.startswith("# zoo_vision\n")
    assert readme != (template_root / "README.md").read_text()
    assert "nox -s gpu_tests" in readme
    assert "&& nox " in readme
    assert "src/zoo_vision/models/registry.toml" in readme
    assert "python -m zoo_vision.train --model NAME" in readme
    assert PIN in readme
    assert "`[tool.torchship.tool] source` in pyproject.toml says\n(`index`)" in readme
    assert "https://" in readme.split("## torchship", 1)[1]
    for prose in ("spiral", package, "MLP"):
        assert prose not in readme

    log = changelog.parse((dest / "CHANGELOG.md").read_text())
    assert [s.title for s in log.sections] == ["Unreleased"]
    assert log.entries(log.sections[0]) == []

    record = tomllib.loads((dest / templatemod.ANSWERS).read_text())
    assert record["template"]["version"] == "0.1.0"
    assert record["template"]["commit"] == git(template, person, "rev-parse", "HEAD")
    assert record["template"]["package"] == package
    assert record["answers"] == {"name": "zoo_vision"}


def test_the_first_commit_went_through_the_hooks(zoo: tuple[Path, float],
                                                 person: dict[str, str]) -> None:
    dest, _ = zoo
    assert git(dest, person, "rev-list", "--count", "HEAD") == "1"
    assert git(dest, person, "branch", "--show-current") == "main"
    assert git(dest, person, "status", "--porcelain") == ""
    assert git(dest, person, "config", "commit.template") == ".gitmessage"
    assert "pre-commit" in (dest / ".git" / "hooks" / "commit-msg").read_text()
    # The commit-msg hook chose the environment matching this machine's torch.
    assert git(dest, person, "log", "-1", "--format=%(trailers:key=Env,valueonly)") == "cpu"
    assert not (dest / "torchship.local.toml").exists()
    assert not (dest / ".venv").exists()


@pytest.mark.slow
def test_the_new_project_passes_its_own_nox(zoo: tuple[Path, float], person: dict[str, str],
                                            tool_wheels: Path) -> None:
    """`nox -s lint unit contract` in the new project: fresh venvs, torchship from its wheel;
    unit runs in the `dev` session's virtualenv, the one the suites, typecheck and the matrix
    share, so torch is installed once."""
    dest, _ = zoo
    work = dest.parent / "zoo-nox"
    shutil.copytree(dest, work)  # the sessions write .nox/ and results/: not into `zoo`
    started = time.perf_counter()
    run = subprocess.run([str(BIN / "nox"), "-s", "lint", "unit", "contract"], cwd=work,
                         env={**person, **find_links(tool_wheels, person)},
                         capture_output=True, text=True, timeout=1800, check=False)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-5000:]
    for session in ("lint", "dev", "unit", "contract"):
        assert f"Session {session} was successful" in output
    assert sorted(p.name for p in (work / ".nox").iterdir() if (p / "pyvenv.cfg").is_file()) == [
        "contract", "dev", "lint"]  # no virtualenv of unit's own
    assert f"{work / '.nox' / 'dev' / 'bin' / 'pytest'} tests/unit" in output
    installed = subprocess.run([str(work / ".nox" / "dev" / "bin" / "python"), "-c",
                                "import json, torchship, zoo_vision; print(json.dumps("
                                "[torchship.__file__, torchship.__version__, zoo_vision.__file__]))"],
                               capture_output=True, text=True, check=True).stdout
    tool_file, version, package_file = json.loads(installed)
    assert "site-packages" in tool_file  # the wheel, not a source tree
    assert version == torchship.__version__
    assert package_file.startswith(str(work / "src"))
    print(f"\nnox -s lint unit contract in the new project: {time.perf_counter() - started:.0f} s")


def test_a_name_before_torchship_works_through_the_console_script(
        tmp_path: Path, template: Path, person: dict[str, str]) -> None:
    dest = tmp_path / "acme"
    res = subprocess.run([str(BIN / "torchship"), "new", str(dest), "--name", "acme_vision",
                          "--template", str(template), "--tool-source",
                          "https://pypi.example.com/simple"], cwd=tmp_path, env=person,
                         capture_output=True, text=True, timeout=600, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    assert (dest / "src" / "acme_vision" / "train.py").is_file()
    assert git(dest, person, "status", "--porcelain") == ""
    # The team's index, added to the indexes pip has (never replacing them).
    assert ("pip install --extra-index-url https://pypi.example.com/simple -e '.[dev]'"
            in (dest / ".github/workflows/ci.yml").read_text())
    lint = subprocess.run([str(BIN / "ruff"), "check", "."], cwd=dest, env=person,
                          capture_output=True, text=True, check=False)
    assert lint.returncode == 0, lint.stdout


def test_a_hook_that_fails_shows_ruffs_own_message(tmp_path: Path, template: Path,
                                                   person: dict[str, str]) -> None:
    """A template whose code ruff refuses: the error line is ruff's first finding, and
    nothing is left behind."""
    broken = tmp_path / "template"
    shutil.copytree(template, broken, symlinks=True)
    test = broken / "tests" / "unit" / "test_model_data.py"
    test.write_text("import os\n" + test.read_text())  # out of order: ruff's I001
    git(broken, person, "commit", "-q", "-am", "an import out of order")
    dest = tmp_path / "p"
    res = new(broken, dest, "acme", person)
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: the first commit failed in its hooks: ruff: "
                               "tests/unit/test_model_data.py:1:1: I001 [*] Import block is "
                               "un-sorted or un-formatted ("), lines[0]
    assert "--no-hooks" in lines[0]
    assert not dest.exists()


@pytest.mark.parametrize(("name", "message"), [
    ("Acme", "'Acme' is not a valid package name"),
    ("acme-vision", "'acme-vision' is not a valid package name"),
    ("2fast", "'2fast' is not a valid package name"),
    ("import", "'import' is taken (a Python keyword)"),
    ("json", "'json' is taken (a standard-library module)"),
    ("torchship", "'torchship' is taken (a name the template's layout or tool uses)"),
    ("numpy", "'numpy' is taken (a dependency of the template)"),
    ("a" * 49, f"'{'a' * 49}' is too long for this template: "),
])
def test_invalid_names_are_refused_and_nothing_is_created(tmp_path: Path, template: Path,
                                                          person: dict[str, str], name: str,
                                                          message: str) -> None:
    res = new(template, tmp_path / "p", name, person)
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith(f"error: {message}")
    assert not (tmp_path / "p").exists()


def test_a_non_empty_destination_is_refused_and_left_alone(tmp_path: Path, template: Path,
                                                           person: dict[str, str]) -> None:
    dest = tmp_path / "busy"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine\n")
    res = new(template, dest, "acme", person)
    assert res.returncode == 1
    assert res.stderr.strip() == (f"error: {dest} exists and is not empty "
                                  "(choose a new or empty directory)")
    assert [p.name for p in dest.iterdir()] == ["keep.txt"]
    assert (dest / "keep.txt").read_text() == "mine\n"


def test_an_empty_destination_is_used(tmp_path: Path, template: Path,
                                      person: dict[str, str]) -> None:
    dest = tmp_path / "empty"
    dest.mkdir()
    res = new(template, dest, "acme", person, "--no-hooks")
    assert res.returncode == 0, res.stderr
    assert "hooks not installed" in res.stdout
    assert (dest / "src" / "acme" / "__init__.py").is_file()


def test_a_template_by_git_url_is_cloned_and_recorded(tmp_path: Path, template: Path,
                                                     person: dict[str, str]) -> None:
    url = template.as_uri()
    res = subprocess.run([str(BIN / "torchship"), "new", str(tmp_path / "p"), "--name", "acme",
                          "--template", url, "--no-hooks"], cwd=tmp_path, env=person,
                         capture_output=True, text=True, timeout=600, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    record = tomllib.loads((tmp_path / "p" / templatemod.ANSWERS).read_text())["template"]
    assert record["source"] == url
    assert record["commit"] == git(template, person, "rev-parse", "HEAD")
    assert "dirty" not in record


def test_what_is_not_a_template_is_one_line(tmp_path: Path, person: dict[str, str]) -> None:
    res = subprocess.run([str(BIN / "torchship"), "new", str(tmp_path / "p"), "--name", "acme",
                          "--template", str(tmp_path)], env=person, capture_output=True,
                         text=True, check=False)
    assert res.returncode == 1
    assert res.stderr == (f"error: {tmp_path} is not a torchship template (no pyproject.toml) "
                          "(run this in a clone of the template, or pass --template DIR)\n")
    res = subprocess.run([str(BIN / "torchship"), "new", "p"], env=person, cwd=tmp_path,
                         capture_output=True, text=True, check=False)
    assert res.returncode == 2
    assert res.stderr == ("error: the following arguments are required: --name "
                          "(see `torchship new --help`)\n")


# --- the rename, as pure functions ------------------------------------------------------

def test_python_renames_imports_and_module_references_not_words() -> None:
    source = ('"""The mlproject package: `python -m mlproject.train`, see src/mlproject/x."""\n'
              "import mlproject\n"
              "import os, mlproject.data as d\n"
              "from mlproject.models import build  # mlproject.models:build\n"
              'CMD = [sys.executable, "-m", "mlproject.train"]\n'
              'HELP = f"a name in mlproject/models/registry.toml, not mlprojects"\n'
              "mlproject_like = mlproject.__version__\n")
    assert templatemod.rename_python(source, "mlproject", "zoo") == (
        '"""The mlproject package: `python -m zoo.train`, see src/zoo/x."""\n'
        "import zoo\n"
        "import os, zoo.data as d\n"
        "from zoo.models import build  # zoo.models:build\n"
        'CMD = [sys.executable, "-m", "zoo.train"]\n'
        'HELP = f"a name in zoo/models/registry.toml, not mlprojects"\n'
        "mlproject_like = zoo.__version__\n")


def test_config_text_renames_references_only() -> None:
    text = ('factory = "mlproject.model:make_model"  # python -m mlproject\n'
            "# the mlproject example; an image mlproject:0.1.0; mlproject-docs\n"
            'files = ["src/mlproject"]\n')
    assert templatemod.rename_references(text, "mlproject", "zoo") == (
        'factory = "zoo.model:make_model"  # python -m zoo\n'
        "# the mlproject example; an image mlproject:0.1.0; mlproject-docs\n"
        'files = ["src/zoo"]\n')
