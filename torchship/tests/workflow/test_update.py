"""`torchship update`: a newer template merged into a project, three-way, with real git.

The template is the session's throwaway copy, released as versions of its own: 0.1.0 (a
project is made from it), 0.1.1 (tooling only: the Dockerfile, the nox file, ruff's
configuration), 0.2.0 (more tooling, a line the project also changes, a benchmark the project
deleted, a module of the example package added, a unit test removed) and, on a branch, 1.0.0
(the tool's pin raised to another major). Each test copies the project made at 0.1.0, changes
it as a user would, and runs the console script in it.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from workflow_helpers import BIN

from torchship.testing.gitrepo import Snapshot, isolated_env, settle, snapshot
from torchship.workflow import template as templatemod

NAME = "zoo_vision"
OVERLAY = Path(__file__).resolve().parents[1] / "adoption" / "wavefit"


@dataclass(frozen=True)
class Released:
    """The template with its versions, and the project made at 0.1.0 (never changed)."""

    template: Path
    project: Path
    env: dict[str, str]
    commits: dict[str, str]   # version -> commit


def _git(repo: Path, env: dict[str, str], *args: str) -> str:
    res = subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True,
                         check=False)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} is not in {path}"
    path.write_text(text.replace(old, new, 1))


def _release(template: Path, env: dict[str, str], version: str) -> str:
    """Commit the template as `version` (its pyproject and __init__ say so) and tag it."""
    pyproject = template / "pyproject.toml"
    current = tomllib.loads(pyproject.read_text())["project"]["version"]
    if current != version:
        _edit(pyproject, f'version = "{current}"', f'version = "{version}"')
        _edit(pyproject, f'current_version = "{current}"', f'current_version = "{version}"')
        _edit(template / "src" / templatemod.package_of(template) / "__init__.py", current, version)
    _git(template, env, "add", "-A")
    _git(template, env, "commit", "-q", "--allow-empty", "-m", f"Template {version}")
    _git(template, env, "tag", "-a", f"v{version}", "-m", f"Template {version}")
    return _git(template, env, "rev-parse", "HEAD")


def _new(template: Path, dest: Path, name: str, env: dict[str, str]) -> None:
    res = subprocess.run([str(BIN / "torchship"), "new", str(dest), "--name", name,
                          "--template", str(template), "--no-hooks"], env=env,
                         capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory, template: Path) -> Released:
    base = tmp_path_factory.mktemp("update")
    env = isolated_env(base / "home", PATH=f"{BIN}:/usr/bin:/bin")
    (base / "home" / ".gitconfig").write_text("[user]\n\tname = New Person\n\temail = new@person.invalid\n")
    tpl = base / "template"
    shutil.copytree(template, tpl, symlinks=True)
    commits = {"0.1.0": _release(tpl, env, "0.1.0")}
    _new(tpl, base / "project", NAME, env)
    _new(tpl, base / "wavefit", "wavefit", env)

    # 0.1.1: tooling only.
    _edit(tpl / "docker/Dockerfile", "# One file, two images", "# One Dockerfile, two images")
    _edit(tpl / "noxfile.py", '"""nox sessions of the project', '"""The nox sessions of the project')
    _edit(tpl / "pyproject.toml", 'target-version = "py311"\n', 'target-version = "py311"\npreview = false\n')
    commits["0.1.1"] = _release(tpl, env, "0.1.1")

    # 0.2.0: the same line as the project changes, a file the project deletes, a module of the
    # package (renamed in the project), a test removed.
    _edit(tpl / "scripts/setup_dev.sh", "venv=.venv\n", "venv=.venv-template\n")
    (tpl / "tests/benchmarks/test_ops.py").write_text(
        (tpl / "tests/benchmarks/test_ops.py").read_text() + "# the template's change\n")
    package = templatemod.package_of(tpl)
    (tpl / "src" / package / "extra.py").write_text(
        f'"""More of the {package} example (see `python -m {package}.train`)."""\n\n'
        f"from {package}.data import make_dataset\n\n__all__ = [\"make_dataset\"]\n")
    _git(tpl, env, "rm", "-q", "tests/unit/test_repro.py")
    commits["0.2.0"] = _release(tpl, env, "0.2.0")

    # 1.0.0, on a branch: the template moves to another major of the tool.
    _git(tpl, env, "switch", "-q", "-c", "next")
    _edit(tpl / "pyproject.toml", '"torchship~=0.2"', '"torchship~=1.0"')
    commits["1.0.0"] = _release(tpl, env, "1.0.0")
    _git(tpl, env, "switch", "-q", "main")
    return Released(tpl, base / "project", env, commits)


@dataclass
class Project:
    path: Path
    env: dict[str, str]

    def git(self, *args: str) -> str:
        return _git(self.path, self.env, *args)

    def commit(self, message: str) -> None:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        settle(self.path, env=self.env)

    def update(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(BIN / "torchship"), "update", *args], cwd=self.path,
                              env=self.env, capture_output=True, text=True, timeout=120,
                              check=False)

    def snapshot(self) -> Snapshot:
        return snapshot(self.path, env=self.env)

    def refused(self, *args: str, says: str) -> str:
        """`torchship update ARGS` fails with one `error:` line and changes nothing."""
        settle(self.path, env=self.env)
        before = self.snapshot()
        res = self.update(*args)
        assert res.returncode == 1, res.stdout + res.stderr
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1, res.stderr
        assert lines[0].startswith("error: "), res.stderr
        assert says in lines[0], lines[0]
        assert res.stdout == ""
        assert before.diff(self.snapshot()) == []
        return lines[0]

    def record(self) -> dict[str, str]:
        return dict(tomllib.loads((self.path / templatemod.ANSWERS).read_text())["template"])


def _copy(released: Released, source: Path, dest: Path) -> Project:
    shutil.copytree(source, dest, symlinks=True)
    settle(dest, env=released.env)
    return Project(dest, released.env)


@pytest.fixture
def project(released: Released, tmp_path: Path) -> Project:
    """The project made at 0.1.0, as the user changed it: the same line as 0.2.0 changes
    (differently), the nox file at its other end, their model, a benchmark deleted."""
    p = _copy(released, released.project, tmp_path / "project")
    _edit(p.path / "scripts/setup_dev.sh", "venv=.venv\n", "venv=.venv-zoo\n")
    (p.path / "noxfile.py").write_text((p.path / "noxfile.py").read_text() + "# the zoo's own\n")
    _edit(p.path / f"src/{NAME}/model.py", "def make_model", "# the zoo's tweak\ndef make_model")
    p.git("rm", "-q", "tests/benchmarks/test_ops.py")
    p.commit("The zoo's changes")
    return p


def test_the_three_way_merge(project: Project, released: Released, package: str) -> None:
    started = time.perf_counter()
    res = project.update()
    seconds = time.perf_counter() - started
    out = res.stdout
    assert res.returncode == 1, out + res.stderr  # conflicts: as `git merge`, non-zero
    assert res.stderr == ""
    head = out.splitlines()[0]
    assert head.startswith(f"update {NAME}: template version 0.1.0 (")
    assert f"-> version 0.2.0 (v0.2.0, {released.commits['0.2.0'][:12]})" in head
    print(f"\n{out}\ntorchship update: {seconds:.2f} s")

    # The template-only changes arrived, in a file both changed apart too.
    assert (project.path / "docker/Dockerfile").read_text().startswith("# One Dockerfile, two images")
    nox = (project.path / "noxfile.py").read_text()
    assert nox.startswith('"""The nox sessions of the project')
    assert nox.endswith("# the zoo's own\n")  # the project's change survived
    assert "  merged        noxfile.py" in out
    assert "  updated       docker/Dockerfile" in out
    # The project-only change survived (the template did not touch it).
    assert "# the zoo's tweak\n" in (project.path / f"src/{NAME}/model.py").read_text()
    # The double change: git's markers, an unmerged path, listed.
    setup = (project.path / "scripts/setup_dev.sh").read_text()
    assert ("<<<<<<< yours\nvenv=.venv-zoo\n=======\nvenv=.venv-template\n"
            f">>>>>>> template 0.2.0 ({released.commits['0.2.0'][:12]})\n") in setup
    assert "  CONFLICT      scripts/setup_dev.sh  (both changed: 1 conflict marked)" in out
    assert ("2 conflicts: scripts/setup_dev.sh, tests/benchmarks/test_ops.py (resolve them as "
            "`git status` lists them") in out
    status = project.git("status", "--porcelain").splitlines()
    assert "UU scripts/setup_dev.sh" in status
    # The file the project deleted and the template changed: a listed conflict, as `git merge`
    # leaves it (the template's version in the tree, unmerged), never a silent skip.
    assert "# the template's change\n" in (project.path / "tests/benchmarks/test_ops.py").read_text()
    assert ("  CONFLICT      tests/benchmarks/test_ops.py  (deleted here; the template changed "
            "it: `git rm` it to keep it deleted") in out
    assert "DU tests/benchmarks/test_ops.py" in status
    # What the template removed is removed; its new module arrives renamed.
    assert not (project.path / "tests/unit/test_repro.py").exists()
    extra = (project.path / f"src/{NAME}/extra.py").read_text()
    assert "from zoo_vision.data import make_dataset" in extra
    assert "`python -m zoo_vision.train`" in extra
    assert f"More of the {package} example" in extra  # prose: the word stays
    assert not (project.path / "src" / package).exists()
    # The project's own files are the project's: README, CHANGELOG, its version.
    assert (project.path / "README.md").read_text().startswith(f"# {NAME}\n")
    pyproject = tomllib.loads((project.path / "pyproject.toml").read_text())
    assert pyproject["project"]["version"] == "0.1.0"
    assert pyproject["tool"]["ruff"]["preview"] is False  # 0.1.1's tooling change
    assert 'version = "0.2.0"' not in (project.path / "pyproject.toml").read_text()
    # The new version is recorded; clean results are staged, nothing is committed.
    record = project.record()
    assert (record["version"], record["commit"]) == ("0.2.0", released.commits["0.2.0"])
    assert project.git("rev-list", "--count", "HEAD") == "2"
    assert f"M  {templatemod.ANSWERS}" in status
    assert "A  src/zoo_vision/extra.py" in status
    assert "D  tests/unit/test_repro.py" in status

    # Resolved and committed, a second update has nothing to do.
    _edit(project.path / "scripts/setup_dev.sh", setup[setup.index("<<<<<<<"):setup.index("python=")],
          "venv=.venv-zoo\n")
    project.git("rm", "-q", "tests/benchmarks/test_ops.py")
    project.commit("Update to the template 0.2.0")
    again = project.update()
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == (f"{NAME} is at the template's version 0.2.0 "
                                    f"({released.commits['0.2.0'][:12]}) already: nothing to do")


def test_a_dry_run_lists_the_same_and_changes_nothing(project: Project) -> None:
    before = project.snapshot()
    res = project.update("--dry-run")
    assert res.returncode == 1, res.stderr  # it would conflict: as the run itself, non-zero
    assert res.stderr == ""
    assert before.diff(project.snapshot()) == []
    out = res.stdout
    assert "  would update  docker/Dockerfile" in out
    assert "  would merge   noxfile.py" in out
    assert "  CONFLICT      scripts/setup_dev.sh  (both changed: 1 conflict marked)" in out
    assert "  would add     src/zoo_vision/extra.py" in out
    assert "  CONFLICT      tests/benchmarks/test_ops.py  (deleted here" in out
    assert "  would remove  tests/unit/test_repro.py" in out
    assert out.strip().endswith("dry run: nothing changed (7 files would change, 2 conflicts)")


def test_a_project_with_its_own_model_updates_cleanly_for_tooling(released: Released,
                                                                  tmp_path: Path) -> None:
    """The example replaced by another model (the adoption test's wavefit): a template release
    that changes tooling only merges with no conflict."""
    p = _copy(released, released.project.parent / "wavefit", tmp_path / "wavefit")
    package = p.path / "src" / "wavefit"
    for name in ("data.py", "model.py", "train.py", "smoke.py", "repro.py", "models"):
        target = package / name
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    for rel in ("tests/unit/test_model_data.py", "tests/unit/test_repro.py",
                "tests/e2e/test_training.py", "tests/benchmarks/test_model.py"):
        (p.path / rel).unlink()
    shutil.copytree(OVERLAY, p.path, dirs_exist_ok=True)
    p.commit("Replace the example with the wave model")
    ours = {f: (p.path / f).read_bytes() for f in p.git("ls-files", "src", "tests").splitlines()}

    res = p.update("--to", "0.1.1")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "CONFLICT" not in res.stdout
    assert "  updated       docker/Dockerfile" in res.stdout
    assert "  updated       noxfile.py" in res.stdout
    assert "  updated       pyproject.toml" in res.stdout
    assert {f: (p.path / f).read_bytes() for f in ours} == ours  # the model untouched
    assert p.record()["version"] == "0.1.1"
    assert not [ln for ln in p.git("status", "--porcelain").splitlines() if ln[1] != " "]


def test_a_dirty_tree_is_refused(project: Project) -> None:
    (project.path / "noxfile.py").write_text("# half-done\n")
    project.refused(says="the work tree has uncommitted changes: noxfile.py (commit or stash")


def test_an_untracked_file_where_the_template_adds_one_is_refused(project: Project) -> None:
    (project.path / f"src/{NAME}/extra.py").write_text("# mine, not committed yet\n")
    project.refused(says="the update would write where git tracks no file: "
                         f"src/{NAME}/extra.py (an untracked or ignored file")


def test_a_project_that_records_no_template_is_told_how_to_adopt(project: Project) -> None:
    project.git("rm", "-q", templatemod.ANSWERS)
    project.commit("No answers")
    line = project.refused(says=f"records no template version (no {templatemod.ANSWERS})")
    assert "to adopt the template, write .torchship-template.toml with [template] source" in line
    assert "commit (the template commit the project started from)" in line


def test_an_unknown_version_is_refused(project: Project) -> None:
    line = project.refused("--to", "9.9.9", says="has no version or ref '9.9.9'")
    assert "its versions: v1.0.0, v0.2.0, v0.1.1, v0.1.0" in line


def test_another_major_of_the_tool_is_refused(project: Project) -> None:
    project.refused("--to", "1.0.0", says="the template at v1.0.0 pins torchship~=1.0, this "
                                          "project torchship~=0.2: another major version")


def test_a_template_that_is_gone_is_refused(project: Project, tmp_path: Path) -> None:
    line = project.refused("--template", str(tmp_path / "nowhere"),
                           says="cannot get the template")
    assert "--template DIR|URL" in line


def test_a_project_adopted_by_writing_the_answers_updates(released: Released,
                                                         tmp_path: Path) -> None:
    """A project made before `torchship new` existed: the user writes the answers file, as the
    refusal says, with the template commit they started from; then it updates."""
    p = _copy(released, released.project, tmp_path / "project")
    p.git("rm", "-q", templatemod.ANSWERS)
    p.commit("Made by hand, before torchship new")
    (p.path / templatemod.ANSWERS).write_text(
        f'[template]\nsource = "{released.template}"\nversion = "0.1.0"\n'
        f'commit = "{released.commits["0.1.0"]}"\n\n[answers]\nname = "{NAME}"\n')
    p.commit("Adopt the template")
    res = p.update("--to", "v0.1.1")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "  updated       docker/Dockerfile" in res.stdout
    assert p.record()["commit"] == released.commits["0.1.1"]


def test_invoke_template_update_is_the_same(project: Project) -> None:
    before = project.snapshot()
    direct = project.update("--dry-run")
    alias = subprocess.run([str(BIN / "invoke"), "template.update", "--dry-run"], cwd=project.path,
                           env=project.env, capture_output=True, text=True, timeout=120, check=False)
    assert alias.returncode == direct.returncode == 1, alias.stderr  # the conflicts it would leave
    assert alias.stdout == direct.stdout
    assert before.diff(project.snapshot()) == []


# --- renames, both ways, and the versions an update goes to ----------------------------------
# A second template with three releases: 0.2.0 changes a unit test (which the project may
# rename), renames a benchmark with a change of its own (which the project may edit or
# rename), and changes and adds to the models package (which the project may move); 0.3.0
# changes the Dockerfile; an untagged commit on main changes the nox file.

TEMPLATE_REPRO = "# the template's 0.2.0 line in the repro test\n"
TEMPLATE_OPS = "# the template's 0.2.0 line in the renamed benchmark\n"
TEMPLATE_MODELS = "# the template's 0.2.0 line in the models package\n"
USER = "# the project's own line\n"


@pytest.fixture(scope="module")
def renames(tmp_path_factory: pytest.TempPathFactory, template: Path) -> Released:
    base = tmp_path_factory.mktemp("renames")
    env = isolated_env(base / "home", PATH=f"{BIN}:/usr/bin:/bin")
    (base / "home" / ".gitconfig").write_text("[user]\n\tname = New Person\n\temail = new@person.invalid\n")
    tpl = base / "template"
    shutil.copytree(template, tpl, symlinks=True)
    commits = {"0.1.0": _release(tpl, env, "0.1.0")}
    _new(tpl, base / "project", NAME, env)
    package = templatemod.package_of(tpl)
    repro, models = tpl / "tests/unit/test_repro.py", tpl / "src" / package / "models"
    repro.write_text(repro.read_text() + TEMPLATE_REPRO)
    _git(tpl, env, "mv", "tests/benchmarks/test_ops.py", "tests/benchmarks/test_operations.py")
    ops = tpl / "tests/benchmarks/test_operations.py"
    ops.write_text(ops.read_text() + TEMPLATE_OPS)
    (models / "__init__.py").write_text((models / "__init__.py").read_text() + TEMPLATE_MODELS)
    (models / "extra_model.py").write_text('"""Another model of the package."""\n')
    commits["0.2.0"] = _release(tpl, env, "0.2.0")
    _edit(tpl / "docker/Dockerfile", "# One file, two images", "# One Dockerfile, two images")
    (tpl / "scripts/tool_source.py").chmod(0o755)  # a mode-only change
    commits["0.3.0"] = _release(tpl, env, "0.3.0")
    _edit(tpl / "noxfile.py", '"""nox sessions of the project', '"""The nox sessions of the project')
    _git(tpl, env, "commit", "-q", "-am", "Unreleased: the nox file's docstring")
    commits["main"] = _git(tpl, env, "rev-parse", "HEAD")
    return Released(tpl, base / "project", env, commits)


def _made(released: Released, tmp_path: Path) -> Project:
    return _copy(released, released.project, tmp_path / "project")


def _append(path: Path, line: str) -> None:
    path.write_text(path.read_text() + line)


def _prepend(path: Path, line: str) -> None:
    """The project's line at the top: apart from the template's, at the end."""
    path.write_text(line + path.read_text())


def _kept(p: Project, *lines: str) -> None:
    """Every line is in the result: a file of the work tree, or a side of a conflict."""
    texts = [f.read_text(errors="replace") for f in p.path.rglob("*")
             if f.is_file() and ".git" not in f.relative_to(p.path).parts]
    for entry in p.git("ls-files", "-u").splitlines():
        texts.append(p.git("cat-file", "blob", entry.split()[1]))
    for line in lines:
        assert any(line in text for text in texts), f"{line!r} was lost"


def test_the_templates_change_lands_in_the_file_the_project_renamed(renames: Released,
                                                                    tmp_path: Path) -> None:
    p = _made(renames, tmp_path)
    p.git("mv", "tests/unit/test_repro.py", "tests/unit/test_seeding.py")
    _prepend(p.path / "tests/unit/test_seeding.py", USER)
    p.commit("Our name for the repro test")
    res = p.update("--to", "0.2.0")
    assert "tests/unit/test_seeding.py  (the template's changes to tests/unit/test_repro.py)" \
        in res.stdout, res.stdout + res.stderr
    text = (p.path / "tests/unit/test_seeding.py").read_text()
    assert TEMPLATE_REPRO in text
    assert text.startswith(USER)
    assert text.endswith(TEMPLATE_REPRO)
    assert not (p.path / "tests/unit/test_repro.py").exists()
    assert "test_repro" not in p.git("status", "--porcelain")
    _kept(p, TEMPLATE_REPRO, USER)


def test_a_template_rename_carries_the_projects_edits(renames: Released, tmp_path: Path) -> None:
    p = _made(renames, tmp_path)
    _prepend(p.path / "tests/benchmarks/test_ops.py", USER)
    p.commit("Our benchmark line")
    res = p.update("--to", "0.2.0")
    assert res.returncode == 0, res.stdout + res.stderr
    assert ("  renamed       tests/benchmarks/test_ops.py -> tests/benchmarks/test_operations.py"
            "  (renamed in the template, with your edits)") in res.stdout
    text = (p.path / "tests/benchmarks/test_operations.py").read_text()
    assert USER in text
    assert TEMPLATE_OPS in text
    assert not (p.path / "tests/benchmarks/test_ops.py").exists()  # pytest collects one
    status = p.git("status", "--porcelain").splitlines()
    assert "R  tests/benchmarks/test_ops.py -> tests/benchmarks/test_operations.py" in status
    _kept(p, TEMPLATE_OPS, USER)


def test_a_rename_on_both_sides_is_a_conflict_with_both_paths(renames: Released,
                                                              tmp_path: Path) -> None:
    p = _made(renames, tmp_path)
    p.git("mv", "tests/benchmarks/test_ops.py", "tests/benchmarks/test_kernels.py")
    _append(p.path / "tests/benchmarks/test_kernels.py", USER)
    p.commit("Our name for the benchmark")
    dry = p.update("--to", "0.2.0", "--dry-run")
    assert dry.returncode == 1, dry.stdout + dry.stderr
    res = p.update("--to", "0.2.0")
    assert res.returncode == 1, res.stdout + res.stderr
    conflicts = [ln for ln in res.stdout.splitlines() if ln.startswith("  CONFLICT")]
    listed = "\n".join(conflicts)
    assert "tests/benchmarks/test_kernels.py" in listed, res.stdout
    assert "tests/benchmarks/test_operations.py" in listed, res.stdout
    assert "rename/rename" in listed
    unmerged = {line.split("\t")[1] for line in p.git("ls-files", "-u").splitlines()}
    assert {"tests/benchmarks/test_kernels.py", "tests/benchmarks/test_operations.py"} <= unmerged
    _kept(p, TEMPLATE_OPS, USER)


def test_a_moved_package_folder_gets_the_templates_changes(renames: Released,
                                                           tmp_path: Path) -> None:
    p = _made(renames, tmp_path)
    p.git("mv", f"src/{NAME}/models", f"src/{NAME}/zoo")
    _append(p.path / f"src/{NAME}/zoo/registry.toml", USER)
    p.commit("models/ is zoo/ here")
    res = p.update("--to", "0.2.0")
    assert res.returncode == 0, res.stdout + res.stderr
    assert TEMPLATE_MODELS in (p.path / f"src/{NAME}/zoo/__init__.py").read_text()
    assert (p.path / f"src/{NAME}/zoo/extra_model.py").is_file()  # the template's new file
    assert not (p.path / f"src/{NAME}/models").exists()
    _kept(p, TEMPLATE_MODELS, USER)


def test_a_downgrade_needs_allow_downgrade(renames: Released, tmp_path: Path) -> None:
    p = _made(renames, tmp_path)
    _prepend(p.path / "tests/unit/test_repro.py", USER)
    p.commit("Our line")
    assert p.update("--to", "0.3.0").returncode == 0
    p.commit("Template 0.3.0")
    p.refused("--to", "0.2.0", says="version 0.2.0 (v0.2.0, ")
    line = p.refused("--to", "0.1.0", says="is older than the project's template version 0.3.0")
    assert "--allow-downgrade" in line
    res = p.update("--to", "0.2.0", "--allow-downgrade")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "  updated       docker/Dockerfile" in res.stdout  # 0.3.0's change undone
    assert "# One file, two images" in (p.path / "docker/Dockerfile").read_text()
    assert p.record()["version"] == "0.2.0"
    _kept(p, USER, TEMPLATE_REPRO)


def test_the_default_is_the_newest_release_and_a_commit_is_named_as_one(renames: Released,
                                                                        tmp_path: Path) -> None:
    p = _made(renames, tmp_path)
    res = p.update("--dry-run")
    head = res.stdout.splitlines()[0]
    assert f"-> version 0.3.0 (v0.3.0, {renames.commits['0.3.0'][:12]})" in head, res.stdout
    assert "noxfile.py" not in res.stdout  # the unreleased commit is not taken
    res = p.update("--to", "main")
    assert res.returncode == 0, res.stdout + res.stderr
    tip = renames.commits["main"][:12]
    assert f"-> commit {tip} (origin/main, untagged) from" in res.stdout.splitlines()[0]
    assert "version 0.3.0 (" not in res.stdout.splitlines()[0]
    assert f"recorded commit {tip} (origin/main, untagged)" in res.stdout
    assert p.record()["version"] == f"0.3.0+g{tip}"
    assert p.record()["commit"] == renames.commits["main"]


def test_a_skip_list_keeps_the_projects_own_paths(renames: Released, tmp_path: Path) -> None:
    p = _made(renames, tmp_path)
    _append(p.path / "pyproject.toml", '\n[tool.torchship.update]\nskip = ["tests/unit/", '
                                       '"src/*/models/*.py"]\n')
    before = {f: (p.path / f).read_bytes() for f in ("tests/unit/test_repro.py",
                                                      f"src/{NAME}/models/__init__.py")}
    p.commit("Ours: the unit tests and the models' code")
    res = p.update("--to", "0.2.0")
    assert res.returncode == 0, res.stdout + res.stderr
    assert {f: (p.path / f).read_bytes() for f in before} == before
    assert "tests/unit" not in res.stdout
    assert not (p.path / f"src/{NAME}/models/extra_model.py").exists()
    assert (p.path / "tests/benchmarks/test_operations.py").is_file()  # the rest merged


def test_a_skip_list_that_is_no_list_is_refused(renames: Released, tmp_path: Path) -> None:
    p = _made(renames, tmp_path)
    _append(p.path / "pyproject.toml", '\n[tool.torchship.update]\nskip = "tests/"\n')
    p.commit("A wrong skip")
    p.refused("--to", "0.2.0", says="tool.torchship.update.skip")


def test_a_clean_dry_run_exits_0_and_a_mode_change_arrives(renames: Released, tmp_path: Path) -> None:
    p = _made(renames, tmp_path)
    before = p.snapshot()
    res = p.update("--to", "0.3.0", "--dry-run")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "0 conflicts" in res.stdout
    assert "  would chmod   scripts/tool_source.py" in res.stdout
    assert before.diff(p.snapshot()) == []
    res = p.update("--to", "0.3.0")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "  mode          scripts/tool_source.py" in res.stdout
    assert p.git("ls-files", "-s", "scripts/tool_source.py").startswith("100755 ")
    assert (p.path / "scripts/tool_source.py").stat().st_mode & 0o111


def test_new_starts_from_a_chosen_template_version(renames: Released, tmp_path: Path) -> None:
    _new_at = [str(BIN / "torchship"), "new", "--name", NAME, "--template",
               str(renames.template), "--no-hooks"]
    res = subprocess.run([*_new_at, str(tmp_path / "at020"), "--version", "0.2.0"],
                         env=renames.env, capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    p = Project(tmp_path / "at020", renames.env)
    assert (p.record()["version"], p.record()["commit"]) == ("0.2.0", renames.commits["0.2.0"])
    assert (p.path / "tests/benchmarks/test_operations.py").is_file()
    assert "# One file, two images" in (p.path / "docker/Dockerfile").read_text()  # not 0.3.0
    res = p.update("--dry-run")
    assert "-> version 0.3.0 (v0.3.0, " in res.stdout, res.stdout + res.stderr

    res = subprocess.run([*_new_at, str(tmp_path / "none"), "--version", "9.9"],
                         env=renames.env, capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 1
    assert res.stderr.startswith("error: the template at ")
    assert "has no version 9.9 (no tag v9.9 or 9.9) (its tags: v0.1.0, v0.2.0, v0.3.0)" in res.stderr
    assert not (tmp_path / "none").exists()


def test_invoke_template_new_starts_from_a_chosen_template_version(renames: Released,
                                                                   tmp_path: Path) -> None:
    """`invoke template.new --version V`, the alias of `torchship new --version V`, run in the
    template as its README says."""
    def invoke_new(dest: Path, version: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(BIN / "invoke"), "template.new", str(dest), "--name", NAME,
                               "--no-hooks", "--version", version], cwd=renames.template,
                              env=renames.env, capture_output=True, text=True, timeout=120,
                              check=False)

    res = invoke_new(tmp_path / "at020", "0.2.0")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "from the template version 0.2.0" in res.stdout
    p = Project(tmp_path / "at020", renames.env)
    assert (p.record()["version"], p.record()["commit"]) == ("0.2.0", renames.commits["0.2.0"])
    assert "# One file, two images" in (p.path / "docker/Dockerfile").read_text()  # not 0.3.0

    res = invoke_new(tmp_path / "none", "9.9")
    assert res.returncode == 1
    assert res.stderr.splitlines() == [res.stderr.strip()]  # one line, no traceback
    assert "has no version 9.9 (no tag v9.9 or 9.9)" in res.stderr
    assert not (tmp_path / "none").exists()
