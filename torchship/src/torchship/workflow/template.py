"""New projects from the template: `invoke template.new DEST --name NAME`.

A clean copy of the files git knows (tracked, or untracked and not ignored: no venv, no
results, no torchship.local.toml), the example package renamed, version 0.1.0, an empty
CHANGELOG, then a fresh repository whose first commit already went through the hooks.
"""

from __future__ import annotations

import keyword
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from torchship import config as configmod
from torchship.adapters.proc import run
from torchship.errors import TorchshipError

EXAMPLE = "mlproject"
FIRST_VERSION = "0.1.0"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,49}$")
# Names a new package cannot take: the tooling it ships with, and what the layout uses.
_TAKEN = {"torchship", "tests", "test", "scripts", "docs", "src", "docker", "benchmarks"}

CHANGELOG = """\
# Changelog

All notable changes to this project are documented in this file.

The format is based on [Keep a Changelog](https://keepachangelog.com/en/1.1.0/),
and this project adheres to [Semantic Versioning](https://semver.org/spec/v2.0.0.html).

## [Unreleased]
"""


class TemplateError(TorchshipError):
    """The destination or the name cannot be used; nothing was created."""


@dataclass(frozen=True)
class Created:
    dest: Path
    name: str
    files: int
    commit: str
    hooks: bool

    def render(self) -> str:
        return (f"created {self.dest} ({self.files} files, package {self.name}, version "
                f"{FIRST_VERSION}); first commit {self.commit[:12]}"
                + ("; hooks installed" if self.hooks else "; hooks not installed (--no-hooks)"))


def validate_name(name: str) -> None:
    """A package name: lower-case letters, digits and _, starting with a letter, not taken."""
    if not _NAME.match(name):
        raise TemplateError(f"{name!r} is not a valid package name",
                            hint="use lower-case letters, digits and _, starting with a letter "
                                 "(e.g. my_model)")
    if keyword.iskeyword(name) or name in sys.stdlib_module_names or name in _TAKEN:
        raise TemplateError(f"{name!r} is taken (a Python keyword, a standard-library module "
                            "or a name the template uses)", hint="pick another name")


def check_dest(dest: Path) -> None:
    if dest.exists() and not dest.is_dir():
        raise TemplateError(f"{dest} exists and is not a directory", hint="choose a new path")
    if dest.is_dir() and any(dest.iterdir()):
        raise TemplateError(f"{dest} exists and is not empty", hint="choose a new or empty directory")


def template_files(root: Path) -> list[Path]:
    """The files git knows in `root`: tracked, plus untracked ones that are not ignored."""
    proc = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
               cwd=root, check=False)
    if proc.returncode != 0:
        raise TemplateError(f"the template at {root} is not a git repository",
                            hint="run this from a clone of the template")
    return sorted({Path(p) for p in proc.stdout.split("\0") if p and (root / p).is_file()})


def _renamed(rel: Path, name: str) -> Path:
    return Path(*(name if part == EXAMPLE else part for part in rel.parts))


def copy_tree(root: Path, dest: Path, *, name: str = EXAMPLE) -> int:
    """Copy the template's files into `dest`, renaming the example package to `name`."""
    word = re.compile(rf"\b{EXAMPLE}\b")
    files = template_files(root)
    for rel in files:
        target = dest / _renamed(rel, name)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, target)
        if name == EXAMPLE:
            continue
        try:
            text = target.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary: copied as is
        if word.search(text):
            target.write_text(word.sub(name, text), encoding="utf-8")
    return len(files)


def _reset_metadata(dest: Path, name: str, old_dist: str) -> None:
    """pyproject: the distribution's name and self-references, version 0.1.0; package version."""
    import tomlkit

    path = dest / "pyproject.toml"
    doc = tomlkit.parse(path.read_text())
    project = doc["project"]
    project["name"] = name
    project["version"] = FIRST_VERSION
    project["description"] = f"{name}: a PyTorch project made from the torchship template."
    for extra in project.get("optional-dependencies", {}).values():
        for i, req in enumerate(list(extra)):
            if isinstance(req, str) and req.startswith(f"{old_dist}["):
                extra[i] = name + req[len(old_dist):]
    bump = doc.get("tool", {}).get("bumpversion")
    if bump is not None:
        bump["current_version"] = FIRST_VERSION
    path.write_text(tomlkit.dumps(doc))
    init = dest / "src" / name / "__init__.py"
    if init.is_file():
        init.write_text(re.sub(r'^__version__ = ".*"$', f'__version__ = "{FIRST_VERSION}"',
                               init.read_text(), flags=re.M))
    (dest / "CHANGELOG.md").write_text(CHANGELOG)
    readme = dest / "README.md"
    if readme.is_file():
        lines = readme.read_text().splitlines(keepends=True)
        if lines and lines[0].startswith("# "):
            lines[0] = f"# {name}\n"
        readme.write_text("".join(lines))


def check_line_length(root: Path, name: str) -> None:
    """Refuse a name so long that renaming pushes a Python line past ruff's line-length.

    The first commit runs ruff through the hooks; better one line now than a failed commit.
    """
    limit = configmod.read_toml(root / "pyproject.toml").get("tool", {}).get("ruff", {}).get(
        "line-length", 88)
    word = re.compile(rf"\b{EXAMPLE}\b")
    worst: tuple[int, str] | None = None  # (longest name that fits, where)
    for rel in template_files(root):
        if rel.suffix != ".py":
            continue
        for number, line in enumerate((root / rel).read_text(errors="replace").splitlines(), 1):
            count = len(word.findall(line))
            if count:
                fits = (limit - len(line) + len(EXAMPLE) * count) // count
                if worst is None or fits < worst[0]:
                    worst = (fits, f"{rel}:{number}")
    if worst is not None and len(name) > worst[0]:
        raise TemplateError(f"{name!r} is too long for this template: {worst[1]} would pass "
                            f"ruff's line-length of {limit}",
                            hint=f"use a name of at most {max(worst[0], 1)} characters")


def _template_version(root: Path) -> str:
    proc = run(["git", "describe", "--tags", "--always", "--dirty"], cwd=root, check=False)
    return proc.stdout.strip() or "unknown"


def new(root: Path, dest: Path, *, name: str, hooks: bool = True) -> Created:
    """Create a project at `dest` from the template at `root`; on failure leave nothing behind."""
    validate_name(name)
    dest = dest.resolve()
    check_dest(dest)
    if dest == root or root in dest.parents:
        raise TemplateError(f"{dest} is inside the template", hint="create the project elsewhere")
    check_line_length(root, name)
    old_dist = configmod.read_toml(root / "pyproject.toml").get("project", {}).get("name", "")
    existed = dest.exists()
    try:
        dest.mkdir(parents=True, exist_ok=True)
        count = copy_tree(root, dest, name=name)
        _reset_metadata(dest, name, old_dist)
        run(["git", "init", "-q", "-b", "main"], cwd=dest)
        if hooks:
            from torchship.workflow import hooks as hooksmod

            hooksmod.install(dest)
        run(["git", "add", "-A"], cwd=dest)
        # The hooks run on this commit: ruff over every file, and the Env trailer.
        message = f"Start {name} from the torchship template ({_template_version(root)})"
        proc = run(["git", "commit", "-q", "-m", message], cwd=dest, check=False)
        if proc.returncode != 0:
            failed = [ln.split(".")[0] for ln in proc.stdout.splitlines() if ln.endswith("Failed")]
            raise TemplateError("the first commit failed" + (f" in its hooks: {', '.join(failed)}"
                                                             if failed else f": {proc.stdout.strip()}"),
                                hint="fix the template (pre-commit run -a), or use --no-hooks")
        commit = run(["git", "rev-parse", "HEAD"], cwd=dest).stdout.strip()
    except BaseException:
        if existed:
            for child in dest.iterdir():
                shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
        else:
            shutil.rmtree(dest, ignore_errors=True)
        raise
    return Created(dest, name, count, commit, hooks)
