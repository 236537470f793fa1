"""One branch per model: `invoke model.new NAME` -> `feature/model-NAME` with a skeleton.

The branch starts from the release branch (main) and its first commit holds a module under
src/<package>/models/, an entry in models/registry.toml, a unit test and an e2e test that
pass as they are, in any project: the skeleton follows the project, not an example.
- The module is a copy of the module of the project's default model (the registry's first
  entry): its factory is the starting point, whatever its signature.
- The registry entry names the copy's factory with the default's kwargs.
- The tests check what holds for every model: it is registered, it builds through the
  project's own `<package>.models.build(NAME)` (whatever the registry's contract), and a run
  of the project's training command with `--model NAME --out DIR` and the project's
  `quick_train` arguments ([tool.torchship.project]) writes the metrics file there.
Every check runs before anything is touched, so a refused name changes nothing; a failure
half-way switches back and deletes the branch.
"""

from __future__ import annotations

import ast
import json
import keyword
import re
import shlex
import sys
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torchship import config as configmod
from torchship.adapters.git import Git, GitError
from torchship.errors import TorchshipError
from torchship.project import Project

BRANCH_PREFIX = "feature/model-"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
DEFAULT_METRICS = "metrics.json"


class ModelError(TorchshipError):
    """The model cannot be created as asked; nothing was changed."""


@dataclass(frozen=True)
class Contract:
    """What the skeleton needs to know about the project.

    Read from [tool.torchship.project] (package, train) and [tool.torchship.metrics] (file)
    when the project has them, with defaults that fit the template: the package is
    [project].name as an import name, training is `python -m <package>.train`, and a run
    writes `metrics.json` into its `--out` folder.
    """

    package: str
    train: tuple[str, ...]
    metrics: str = DEFAULT_METRICS
    quick_train: tuple[str, ...] = ()   # added to `train` in the e2e test: a short run


def contract_of(pyproject: Mapping[str, Any]) -> Contract:
    """What the skeleton needs of the project's contract, read and validated by torchship.config."""
    project, metrics = configmod.project_contract(pyproject)
    return Contract(project.package, project.train, metrics.file, project.quick_train)


@dataclass(frozen=True)
class Skeleton:
    package: str
    name: str
    contract: Contract
    default: str                  # the registry's first model: the starting point
    factory: str                  # its "module:function"
    kwargs: Mapping[str, Any]     # its keyword arguments
    source: tuple[str, bool] | None  # its module's source on the base branch, and whether
                                     # it is an __init__ (None: the module is not the project's)

    @property
    def branch(self) -> str:
        return BRANCH_PREFIX + self.name

    @property
    def module(self) -> str:
        return f"src/{self.package}/models/{self.name}.py"

    @property
    def registry(self) -> str:
        return registry_path(self.package)

    @property
    def unit_test(self) -> str:
        return f"tests/unit/test_model_{self.name}.py"

    @property
    def e2e_test(self) -> str:
        return f"tests/e2e/test_train_{self.name}.py"

    @property
    def files(self) -> list[str]:
        return [self.module, self.registry, self.unit_test, self.e2e_test]


def registry_path(package: str) -> str:
    return f"src/{package}/models/registry.toml"


def validate_name(name: str) -> None:
    if not _NAME.match(name):
        raise ModelError(f"{name!r} is not a valid model name",
                         hint="lower-case letters, digits and _, starting with a letter, "
                              "at most 40 (e.g. resnet_small)")
    if keyword.iskeyword(name) or name in sys.stdlib_module_names:
        raise ModelError(f"{name!r} is a Python keyword or standard-library module name",
                         hint="pick another name")


def _exists(git: Git, ref: str) -> bool:
    return git.object_type(ref) is not None


def _show(git: Git, base: str, path: str) -> str | None:
    """A file's text on the base branch, or None where it has none."""
    try:
        return git.show(base, path).decode("utf-8")
    except GitError:
        return None


def _module_file(git: Git, base: str, package: str, module: str) -> tuple[str, bool] | None:
    """The source of `module` on the base branch, and whether it is a package's __init__,
    when it is a module of the project's own package."""
    if module != package and not module.startswith(package + "."):
        return None
    stem = "src/" + module.replace(".", "/")
    for path, is_package in ((f"{stem}.py", False), (f"{stem}/__init__.py", True)):
        text = _show(git, base, path)
        if text is not None:
            return text, is_package
    return None


def plan(root: Path, name: str, git: Git, base: str) -> tuple[Skeleton, str]:
    """Check everything; return the skeleton and the base branch. Raises before any change."""
    validate_name(name)
    if not _exists(git, f"refs/heads/{base}"):
        raise ModelError(f"there is no {base} branch to start from")
    pyproject = _show(git, base, "pyproject.toml")
    if pyproject is None:
        raise ModelError(f"{base} has no pyproject.toml")
    contract = contract_of(configmod.parse_toml(pyproject, where=f"pyproject.toml on {base}"))
    where = registry_path(contract.package)
    registry_text = _show(git, base, where)
    if registry_text is None:
        raise ModelError(f"{where} is missing on {base}",
                         hint="models are registered there (a factory and its kwargs per name); "
                              "restore it from the template")
    registry = configmod.parse_toml(registry_text, where=f"{where} on {base}")
    entries = [(k, v) for k, v in registry.items()
               if isinstance(v, dict) and isinstance(v.get("factory"), str) and ":" in v["factory"]]
    if not entries:
        raise ModelError(f"{where} registers no model to start from",
                         hint='add one: [name] with factory = "module:function" and kwargs = {...}')
    default, entry = entries[0]
    module = entry["factory"].partition(":")[0]
    skeleton = Skeleton(contract.package, name, contract, default, entry["factory"],
                        dict(entry.get("kwargs", {})),
                        _module_file(git, base, contract.package, module))
    if git.is_dirty():
        raise ModelError("the work tree has uncommitted changes", hint="commit or stash them first")
    remote = git.out("for-each-ref", "--format=%(refname)", f"refs/remotes/*/{skeleton.branch}")
    if _exists(git, f"refs/heads/{skeleton.branch}") or remote:
        raise ModelError(f"branch {skeleton.branch} already exists",
                         hint="pick another name, or `git switch` to it")
    if name in registry or _exists(git, f"{base}:{skeleton.module}"):
        raise ModelError(f"model {name!r} already exists on {base}", hint="pick another name")
    return skeleton, base


def _absolute_imports(source: str, module: str, *, is_package: bool) -> str:
    """`from .x import y` in `module`'s source -> `from pkg.x import y`: the copy lives in
    another folder, where relative imports would point elsewhere."""
    lines = source.splitlines(keepends=True)
    here = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level:
            anchor = here[:len(here) - (node.level - 1)]
            target = ".".join([*anchor, *([node.module] if node.module else [])])
            i = node.lineno - 1
            lines[i] = re.sub(r"\bfrom\s+\.+[\w.]*", f"from {target}", lines[i], count=1)
    return "".join(lines)


def _with_docstring(source: str, doc: str) -> str:
    """`source` with its module docstring replaced by `doc` (or `doc` put first)."""
    tree = ast.parse(source)
    first = tree.body[0] if tree.body else None
    line = f'"""{doc}"""\n'
    if len(line) > 96:  # within any line-length a project's ruff may ask for
        line = '"""' + "\n".join(textwrap.wrap(doc, 92)) + '\n"""\n'
    if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str) and first.end_lineno is not None):
        lines = source.splitlines(keepends=True)
        return "".join([*lines[:first.lineno - 1], line, *lines[first.end_lineno:]])
    return line + "\n" + source


def module_text(s: Skeleton) -> str:
    """The new model's module: a copy of the default model's, to make its own."""
    module, _, function = s.factory.partition(":")
    doc = f"The {s.name} model, started as a copy of {module} ({s.default}): make it yours."
    if s.source is None:  # the default model comes from a library: start from its factory
        return (f'"""{doc}"""\n\nfrom __future__ import annotations\n\n'
                f"from {module} import {function} as make_model\n\n"
                '__all__ = ["make_model"]\n')
    source, is_package = s.source
    return _with_docstring(_absolute_imports(source, module, is_package=is_package), doc)


def factory(s: Skeleton) -> str:
    """The new model's "module:function" in the registry."""
    function = s.factory.partition(":")[2] if s.source is not None else "make_model"
    return f"{s.package}.models.{s.name}:{function}"


UNIT_TEST = '''\
"""The {name} model: registered, and it builds through the project's models.build."""

from __future__ import annotations

import tomllib
from importlib import resources
from typing import Any

from torch import nn

from {package}.models import build

FACTORY = "{factory}"


def entry() -> dict[str, Any]:
    text = (resources.files("{package}") / "models" / "registry.toml").read_text()
    found: dict[str, Any] = tomllib.loads(text)["{name}"]
    return found


def test_it_is_registered() -> None:
    assert entry()["factory"] == FACTORY


def test_it_builds_from_its_registry_entry() -> None:
    model = build("{name}")
    assert isinstance(model, nn.Module)
    assert any(p.requires_grad for p in model.parameters())
'''

E2E_TEST = '''\
"""A real training run of the {name} model through the project's training command."""

from __future__ import annotations

import json
import subprocess
{imports}from pathlib import Path

TRAIN = [{train}]
QUICK = [{quick}]  # [tool.torchship.project] quick_train: a short run


def test_{name}_trains_and_writes_its_metrics(tmp_path: Path) -> None:
    proc = subprocess.run([*TRAIN, "--model", "{name}", "--out", str(tmp_path), *QUICK],
                          capture_output=True, text=True, timeout=1800, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    metrics = json.loads((tmp_path / "{metrics}").read_text())
    assert isinstance(metrics, dict)
    assert metrics
'''


def render(s: Skeleton) -> dict[str, str]:
    """The new files' text (the registry entry is appended, not rendered whole)."""
    # `python` in the training command is the interpreter running the tests (a venv, an image).
    train = ["sys.executable" if i == 0 and word in ("python", "python3") else json.dumps(word)
             for i, word in enumerate(s.contract.train)]
    return {
        s.module: module_text(s),
        s.unit_test: UNIT_TEST.format(name=s.name, package=s.package, factory=factory(s)),
        s.e2e_test: E2E_TEST.format(name=s.name, metrics=s.contract.metrics, train=", ".join(train),
                                    quick=", ".join(json.dumps(a) for a in s.contract.quick_train),
                                    imports="import sys\n" if "sys.executable" in train else ""),
    }


def registry_entry(s: Skeleton) -> str:
    """The new model's table, appended to the registry (the file is left as it is)."""
    import tomlkit

    lines = [f"[{s.name}]", f"factory = {tomlkit.item(factory(s)).as_string()}"]
    if s.kwargs:
        pairs = ", ".join(f"{tomlkit.key(key).as_string()} = {tomlkit.item(value).as_string()}"
                          for key, value in s.kwargs.items())
        lines.append(f"kwargs = {{ {pairs} }}")
    return "\n" + "\n".join(lines) + "\n"


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
                          f"train it: {shlex.join(s.contract.train)} --model {s.name}",
                          f"test it:  pytest {s.unit_test} {s.e2e_test}"])


def new(project: Project, name: str, *, commit: bool = True) -> Created:
    """Create the branch and the skeleton; undo everything if a step fails."""
    if project.git.head() is None:
        raise ModelError(f"{project.root} is not a git repository with a commit")
    return _new(project.root, name, project.git, project.config.release.branch, commit=commit)


def _new(root: Path, name: str, git: Git, base: str, *, commit: bool) -> Created:
    skeleton, base = plan(root, name, git, base)
    previous = git.branch()
    git.run("switch", "-q", "-c", skeleton.branch, base)
    try:
        for rel, text in render(skeleton).items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        with (root / skeleton.registry).open("a") as fh:
            fh.write(registry_entry(skeleton))
        git.add(list(skeleton.files))
        sha, env = None, ""
        if commit:
            from torchship.workflow.template import hook_failure, with_tool_on_path

            res = git.run("commit", "-q", "-m", f"Add the {name} model skeleton",
                          env=with_tool_on_path(), check=False)
            if not res.ok:
                raise ModelError(f"the skeleton's commit failed: {hook_failure(res.stdout + res.stderr)}")
            sha = git.head()
            env = git.log1("HEAD", "%(trailers:key=Env,valueonly)").strip()
    except BaseException:
        git.run("reset", "-q", "--hard", base, check=False)
        for rel in render(skeleton):
            (root / rel).unlink(missing_ok=True)
        git.run("switch", "-q", previous or base, check=False)
        git.run("branch", "-q", "-D", skeleton.branch, check=False)
        raise
    return Created(skeleton, base, sha, env)
