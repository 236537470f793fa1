"""Where a project installs torchship from: `[tool.torchship.tool] source`.

One of:
- `index`: the package index pip already uses (PyPI, or whatever the user's pip
  configuration names): the default once the tool is published;
- a git URL of the template's repository at the tool's release tag, with the folder the
  tool lives in: `git+https://github.com/torchship/torchship@torchship-v0.2.0#subdirectory=torchship`;
- the team's own index: an `https://` (or `http://`, `file://`) URL, added to the indexes
  pip already has (`--extra-index-url`, which extends pip's configuration, never replaces it);
- a folder of the project holding the tool's source (`./torchship`): the template's own
  repository, installed editable.

Everything that installs the project turns the source into the same pip arguments
(`pip_args`): the generated CI files (torchship.workflow.cigen), the project's
scripts/setup_dev.sh and noxfile.py (through scripts/tool_source.py, which cannot import
the tool it is about to install), and the devel image's build (torchship.images.toolwheel).
"""

from __future__ import annotations

import shlex
import urllib.parse
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal

from torchship.errors import ConfigError

DIST = "torchship"
KEY = "tool.torchship.tool.source"
# This repository: the template with the tool in torchship/ (also pyproject's [project.urls]).
REPOSITORY = "https://github.com/torchship/torchship"
TAG_PREFIX = "torchship-v"   # the tool's release tags (torchship/pyproject.toml)
SUBDIRECTORY = "torchship"
EXAMPLE_GIT = f"git+{REPOSITORY}@{TAG_PREFIX}0.2.0#subdirectory={SUBDIRECTORY}"
HINT = (f'"index"; a git URL at the tool\'s tag, e.g. "{EXAMPLE_GIT}"; '
        'a package index URL, e.g. "https://pypi.example.com/simple"; '
        'or a folder of the project, e.g. "./torchship"')

Kind = Literal["index", "git", "url", "path"]


@dataclass(frozen=True)
class ToolSource:
    """A validated tool source (`parse`)."""

    text: str
    kind: Kind

    def pip_args(self) -> list[str]:
        """What `pip install` (or `uv pip install`) adds beside the project to get the tool
        from here: nothing for the index pip already has."""
        if self.kind == "git":
            return [f"{DIST} @ {self.text}"]
        if self.kind == "url":
            return ["--extra-index-url", self.text]
        if self.kind == "path":
            return ["-e", self.text]
        return []

    def install(self, target: str, *, pip: str = "pip") -> str:
        """The shell command installing `target` (e.g. `-e '.[dev]'`) with the tool from here."""
        return " ".join([f"{pip} install", *map(shlex.quote, self.pip_args()), target])

    def tag_version(self) -> str | None:
        """The tool's version a git source's release tag names (`@torchship-v0.2.0`)."""
        if self.kind != "git":
            return None
        ref = urllib.parse.urlsplit(self.text).path.rpartition("@")[2]
        return ref.removeprefix(TAG_PREFIX) if ref.startswith(TAG_PREFIX) else None

    def describe(self) -> str:
        return {"index": "the package index", "git": f"git ({self.text})",
                "url": f"the index {self.text}", "path": f"the folder {self.text}"}[self.kind]


INDEX = ToolSource("index", "index")


def default_for(version: str) -> ToolSource:
    """The source `torchship new` records when none is given: until a team publishes the tool
    on an index, this repository at the tool's own release tag."""
    return ToolSource(f"git+{REPOSITORY}@{TAG_PREFIX}{version}#subdirectory={SUBDIRECTORY}", "git")


def _no_password(parts: urllib.parse.SplitResult, text: str, key: str) -> None:
    if parts.password is not None:
        raise ConfigError(key, f"{text!r} holds a password, and pyproject.toml is committed",
                          hint="leave credentials to pip's configuration or keyring "
                               "(PIP_INDEX_URL, ~/.netrc)")


def parse(value: object, key: str = KEY) -> ToolSource:
    """`value` as a ToolSource, or one ConfigError saying which forms there are."""
    if not isinstance(value, str) or not value.strip() or value != value.strip():
        raise ConfigError(key, f"{value!r} is not a tool source", hint=HINT)
    text = value
    if text == "index":
        return INDEX
    if text.startswith("git+"):
        parts = urllib.parse.urlsplit(text[len("git+"):])
        if parts.scheme not in {"https", "http", "ssh", "file"} or not (parts.netloc or parts.path):
            raise ConfigError(key, f"{text!r} is not a git URL pip can install",
                              hint="git+https://, git+ssh:// or git+file:// and the repository, "
                                   f"e.g. {EXAMPLE_GIT!r}")
        _no_password(parts, text, key)
        repo, at, ref = parts.path.rpartition("@")
        if not at or not repo or not ref or "/" in ref:
            raise ConfigError(key, f"{text!r} names no tag", hint="end the repository with "
                              f"@{TAG_PREFIX}X.Y.Z, the tool's release tag: a branch moves")
        fragment = urllib.parse.parse_qs(parts.fragment)
        if not fragment.get("subdirectory", [""])[0]:
            raise ConfigError(key, f"{text!r} does not say where the tool is in the repository",
                              hint=f"add #subdirectory={SUBDIRECTORY}")
        return ToolSource(text, "git")
    if text.startswith(("https://", "http://", "file://")):
        parts = urllib.parse.urlsplit(text)
        if not (parts.netloc or parts.path.strip("/")):
            raise ConfigError(key, f"{text!r} is not a package index URL", hint=HINT)
        _no_password(parts, text, key)
        return ToolSource(text, "url")
    if text.startswith("./"):
        path = PurePosixPath(text)
        if ".." in path.parts or "\\" in text or len(path.parts) < 1 or str(path) == ".":
            raise ConfigError(key, f"{text!r} is not a folder inside the project", hint=HINT)
        return ToolSource(text, "path")
    raise ConfigError(key, f"{text!r} is not a tool source", hint=HINT)
