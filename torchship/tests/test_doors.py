"""One door each: git only through adapters/git.py, TOML only through config.

Read from the tool's source (its syntax tree, so code quoted in strings, e.g. a generated
skeleton, does not count): a new bypass fails here with the file and line.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "torchship"

GIT_DOOR = {"adapters/git.py"}
# The test helpers make fixture repositories the way a user's shell does (torchship.testing):
# they are the world the adapter is tested against, not a way round it.
GIT_WORLD = ("testing/",)
TOML_DOOR = {"config.py", "project.py"}
# tomlkit is not counted: it edits a file keeping its comments and layout (images/pin.py
# rewrites the pinned bases, workflow/template.py renames a new project), a write, not a
# second reading of the facts.


def _modules() -> list[tuple[str, ast.Module]]:
    return [(str(p.relative_to(SRC)), ast.parse(p.read_text(encoding="utf-8"), str(p)))
            for p in sorted(SRC.rglob("*.py"))]


def _names_git_helper(node: ast.AST) -> bool:
    """A private `_git` helper: its definition or a call of it."""
    if isinstance(node, ast.FunctionDef):
        return node.name == "_git"
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "_git"


def _git_calls(tree: ast.Module) -> list[int]:
    """Lines that start git themselves: an argument list beginning with "git", or a call of
    a private `_git` helper."""
    found: list[int] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.List | ast.Tuple) and node.elts:
            first = node.elts[0]
            if isinstance(first, ast.Constant) and first.value == "git":
                found.append(node.lineno)
        elif _names_git_helper(node):
            found.append(node.lineno)
    return found


def _toml_reads(tree: ast.Module) -> list[int]:
    """Lines that read TOML themselves: tomllib at all, or read_toml calls."""
    found: list[int] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            names += [a.name for a in node.names]
            if "tomllib" in names:
                found.append(node.lineno)
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id == "tomllib":
                found.append(node.lineno)
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name == "read_toml":
                found.append(node.lineno)
    return found


def test_git_runs_only_through_its_adapter() -> None:
    bypasses = [f"{rel}:{line}" for rel, tree in _modules()
                if rel not in GIT_DOOR and not rel.startswith(GIT_WORLD)
                for line in _git_calls(tree)]
    assert bypasses == [], "git started outside torchship.adapters.git"


def test_toml_is_read_only_by_config() -> None:
    reads = [f"{rel}:{line}" for rel, tree in _modules() if rel not in TOML_DOOR
             for line in sorted(set(_toml_reads(tree)))]
    assert reads == [], "TOML read outside torchship.config (use Pyproject / parse_toml / load)"


# A configuration is built from a folder by torchship.project (load, or find with its git
# handle), once per command and passed down. A release resumed after a crash reads the
# project its journal names (it need not be the one the command runs in).
CONFIG_DOOR = {"project.py", "config.py"}
CONFIG_JOURNAL = {"release/resume.py", "release/steps.py"}


def _config_loads(tree: ast.Module) -> list[int]:
    """Lines that call torchship.config's load themselves (config.load, configmod.load...)."""
    aliases = {"config", "configmod", "tsconfig"}
    found: list[int] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "torchship.config":
            found += [node.lineno for a in node.names if a.name in ("load", "from_data")]
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr in ("load", "from_data") and isinstance(node.func.value, ast.Name)
              and node.func.value.id in aliases):
            found.append(node.lineno)
    return found


def test_a_configuration_is_built_only_by_the_project() -> None:
    loads = [f"{rel}:{line}" for rel, tree in _modules() if rel not in CONFIG_DOOR | CONFIG_JOURNAL
             for line in _config_loads(tree)]
    assert loads == [], "config.load outside torchship.project (build the Project once: project.find/load)"


def test_the_counters_see_a_bypass() -> None:
    """Each counter finds the forms it looks for (else the tests above could not fail)."""
    git = ast.parse('run(["git", "status"])\ndef _git(*a): ...\n_git(root, "add")\n'
                    'x = \'run(["git", "quoted"])\'\n')
    toml = ast.parse("import tomllib\ntomllib.loads(t)\nconfigmod.read_toml(p)\n"
                     "x = 'tomllib.loads(quoted)'\n")
    loads = ast.parse("configmod.load(root)\nfrom torchship.config import load\ntsconfig.load(r)\n"
                      "x = 'config.load(quoted)'\nproject.load(root)\n")
    assert sorted(_git_calls(git)) == [1, 2, 3]
    assert sorted(_config_loads(loads)) == [1, 2, 3]
    assert sorted(set(_toml_reads(toml))) == [1, 2, 3]
