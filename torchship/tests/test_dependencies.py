"""The tool's runtime dependencies: each one used by the tool at run time, each bounded one
installed inside its bounds and still offering what the tool imports of it."""

from __future__ import annotations

import ast
import importlib
from importlib.metadata import version as installed
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from torchship.config import Pyproject

TOOL = Path(__file__).resolve().parents[1]
SRC = TOOL / "src" / "torchship"
# A distribution's import name, where it is not the distribution's own.
IMPORTS = {"GitPython": "git", "pyyaml": "yaml", "pre-commit": "pre_commit",
           "bump-my-version": "bumpversion"}
# What the tool takes from each bounded library (beyond bump-my-version's, which
# tests/release/test_bumpversion_api.py holds): a new major that moves one fails here.
USED = {
    "invoke": ["invoke.collection:Collection", "invoke.tasks:task", "invoke.context:Context",
               "invoke.exceptions:Exit"],
    "docker": ["docker:DockerClient", "docker.errors:APIError", "docker.errors:NotFound",
               "docker.tls:TLSConfig", "docker.types:DeviceRequest", "docker.utils:kwargs_from_env",
               "docker.models.containers:Container"],
    "GitPython": ["git:Repo", "git.cmd:Git", "git.exc:GitCommandNotFound",
                  "git.exc:InvalidGitRepositoryError",
                  "git.refs.symbolic:SymbolicReference.dereference_recursive",
                  "git.cmd:Git.get_object_data", "git.cmd:Git.update_environment"],
    "tomlkit": ["tomlkit:parse", "tomlkit:dumps", "tomlkit:document", "tomlkit:table",
                "tomlkit:array", "tomlkit:item", "tomlkit:key", "tomlkit:comment"],
    "jsonschema": ["jsonschema.validators:validator_for"],
    "bump-my-version": ["bumpversion.bump:do_bump"],
    "oras": ["oras.provider:Registry.upload_blob", "oras.provider:Registry.download_blob",
             "oras.provider:Registry.do_request", "oras.provider:Registry.get_container",
             "oras.oci:NewLayer"],
    "safetensors": ["safetensors.torch:save"],
    "pydantic": ["pydantic:BaseModel", "pydantic:ConfigDict", "pydantic:ValidationError",
                 "pydantic:field_validator",
                 # config.py's tables
                 "pydantic.dataclasses:dataclass", "pydantic:TypeAdapter", "pydantic:model_validator",
                 "pydantic:AfterValidator", "pydantic:BeforeValidator", "pydantic:PlainValidator",
                 "pydantic:WrapValidator", "pydantic:Strict", "pydantic:StrictStr", "pydantic:ValidationInfo",
                 "pydantic_core:PydanticCustomError", "pydantic_core:ArgsKwargs"],
}


def _requirements() -> list[Requirement]:
    return [Requirement(r) for r in Pyproject.read(TOOL).project["dependencies"]]


def _imported() -> set[str]:
    """Top-level modules the tool's source imports, or runs with `python -m`."""
    names: set[str] = set()
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
            elif isinstance(node, ast.List) and len(node.elts) >= 3:
                flag, module = node.elts[1], node.elts[2]
                if (isinstance(flag, ast.Constant) and flag.value == "-m"
                        and isinstance(module, ast.Constant) and isinstance(module.value, str)):
                    names.add(module.value.split(".")[0])
    return names


def test_every_runtime_dependency_is_used_at_run_time() -> None:
    """A library only the tests or the task files need belongs in the `test` extra."""
    imported = _imported()
    unused = [r.name for r in _requirements() if IMPORTS.get(r.name, r.name) not in imported]
    assert unused == []


@pytest.mark.parametrize("name", sorted(USED))
def test_a_bounded_library_is_inside_its_bounds_and_has_what_the_tool_uses(name: str) -> None:
    req = next(r for r in _requirements() if r.name == name)
    assert any(s.operator in ("<", "<=", "~=", "==") for s in req.specifier), (
        f"{name} has no upper bound")
    assert req.specifier.contains(installed(name), prereleases=True), (
        f"{name} {installed(name)} is outside {req.specifier}")
    for spec in USED[name]:
        module, _, attr = spec.partition(":")
        obj: object = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)


def test_every_bounded_library_is_held_here() -> None:
    bounded = {r.name for r in _requirements()
               if any(s.operator in ("<", "<=", "~=", "==") for s in r.specifier)}
    assert bounded == set(USED)
