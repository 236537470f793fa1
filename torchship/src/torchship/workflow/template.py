"""New projects from the template: `torchship new DEST --name NAME [--template DIR]`.

A project is the template's own files only, listed once below (PROJECT_PATHS): its
configuration over the tool, docker/, scripts/, src/ and tests/. What else the template's
repository holds is the template's (the tool in torchship/, the CI that builds stand-ins,
its README and CHANGELOG) and stays behind; the new project gets the tool as a versioned
dependency instead, `torchship~=X.Y` in its `test` extra.

The example package is renamed by what it is, not by a text replace over prose:
- paths: src/<example>/... moves to src/<name>/...;
- Python: the package's name as a token (imports, `example.x` attributes), and in strings and
  comments the references to it as a module (`example.train`, `example.model:make_model`,
  `python -m example`, `src/example/...`);
- other text files (TOML, YAML, Dockerfile, shell): the same module references;
- pyproject.toml: the distribution's name and self-references (`example[torch,test]`), keys
  and values that are the package's name (package-data, ruff's known-first-party,
  [tool.torchship]), the version reset to 0.1.0 in every file [tool.bumpversion] names.
README.md and CHANGELOG.md are written for the new project. The template it came from is
recorded in ANSWERS (read by `torchship update`). Everything is rendered in memory first
(plan), checked, then written (apply); the first commit goes through the project's hooks.
"""

from __future__ import annotations

import io
import keyword
import os
import re
import shlex
import shutil
import sys
import tempfile
import tokenize
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from torchship import config as configmod
from torchship import project as projectmod
from torchship.adapters.git import Git, GitError, ls_files, reason, run_in
from torchship.cli import Parser, guarded
from torchship.errors import TorchshipError
from torchship.images.requirements import normalize
from torchship.toolsource import ToolSource
from torchship.workflow import modelbranch

# What a project made from the template is: these paths of the template (a folder ends in /).
# Everything else in the template's repository is the template's own and is not copied.
PROJECT_PATHS: tuple[str, ...] = (
    "pyproject.toml", "noxfile.py", "tasks.py",             # configuration over the tool
    ".gitignore", ".dockerignore", ".gitmessage", ".pre-commit-config.yaml",
    # CI (`invoke ci.generate`): the generated files only; the template's repository has
    # workflows of its own besides (the tool's tests, publishing the tool).
    ".github/workflows/ci.yml", ".github/workflows/release.yml", ".github/workflows/bases.yml",
    ".gitlab-ci.yml",
    "docker/", "scripts/", "src/", "tests/",
)
README = "README.md"          # written for the project, not copied
CHANGELOG_FILE = "CHANGELOG.md"
# The template a project came from: written by `torchship new`, read by `torchship update`.
ANSWERS = ".torchship-template.toml"
FIRST_VERSION = "0.1.0"
TOOL = "torchship"

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,49}$")
# Names the layout itself uses: a package by one of them would shadow a folder or the tool.
_LAYOUT = {TOOL, "tests", "test", "scripts", "docs", "src", "docker", "benchmarks"}
# Text files are renamed; anything else (images, archives) is copied as it is.
_PYTHON = {".py", ".pyi"}

CHANGELOG = """\
# Changelog

All notable changes to this project are documented in this file.

The format is based on [Keep a Changelog](https://keepachangelog.com/en/1.1.0/).
Versions follow [PEP 440](https://peps.python.org/pep-0440/): `X.Y.Z`, pre-releases
`X.Y.ZrcN` (or `aN`, `bN`), e.g. `0.2.0rc1`, tagged `v0.2.0rc1` (not SemVer's `0.2.0-rc.1`).
Major, minor and patch mean what [Semantic Versioning](https://semver.org/spec/v2.0.0.html)
says: a major release may break compatibility, a minor one adds, a patch fixes.

## [Unreleased]
"""

README_TEXT = """\
# {name}

A PyTorch project made from the torchship template ({template}).
The code in `src/{package}/` is yours. Releases, pinned images, the test matrix and the git
hooks come from torchship, a development dependency pinned in pyproject.toml's `test` extra
(`{pin}`): raise the pin to get the tool's fixes.

## Quickstart

Two commands, on a machine with Python 3.11 or newer (no GPU or Docker needed):

```bash
python3 -m pip install 'nox>=2025.2.9' && nox -s gpu_tests   # every suite in every pinned environment, compared
python3 -m pip install 'nox>=2025.2.9' && nox                 # the tests: lint, types, the suites, the contract
```

torchship installs from where `[tool.torchship.tool] source` in pyproject.toml says
(`{source}`): the CI files, `scripts/setup_dev.sh`, the nox sessions and the devel image all
read it. To change it (`index` once the tool is on your index, your team's index URL, or a
git URL at the tool's release tag), edit it and run `invoke ci.generate`.

To work on the code (a virtualenv in `.venv`, the git hooks, a health check, the unit suite):

```bash
scripts/setup_dev.sh && source .venv/bin/activate && invoke --list
```

## Your model

The example under `src/{package}/` is the template's: replace it with your data, model and
training.

- Models are registered by name in `src/{package}/models/registry.toml` (a factory and its
  keyword arguments); `{train} --model NAME` trains one.
- `invoke model.new NAME` starts a new model on a branch of its own, with its tests.
- What torchship needs to know about the project (the training command, its metrics, the
  pinned bases, the image, the release policy) is `[tool.torchship]` in pyproject.toml.

## torchship

Its documentation: {docs}
"""


class TemplateError(TorchshipError):
    """The template, the destination or the name cannot be used; nothing was created."""


# --- the template ------------------------------------------------------------------------

@dataclass(frozen=True)
class Template:
    """A template checkout: where it is, its example package, which version of it."""

    root: Path
    package: str          # the example package, renamed in a new project
    dist: str             # its distribution name ([project].name)
    version: str          # [project].version
    commit: str           # HEAD of the template's repository
    dirty: bool           # the copied files differ from that commit
    source: str           # what was asked for (a folder or a git URL), recorded for updates

    @property
    def label(self) -> str:
        return f"version {self.version}, commit {self.commit[:12]}" + (", modified" if self.dirty else "")


def package_of(root: Path) -> str:
    """The project's package, as the model skeleton reads it (modelbranch.contract_of)."""
    data = configmod.Pyproject.read(root).data
    if not data.get("project", {}).get("name"):
        raise TemplateError(f"{root / 'pyproject.toml'} has no [project].name",
                            hint="is this a torchship template?")
    return modelbranch.contract_of(data).package


def load_template(root: Path, *, source: str | None = None) -> Template:
    """Read the template at `root`; refuse a folder that is not one."""
    root = root.resolve()
    if not (root / "pyproject.toml").is_file():
        raise TemplateError(f"{root} is not a torchship template (no pyproject.toml)",
                            hint="run this in a clone of the template, or pass --template DIR")
    git = Git.find(root)
    commit = git.head() if git is not None else None
    if git is None or commit is None:
        raise TemplateError(f"the template at {root} is not a git repository with a commit",
                            hint="use a clone of the template")
    package = package_of(root)
    if not (root / "src" / package / "__init__.py").is_file():
        raise TemplateError(f"the template at {root} has no package src/{package}",
                            hint="is this a torchship template?")
    project = configmod.Pyproject.read(root).project
    git.close()
    dirty = bool(run_in(root, "status", "--porcelain", "--", *PROJECT_PATHS).stdout.strip())
    return Template(root=root, package=package, dist=str(project.get("name", package)),
                    version=str(project.get("version", "0")), commit=commit,
                    dirty=dirty, source=source or str(root))


@contextmanager
def fetched(template: str | Path, *, version: str | None = None) -> Iterator[Template]:
    """The template at `template`: a folder, or anything `git clone` takes (cloned for the
    duration, shallow); with `version`, its release tag (`vVERSION`, or the tag `VERSION`),
    cloned from the folder too."""
    path = Path(template).expanduser()
    if path.is_dir() and version is None:
        yield load_template(path, source=str(path.resolve()))
        return
    url = str(path.resolve()) if path.is_dir() else str(template)
    with tempfile.TemporaryDirectory(prefix="torchship-template-") as tmp:
        clone = Path(tmp) / "template"
        if version is not None:
            _clone_release(url, clone, version)
        else:
            try:
                Git.clone(url, clone, "--depth", "1").close()
            except GitError as exc:
                raise TemplateError(f"cannot get the template {url!r}: {exc.message}",
                                    hint="give a folder or a git URL of the template") from exc
        yield load_template(clone, source=url)


def _clone_release(url: str, clone: Path, version: str) -> None:
    """A shallow clone of the template's release `version` (its tag `vVERSION` or `VERSION`)."""
    tags = dict.fromkeys([f"v{version.removeprefix('v')}", version])
    for tag in tags:
        try:
            Git.clone(url, clone, "--depth", "1", "--branch", tag, "--quiet").close()
            return
        except GitError:
            shutil.rmtree(clone, ignore_errors=True)
    listed = run_in(clone.parent, "ls-remote", "--tags", "--refs", url, check=False)
    if not listed.ok:
        raise TemplateError(f"cannot get the template {url!r}: {reason(listed)}",
                            hint="give a folder or a git URL of the template")
    names = [line.split("refs/tags/", 1)[1] for line in listed.stdout.splitlines()
             if "refs/tags/" in line]
    raise TemplateError(f"the template at {url} has no version {version} (no tag "
                        f"{' or '.join(tags)})",
                        hint="its tags: " + (", ".join(sorted(names)[-8:]) or "none"))


def belongs(rel: PurePosixPath | str) -> bool:
    """Whether a path of the template (relative, POSIX) is a project file (PROJECT_PATHS)."""
    text = str(rel)
    return any(text.startswith(p) if p.endswith("/") else text == p for p in PROJECT_PATHS)


def template_files(root: Path) -> list[PurePosixPath]:
    """The project files of the template at `root` that git knows: tracked, or untracked and
    not ignored (no venv, no results, no torchship.local.toml)."""
    listed = ls_files(root, "--cached", "--others", "--exclude-standard")
    return sorted({PurePosixPath(p) for p in listed if belongs(p) and (root / p).is_file()})


# --- names -------------------------------------------------------------------------------

def _requirement_name(text: str) -> str | None:
    """The name a requirement names, as written (None when it is not a requirement)."""
    from torchship.images.requirements import requirement

    req = requirement(text)
    return req.name if req else None


def dependency_names(pyproject: Mapping[str, Any]) -> set[str]:
    """The canonical names of every requirement of a project (dependencies and extras)."""
    project = pyproject.get("project", {})
    reqs = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        reqs.extend(extra)
    return {normalize(n) for r in reqs if isinstance(r, str) and (n := _requirement_name(r))}


def validate_name(name: str, template: Template | None = None) -> None:
    """A package name: lower-case letters, digits and _, starting with a letter, not taken."""
    if not _NAME.match(name):
        raise TemplateError(f"{name!r} is not a valid package name",
                            hint="use lower-case letters, digits and _, starting with a letter "
                                 "(e.g. my_model)")
    why = ("a Python keyword" if keyword.iskeyword(name)
           else "a standard-library module" if name in sys.stdlib_module_names
           else "a name the template's layout or tool uses" if name in _LAYOUT else None)
    if why is None and template is not None:
        data = configmod.Pyproject.read(template.root).data
        own = {normalize(template.dist), normalize(template.package)}
        if normalize(name) in dependency_names(data) - own:
            why = "a dependency of the template"
    if why is not None:
        raise TemplateError(f"{name!r} is taken ({why})", hint="pick another name")


def check_dest(dest: Path) -> None:
    if dest.exists() and not dest.is_dir():
        raise TemplateError(f"{dest} exists and is not a directory", hint="choose a new path")
    if dest.is_dir() and any(dest.iterdir()):
        raise TemplateError(f"{dest} exists and is not empty", hint="choose a new or empty directory")


# --- the rename (pure functions of text) ------------------------------------------------

def _reference(old: str) -> re.Pattern[str]:
    """The ways text refers to a package as a module or a folder, never as a word of prose."""
    o = re.escape(old)
    edge = r"(?<![\w.-])"
    return re.compile("|".join([
        rf"{edge}{o}(?=[.:][A-Za-z_])",               # example.train, example.model:make_model
        rf"{edge}{o}(?=/)",                           # example/models/registry.toml
        rf"(?<=/){o}(?![\w.-])",                      # src/example
        rf"(?<=-m ){o}(?![\w.-])",                    # python -m example
        rf"(?<=\bimport ){o}(?![\w.-])",              # import example
        rf"(?<=\bfrom ){o}(?=(?:\.\w+)* import\b)",   # from example import x
    ]))


def rename_references(text: str, old: str, new: str) -> str:
    """`text` (config, a string, a comment) with references to module `old` made to `new`."""
    return _reference(old).sub(new, text) if old != new else text


def rename_python(text: str, old: str, new: str) -> str:
    """Python source with package `old` renamed to `new`: the name as a token (imports and
    attribute chains), and module references inside strings and comments. Source that does
    not tokenize is treated as text."""
    if old == new or old not in text:
        return text
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return rename_references(text, old, new)
    texty = {tokenize.STRING, tokenize.COMMENT}
    texty |= {t for t in (getattr(tokenize, "FSTRING_MIDDLE", None),) if t is not None}
    starts = [0]
    for line in text.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    edits: list[tuple[int, int, str]] = []
    for tok in tokens:
        if tok.type == tokenize.NAME and tok.string == old:
            replacement = new
        elif tok.type in texty and old in tok.string:
            replacement = rename_references(tok.string, old, new)
        else:
            continue
        if replacement != tok.string:
            edits.append((starts[tok.start[0] - 1] + tok.start[1],
                          starts[tok.end[0] - 1] + tok.end[1], replacement))
    for begin, end, replacement in reversed(edits):
        text = text[:begin] + replacement + text[end:]
    return text


def rename_path(rel: PurePosixPath, old: str, new: str) -> PurePosixPath:
    """src/<old>/x -> src/<new>/x (the package folder, wherever it sits under src/)."""
    parts = rel.parts
    if len(parts) > 2 and parts[0] == "src" and parts[1] == old:
        return PurePosixPath("src", new, *parts[2:])
    return rel


def _pin(tool_version: str) -> str:
    """torchship~=X.Y for the running tool (~=X.Y.ZrcN for a pre-release, which ~=X.Y skips)."""
    from packaging.version import Version

    version = Version(tool_version)
    if version.is_prerelease or version.is_devrelease:
        return f"{TOOL}~={version}"
    return f"{TOOL}~={version.major}.{version.minor}"


def _walk(node: Any, visit: Callable[[Any, Any, str | None], None]) -> None:
    """Call visit(container, key, value) for every string in a tomlkit document, and rename
    table keys by visit's answer too (value None means: a key)."""
    if isinstance(node, dict):
        for key in list(node):
            visit(node, key, None)
        for key, value in list(node.items()):
            if isinstance(value, str):
                visit(node, key, value)
            else:
                _walk(value, visit)
    elif isinstance(node, list):
        for i, value in enumerate(list(node)):
            if isinstance(value, str):
                visit(node, i, value)
            else:
                _walk(value, visit)


def tool_source_for(tool_version: str, given: str | None) -> ToolSource:
    """The source a new project records: `given` validated, else the tool's default (this
    repository at the tool's release tag, until a team publishes it on an index)."""
    from torchship import toolsource

    return toolsource.parse(given, "--tool-source") if given is not None else (
        toolsource.default_for(tool_version))


def check_tag(source: ToolSource, tool_version: str) -> None:
    """Refuse a git source whose release tag the project's pin does not admit (pip would
    refuse it at the first install, far from here)."""
    from packaging.specifiers import SpecifierSet
    from packaging.version import InvalidVersion, Version

    tagged = source.tag_version()
    if tagged is None:
        return
    pin = _pin(tool_version)
    try:
        admitted = SpecifierSet(pin.removeprefix(TOOL)).contains(Version(tagged), prereleases=True)
    except InvalidVersion:
        admitted = False
    if not admitted:
        raise TemplateError(f"the tool source's tag names torchship {tagged}, which the "
                            f"project's pin {pin} does not admit",
                            hint="use the tag of a release that pin takes, or make the project "
                                 "with that torchship")


def rename_pyproject(text: str, *, template: Template, name: str, tool_version: str,
                     tool_source: ToolSource | None = None) -> str:
    """The new project's pyproject.toml: renamed, version 0.1.0, the tool pinned and its
    source recorded ([tool.torchship.tool])."""
    import tomlkit

    old, dist = template.package, template.dist
    doc = tomlkit.parse(rename_references(text, old, name))
    owners = {normalize(dist), normalize(old)}

    def visit(container: Any, key: Any, value: str | None) -> None:
        if value is None:  # a table key: the package's own (package-data, ...)
            if isinstance(key, str) and key == old and key != name and isinstance(container, dict):
                container[name] = container.pop(key)
            return
        if value == old:
            container[key] = name
            return
        req = _requirement_name(value)
        if req is not None and normalize(req) in owners and value.startswith(req):
            container[key] = name + value[len(req):]  # a self-reference: example[torch,test]

    _walk(doc, visit)
    project = doc["project"]
    project["name"] = name
    project["version"] = FIRST_VERSION
    project["description"] = f"{name}: a PyTorch project made from the torchship template."
    extras = project.setdefault("optional-dependencies", tomlkit.table())
    pin, placed = _pin(tool_version), False
    for extra_name, extra in extras.items():
        for i, req in enumerate(list(extra)):
            if isinstance(req, str) and normalize(_requirement_name(req) or "") == TOOL:
                if extra_name == "test" and not placed:
                    extra[i], placed = pin, True
                else:
                    extra.remove(req)
    if not placed:
        extras.setdefault("test", tomlkit.array()).append(pin)
    source = tool_source or tool_source_for(tool_version, None)
    settings = doc.setdefault("tool", tomlkit.table()).setdefault(TOOL, tomlkit.table())
    table = settings.get("tool")
    if table is None:
        table = tomlkit.table()
        table.add(tomlkit.comment("Where the project installs torchship from (`torchship new "
                                  "--tool-source`; torchship's docs/tool-source.md)."))
        settings["tool"] = table
    table["source"] = source.text
    bump = doc.get("tool", {}).get("bumpversion")
    if bump is not None and "current_version" in bump:
        bump["current_version"] = FIRST_VERSION
    return tomlkit.dumps(doc)


def reset_version(files: dict[PurePosixPath, bytes], template: Template, name: str) -> None:
    """Every file [tool.bumpversion] names: the template's version -> 0.1.0 (pyproject aside)."""
    data = configmod.Pyproject.read(template.root).bumpversion
    old = str(data.get("current_version", template.version))
    for entry in data.get("files", []):
        rel = rename_path(PurePosixPath(str(entry.get("filename", ""))), template.package, name)
        if rel == PurePosixPath("pyproject.toml") or rel not in files:
            continue
        search = str(entry.get("search", "{current_version}"))
        replace = str(entry.get("replace", "{new_version}"))
        text = files[rel].decode()
        if entry.get("regex"):
            pattern = search.replace("{current_version}", re.escape(old))
            text = re.sub(pattern, replace.replace("{new_version}", FIRST_VERSION), text, flags=re.M)
        else:
            text = text.replace(search.replace("{current_version}", old),
                                replace.replace("{new_version}", FIRST_VERSION))
        files[rel] = text.encode()


def answers(template: Template, *, name: str, tool_version: str) -> str:
    """The record of where the project came from (ANSWERS)."""
    import tomlkit

    doc = tomlkit.document()
    doc.add(tomlkit.comment("The template this project was made from. Written by `torchship new`,"))
    doc.add(tomlkit.comment("read by `torchship update`: do not edit by hand."))
    record = tomlkit.table()
    record.update({"source": template.source, "version": template.version,
                   "commit": template.commit, "package": template.package})
    if template.dirty:
        record["dirty"] = True
    record["made_with"] = f"{TOOL} {tool_version}"
    doc["template"] = record
    doc["answers"] = {"name": name}
    return str(tomlkit.dumps(doc))


def _docs_url() -> str:
    """Where torchship's documentation is: the tool's own metadata (Project-URL)."""
    from importlib import metadata

    try:
        urls = metadata.metadata(TOOL).get_all("Project-URL") or []
    except metadata.PackageNotFoundError:
        urls = []
    for entry in map(str, urls):
        label, _, url = entry.partition(",")
        if label.strip().lower() == "documentation":
            return url.strip()
    return "the docs/ folder beside torchship's source (no Documentation URL in its metadata)"


def readme(template: Template, *, name: str, tool_version: str, train: str,
           tool_source: ToolSource | None = None) -> str:
    source = tool_source or tool_source_for(tool_version, None)
    return README_TEXT.format(name=name, package=name, template=template.label,
                              docs=_docs_url(), pin=_pin(tool_version), train=train,
                              source=source.text)


# --- plan: every file of the new project, in memory ------------------------------------

@dataclass(frozen=True)
class Plan:
    template: Template
    name: str
    tool_version: str
    files: dict[PurePosixPath, bytes] = field(hash=False, compare=False)
    modes: dict[PurePosixPath, int] = field(hash=False, compare=False)
    tool_source: ToolSource | None = None


def regenerate_ci(files: dict[PurePosixPath, bytes], *, strict: bool = True) -> None:
    """The CI files the template carries, generated again from the new project's own
    configuration: they install the tool from the project's source, not the template's.
    Not `strict` (an older template, for `torchship update`): a configuration this tool no
    longer reads leaves the files as the template had them."""
    from torchship.workflow import cigen

    with tempfile.TemporaryDirectory(prefix="torchship-new-") as tmp:
        root = Path(tmp)
        for rel, data in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(data)
        try:
            rendered = cigen.render(projectmod.load(root, use_local=False).config)
        except TorchshipError:
            if strict:
                raise
            return
    for name, text in rendered.items():
        if PurePosixPath(name) in files:
            files[PurePosixPath(name)] = text.encode()


def render_file(rel: PurePosixPath, data: bytes, *, old: str, new: str) -> bytes:
    """One template file as the new project has it."""
    if old == new:
        return data
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return data  # binary: copied as it is
    rename = rename_python if rel.suffix in _PYTHON else rename_references
    return rename(text, old, new).encode("utf-8")


def plan(template: Template, name: str, *, tool_version: str,
         tool_source: ToolSource | None = None, strict: bool = True) -> Plan:
    """The new project's files (path -> bytes), renamed, the tool from `tool_source` (default:
    `tool_source_for`); nothing is written."""
    tool_source = tool_source or tool_source_for(tool_version, None)
    old = template.package
    files: dict[PurePosixPath, bytes] = {}
    modes: dict[PurePosixPath, int] = {}
    for rel in template_files(template.root):
        src = template.root / rel
        target = rename_path(rel, old, name)
        if rel == PurePosixPath("pyproject.toml"):
            files[target] = rename_pyproject(src.read_text(encoding="utf-8"), template=template,
                                             name=name, tool_version=tool_version,
                                             tool_source=tool_source).encode()
        else:
            files[target] = render_file(rel, src.read_bytes(), old=old, new=name)
        modes[target] = src.stat().st_mode & 0o777
    reset_version(files, template, name)
    regenerate_ci(files, strict=strict)
    facts = modelbranch.contract_of(configmod.parse_toml(files[PurePosixPath("pyproject.toml")].decode(),
                                                         where="pyproject.toml"))
    files[PurePosixPath(README)] = readme(template, name=name, tool_version=tool_version,
                                          train=shlex.join(facts.train),
                                          tool_source=tool_source).encode()
    files[PurePosixPath(CHANGELOG_FILE)] = CHANGELOG.encode()
    files[PurePosixPath(ANSWERS)] = answers(template, name=name, tool_version=tool_version).encode()
    return Plan(template, name, tool_version, files, modes, tool_source)


def check_line_length(new: Plan) -> None:
    """Refuse a name so long that the rename pushes a Python line past ruff's line-length.

    The first commit runs ruff through the hooks: better one line now than a failed commit.
    """
    ruff = configmod.Pyproject.read(new.template.root).tool("ruff")
    limit = int(ruff.get("line-length", 88))
    old, name = new.template.package, new.name
    grow = len(name) - len(old)
    if grow <= 0:
        return
    worst: tuple[int, str] | None = None  # (the longest name that fits, where)
    for rel in template_files(new.template.root):
        if rel.suffix not in _PYTHON:
            continue
        before = (new.template.root / rel).read_text(errors="replace").splitlines()
        after = new.files[rename_path(rel, old, name)].decode(errors="replace").splitlines()
        for number, (a, b) in enumerate(zip(before, after, strict=False), 1):
            count = (len(b) - len(a)) // grow
            if count > 0 and len(a) <= limit:
                fits = len(old) + (limit - len(a)) // count
                if worst is None or fits < worst[0]:
                    worst = (fits, f"{rel}:{number}")
    if worst is not None and len(name) > worst[0]:
        raise TemplateError(f"{name!r} is too long for this template: {worst[1]} would pass "
                            f"ruff's line-length of {limit}",
                            hint=f"use a name of at most {max(worst[0], 1)} characters")


# --- apply ------------------------------------------------------------------------------

def write(new: Plan, dest: Path) -> None:
    for rel, data in new.files.items():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        if rel in new.modes:
            target.chmod(new.modes[rel])


_FAILED = re.compile(r"^(?P<name>.+?)\.{3,}.*Failed$")


def hook_failure(output: str) -> str:
    """What pre-commit said about the first hook that failed: `ruff: path:1:1: F401 ...`.

    pre-commit prints `<name>....Failed`, `- hook id: <id>`, `- exit code: N` (or `- files
    were modified by this hook`), a blank line, then the hook's own output. ruff's full format
    puts the message first and ` --> path:line:col` on the next line: both are kept.
    """
    lines = output.splitlines()
    for i, line in enumerate(lines):
        m = _FAILED.match(line.strip())
        if not m:
            continue
        hook = m["name"].strip()
        body = []
        for later in lines[i + 1:]:
            if _FAILED.match(later.strip()) or re.match(r"^.+\.{3,}.*(Passed|Skipped)$", later):
                break
            if later.startswith("- hook id: "):
                hook = later.removeprefix("- hook id: ").strip()
            elif later.strip() and not later.startswith("- "):
                body.append(later.strip())
        if not body:
            return hook
        first = body[0]
        if len(body) > 1 and body[1].startswith("-->"):
            first = f"{body[1].removeprefix('-->').strip()}: {first}"
        return f"{hook}: {first}"
    tail = [ln.strip() for ln in lines if ln.strip()]
    return tail[-1] if tail else "no output"


def with_tool_on_path() -> dict[str, str]:
    """PATH with the running tool's scripts first: the hooks run `torchship hook ...`, and it
    must be this torchship whether or not its venv is activated."""
    return {"PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}


def first_commit(new: Plan, dest: Path, *, hooks: bool) -> str:
    """git init, the hooks (when asked), and the first commit through them; its sha."""
    with Git.init(dest, branch="main") as git:
        return _first_commit(new, git, hooks=hooks)


def _first_commit(new: Plan, git: Git, *, hooks: bool) -> str:
    if hooks:
        from torchship.workflow import hooks as hooksmod

        hooksmod.install(git.top)
    git.run("add", "-A")
    message = f"Start {new.name} from the torchship template ({new.template.label})"
    res = git.run("commit", "-q", "-m", message, env=with_tool_on_path(), check=False)
    output = res.stdout + res.stderr
    if not res.ok:
        if hooks and re.search(r"\.{3,}.*Failed$", output, re.M):
            raise TemplateError(f"the first commit failed in its hooks: {hook_failure(output)}",
                                hint="the template does not pass its own hooks under this name; "
                                     "--no-hooks creates the project without running them, then "
                                     "`pre-commit run -a` in it shows every problem")
        last = output.strip().splitlines()[-1:] or [""]
        raise TemplateError(f"the first commit failed: {last[0]}",
                            hint="check `git config user.name` and `user.email`")
    head = git.head()
    assert head is not None  # the commit was just made
    return head


@dataclass(frozen=True)
class Created:
    dest: Path
    name: str
    files: int
    commit: str
    hooks: bool
    template: Template
    pin: str
    tool_source: ToolSource | None = None

    def render(self) -> str:
        source = f" from {self.tool_source.describe()}" if self.tool_source else ""
        return (f"created {self.dest} ({self.files} files, package {self.name}, version "
                f"{FIRST_VERSION}, {self.pin}{source}) from the template {self.template.label}; "
                f"first commit {self.commit[:12]}"
                + ("; hooks installed" if self.hooks else "; hooks not installed (--no-hooks)"))


def new(template: Template, dest: Path, *, name: str, hooks: bool = True,
        tool_version: str | None = None, tool_source: ToolSource | None = None) -> Created:
    """Create a project at `dest` from `template`, the tool installed from `tool_source`
    (default: `tool_source_for`); on failure leave nothing behind."""
    if tool_version is None:
        from torchship import __version__

        tool_version = __version__
    tool_source = tool_source or tool_source_for(tool_version, None)
    check_tag(tool_source, tool_version)
    validate_name(name, template)
    dest = dest.resolve()
    check_dest(dest)
    if dest == template.root or template.root in dest.parents:
        raise TemplateError(f"{dest} is inside the template", hint="create the project elsewhere")
    made = plan(template, name, tool_version=tool_version, tool_source=tool_source)
    check_line_length(made)
    existed = dest.exists()
    try:
        dest.mkdir(parents=True, exist_ok=True)
        write(made, dest)
        commit = first_commit(made, dest, hooks=hooks)
    except BaseException:
        if existed:
            for child in dest.iterdir():
                shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
        else:
            shutil.rmtree(dest, ignore_errors=True)
        raise
    return Created(dest, name, len(made.files), commit, hooks, template, _pin(tool_version),
                   tool_source)


# --- the command line: `torchship new` -------------------------------------------------

def main(argv: Sequence[str] | None = None) -> int:
    """`torchship new DEST --name NAME [--template DIR|URL] [--version VERSION] [--no-hooks]`."""
    parser = Parser(prog="torchship new",
                     description="Create a project from the torchship template: the example "
                                 "package renamed, the tool pinned, a first commit through the "
                                 "project's hooks.")
    parser.add_argument("dest", type=Path, help="a new or empty directory")
    parser.add_argument("--name", required=True, help="the package name (e.g. my_model)")
    parser.add_argument("--template", default=os.environ.get("TORCHSHIP_TEMPLATE") or ".",
                        help="the template: a folder or a git URL ($TORCHSHIP_TEMPLATE, else "
                             "the current directory)")
    parser.add_argument("--version", default=None, metavar="VERSION",
                        help="the template's release to start from (its tag vVERSION; "
                             "default: the template as it is, HEAD of a URL's default branch)")
    parser.add_argument("--no-hooks", dest="hooks", action="store_false",
                        help="do not install the git hooks or run them on the first commit")
    parser.add_argument("--tool-source", default=None, metavar="SOURCE",
                        help="where the project installs torchship from, recorded in "
                             "[tool.torchship.tool]: `index`, a git URL at the tool's tag "
                             "(git+URL@torchship-vX.Y.Z#subdirectory=torchship, the default: "
                             "this tool's own tag), or the team's index URL")
    args = parser.parse_args(argv)

    def body() -> int:
        validate_name(args.name)  # before a clone: the rest of the check needs the template
        from torchship import __version__

        source = tool_source_for(__version__, args.tool_source)
        with fetched(args.template, version=args.version) as template:
            print(new(template, args.dest, name=args.name, hooks=args.hooks,
                      tool_source=source).render())
        return 0

    return guarded(body)
