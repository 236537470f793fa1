"""The bump-my-version adapter: the next version, the planned file edits, and applying them.

bump-my-version has no stable Python API, so this uses what its own `bump` command uses
(`get_configuration`'s pieces, `do_bump`), in-process: a release costs one import of it, not
several CLI start-ups. Its configuration is built with explicit paths and without its look
at the repository (git in the working directory): the process's working directory and
environment never change here, while the preflight's threads run beside it. It does not roll
back; release.py does.

Versions are parsed with the project's own [tool.bumpversion] `parse` (major, minor and
patch, and optionally pre_l and pre_n: a pre-release label from
[tool.bumpversion.parts.pre_l].values, `final` meaning "no pre-release", and its number),
written with its `serialize`, and found in the files bump-my-version resolves (globs
included): bump-my-version owns all three, this module asks it.
"""

from __future__ import annotations

import glob
import logging
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from torchship.errors import TorchshipError

PARTS = ("major", "minor", "patch")

# bump-my-version logs through the `bumpversion` logger; with no handler Python would print
# its warnings raw on stderr (e.g. "does not match last tagged version"), under our one line.
logging.getLogger("bumpversion").addHandler(logging.NullHandler())


class VersionError(TorchshipError):
    """The version cannot be bumped as asked, or the files disagree about it."""


@dataclass(frozen=True)
class Version:
    major: int
    minor: int
    patch: int
    pre_label: str | None = None
    pre_number: int | None = None
    # The version as written (bump-my-version's serialize); None: X.Y.Z<label><n>.
    text: str | None = field(default=None, compare=False)

    def __str__(self) -> str:
        if self.text is not None:
            return self.text
        pre = f"{self.pre_label}{self.pre_number}" if self.pre_label else ""
        return f"{self.major}.{self.minor}.{self.patch}{pre}"

    def values(self) -> dict[str, str]:
        """The parts, as bump-my-version's parse names them."""
        out = {"major": str(self.major), "minor": str(self.minor), "patch": str(self.patch)}
        if self.pre_label is not None:
            out.update(pre_l=self.pre_label, pre_n=str(self.pre_number or 0))
        return out

    @property
    def is_pre(self) -> bool:
        return self.pre_label is not None


@dataclass(frozen=True)
class LineChange:
    path: str       # relative to the repository root
    line: int       # 1-based, in the file before the change
    old: str
    new: str


@dataclass(frozen=True)
class Bump:
    """What bump-my-version will do: versions and each file's new bytes."""

    current: Version
    new: Version
    files: dict[str, bytes]          # path relative to root -> new content
    changes: tuple[LineChange, ...]
    # bump-my-version's (configuration, config file) the plan was made with: apply() reuses
    # it rather than reading the configuration (and asking git) a second time.
    bv: tuple[Any, Path] | None = field(default=None, compare=False, repr=False)


def _settings(root: Path) -> dict[str, Any]:
    from torchship.config import Pyproject

    data = dict(Pyproject.read(root).data)
    bv = data.get("tool", {}).get("bumpversion")
    if not isinstance(bv, dict) or "current_version" not in bv:
        raise VersionError("pyproject.toml has no [tool.bumpversion] current_version",
                           hint="add [tool.bumpversion] (see the template's pyproject.toml)")
    return data


def pre_labels(data: dict[str, Any]) -> tuple[list[str], str | None]:
    """The configured pre-release labels, and the label that means "final"."""
    part = data.get("tool", {}).get("bumpversion", {}).get("parts", {}).get("pre_l", {})
    values = [str(v) for v in part.get("values", [])]
    final = part.get("optional_value")
    return [v for v in values if v != final], final


_PEP440_PRE = {"a", "b", "rc", "alpha", "beta", "c", "pre", "preview"}
# When [tool.bumpversion] has no `parse`: X.Y.Z or X.Y.Z<label><n>.
DEFAULT_PARSE = r"^(?P<major>\d+)\.(?P<minor>\d+)\.(?P<patch>\d+)(?:(?P<pre_l>[a-z]+)(?P<pre_n>\d+))?$"


def parse(text: str, pattern: str | None = None, *, final: str | None = None) -> Version:
    """`text` split by bump-my-version's parse with `pattern` (the project's [tool.bumpversion]
    parse; DEFAULT_PARSE when it has none). A pre_l of `final` (its optional value) is none."""
    from bumpversion.exceptions import BumpVersionError
    from bumpversion.versioning.serialization import parse_version

    try:
        parts = parse_version(text, pattern or DEFAULT_PARSE)
    except BumpVersionError as exc:
        raise VersionError(f"[tool.bumpversion] parse: {exc}") from exc
    if not parts or any(not str(parts.get(p, "")).isdigit() for p in PARTS):
        raise VersionError(f"version {text!r} does not match [tool.bumpversion] parse"
                           if pattern else f"version {text!r} is not X.Y.Z or X.Y.Z<label><n>",
                           hint="fix [tool.bumpversion] current_version (parse must name "
                                "major, minor and patch)")
    label = parts.get("pre_l") or None
    if label is not None and label == final:
        label = None
    number = parts.get("pre_n")
    return Version(int(parts["major"]), int(parts["minor"]), int(parts["patch"]), label,
                   int(number) if label is not None and str(number or "").isdigit() else None,
                   text=text)


def next_version(current: Version, *, part: str | None, pre: str | None, final: bool,
                 labels: list[str]) -> Version:
    """The version a release makes from `current` (pure)."""
    if pre is not None and pre not in labels:
        raise VersionError(f"{pre!r} is not a pre-release label",
                           hint=f"use one of: {', '.join(labels) or '(none configured)'} "
                                "([tool.bumpversion.parts.pre_l].values)")
    if pre is not None and pre not in _PEP440_PRE:
        raise VersionError(f"{pre!r} is not a PEP 440 pre-release label",
                           hint="use a, b or rc, and fix [tool.bumpversion.parts.pre_l]")
    if final:
        if part or pre:
            raise VersionError("--final takes neither --part nor --pre",
                               hint="finalise with `invoke release --final` alone")
        if not current.is_pre:
            raise VersionError(f"{current} is not a pre-release; nothing to finalise",
                               hint="use --part major|minor|patch")
        return Version(current.major, current.minor, current.patch)
    if part is None:
        if pre is not None and current.is_pre:
            assert current.pre_label is not None
            assert current.pre_number is not None
            order = labels.index(current.pre_label) if current.pre_label in labels else -1
            if labels.index(pre) < order:
                raise VersionError(f"{pre} comes before {current.pre_label}; "
                                   f"{current} cannot go back to it",
                                   hint=f"use --pre {current.pre_label} or a later label")
            n = current.pre_number + 1 if pre == current.pre_label else 1
            return Version(current.major, current.minor, current.patch, pre, n)
        raise VersionError("--part is required",
                           hint="--part major|minor|patch (or --pre LABEL on a pre-release, "
                                "or --final)")
    if part not in PARTS:
        raise VersionError(f"--part {part!r} is not one of {', '.join(PARTS)}",
                           hint="e.g. `invoke release --part patch`")
    if part == "major":
        base = Version(current.major + 1, 0, 0)
    elif part == "minor":
        base = Version(current.major, current.minor + 1, 0)
    else:
        base = Version(current.major, current.minor, current.patch + 1)
    return Version(base.major, base.minor, base.patch, pre, 1) if pre else base


# bump-my-version's configuration of a project, by its file and [tool.bumpversion] table less
# current_version: a release reads it to plan, and again to verify what it wrote, where only
# current_version differs (reading it costs a TOML parse and a model of ~0.1 s each time).
_CONFIGS: dict[tuple[Path, str], Any] = {}


def _config(root: Path) -> tuple[Any, Path]:
    import json

    from torchship.config import parse_toml

    # The file bump-my-version's find_config_file would pick for it (which parses it with
    # tomlkit to ask the same question, twice as slowly).
    found = root / "pyproject.toml"
    data = parse_toml(found.read_text(encoding="utf-8"), where=str(found)) if found.is_file() else {}
    if "bumpversion" not in data.get("tool", {}):
        raise VersionError("pyproject.toml has no [tool.bumpversion] table")
    table = dict(data["tool"]["bumpversion"])
    current = table.pop("current_version", None)
    key = (Path(found).resolve(), json.dumps(table, sort_keys=True, default=str))
    known = _CONFIGS.get(key)
    if known is not None and current is not None:
        return known.model_copy(update={"current_version": str(current)}), found
    config = _configuration(found)
    _CONFIGS[key] = config
    return config, found


def _absolute(root: Path, pattern: str, *, escape: bool) -> str:
    negated = pattern.startswith("!")
    path = pattern[1:] if negated else pattern
    if not os.path.isabs(path):
        path = f"{glob.escape(str(root)) if escape else root}/{path}"
    return ("!" if negated else "") + path


def _configuration(config_file: Path) -> Any:
    """bump-my-version's configuration of `config_file`, built as its get_configuration does
    less its look at the repository: that runs git (and the index refresh it starts with) in
    the process's working directory. The release asks git itself, through its adapter, and
    commits and tags itself; so nothing here reads or changes the working directory or the
    environment, while the preflight's threads run beside it. File names are made absolute,
    against the configuration's folder (bump-my-version would resolve them against the
    working directory)."""
    from bumpversion.config import check_current_version, set_config_defaults
    from bumpversion.config.files import get_pep621_info, read_config_file
    from bumpversion.config.models import Config
    from bumpversion.config.utils import get_all_file_configs, get_all_part_configs
    from bumpversion.scm.models import SCMConfig, SCMInfo

    class Unasked(SCMInfo):  # type: ignore[misc]  # bump-my-version is untyped here
        def _set_from_scm_tool(self) -> None:
            """No git in the working directory: the tag facts stay unknown (None, 0)."""

    settings = set_config_defaults(read_config_file(config_file))
    for hooks in ("setup_hooks", "pre_commit_hooks", "post_commit_hooks"):
        if settings.get(hooks):
            raise VersionError(f"[tool.bumpversion] {hooks}: the release runs its own steps, "
                               "and bump-my-version's hooks would not run in the project",
                               hint=f"remove {hooks}, and run the command before `torchship release`")
    settings["parts"] = get_all_part_configs(settings)
    settings["files"] = get_all_file_configs(settings)
    root = Path(os.path.abspath(config_file)).parent
    for file in settings["files"]:
        if file.filename:
            file.filename = _absolute(root, file.filename, escape=False)
        if file.glob:
            file.glob = _absolute(root, file.glob, escape=True)
        if getattr(file, "glob_exclude", None):
            file.glob_exclude = tuple(_absolute(root, p, escape=True) for p in file.glob_exclude)
    Config.model_rebuild()
    config = Config(**settings)
    config.pep621_info = get_pep621_info(config_file)
    config.scm_info = Unasked(SCMConfig.from_config(config))
    config.current_version = check_current_version(config)
    return config


def plan(root: Path, *, part: str | None, pre: str | None, final: bool) -> Bump:
    """Compute the new version and every file's new content; write nothing.

    Also the consistency check: every configured file must hold the current version
    (bump-my-version's own search), and [project].version must agree with it.
    """
    from bumpversion.context import get_context
    from bumpversion.exceptions import BumpVersionError
    from bumpversion.files import resolve_file_config

    data = _settings(root)
    bv = data["tool"]["bumpversion"]
    current_text = str(bv["current_version"])
    labels, final_label = pre_labels(data)
    current = parse(current_text, bv.get("parse"), final=final_label)
    new = next_version(current, part=part, pre=pre, final=final, labels=labels)
    project_version = data.get("project", {}).get("version")
    if project_version is not None and project_version != current_text:
        raise VersionError(f"versions disagree: pyproject.toml [project] version is "
                           f"{project_version}, [tool.bumpversion] current_version is "
                           f"{current_text}", hint="make every file say the same version")
    try:
        config, config_file = _config(root)
        vc = config.version_config
        cur = vc.parse(current_text)
        nxt = vc.version_spec.create_version(new.values())
        written = vc.serialize(nxt, get_context(config))
        if parse(written, bv.get("parse"), final=final_label) != new:
            raise VersionError(f"[tool.bumpversion] cannot write {new}",
                               hint="check parse/serialize and the pre_l values")
        new = replace(new, text=written)
        ctx = get_context(config, cur, nxt)
        pending: dict[str, str] = {}
        for cf in resolve_file_config(config.files_to_modify, config.version_config):
            path = os.path.abspath(cf.file_change.filename)
            changed = cf.get_changed_contents(cur, nxt, ctx, pending.get(path))
            if changed is not None:
                pending[path] = changed
    except BumpVersionError as exc:
        raise VersionError(f"versions disagree: {exc} (current_version is {current_text})",
                           hint="make every configured file say the same version") from exc
    except FileNotFoundError as exc:
        raise VersionError(f"a file in [tool.bumpversion] is missing: {exc}",
                           hint="fix [[tool.bumpversion.files]]") from exc
    # bump-my-version also rewrites current_version (and [project].version) in its config.
    cfg_path = os.path.abspath(config_file)
    cfg_text = pending.get(cfg_path) or Path(cfg_path).read_text(encoding="utf-8")
    pending[cfg_path] = _set_current_version(cfg_text, current_text, str(new))
    files: dict[str, bytes] = {}
    changes: list[LineChange] = []
    for abspath, text in sorted(pending.items()):
        rel = os.path.relpath(abspath, root)
        before = (root / rel).read_text(encoding="utf-8").splitlines()
        after = text.splitlines()
        files[rel] = text.encode("utf-8")
        for n, (a, b) in enumerate(zip(before, after, strict=False), start=1):
            if a != b:
                changes.append(LineChange(rel, n, a, b))
    return Bump(current, new, files, tuple(changes), bv=(config, config_file))


def _set_current_version(text: str, old: str, new: str) -> str:
    section = re.search(r"^\[tool\.bumpversion\]\s*$", text, re.MULTILINE)
    if not section:
        return text
    pat = re.compile(rf'^(current_version\s*=\s*["\']){re.escape(old)}(["\'])', re.MULTILINE)
    head, tail = text[:section.end()], text[section.end():]
    return head + pat.sub(rf"\g<1>{new}\g<2>", tail, count=1)


def apply(root: Path, bump: Bump) -> None:
    """Let bump-my-version write the new version, then check it wrote what was planned."""
    from bumpversion.bump import do_bump

    config, config_file = bump.bv or _config(root)
    do_bump(None, str(bump.new), config, config_file, dry_run=False)
    for rel, content in bump.files.items():
        if (root / rel).read_bytes() != content:
            raise VersionError(f"bump-my-version wrote {rel} differently from the plan",
                               hint="check [tool.bumpversion] search/replace patterns")


def at_rev(data: dict[str, Any]) -> str:
    """current_version from a parsed pyproject (e.g. as it is at a tag)."""
    return str(data.get("tool", {}).get("bumpversion", {}).get("current_version", ""))


def not_holding(root: Path, version: str) -> list[str]:
    """The files [tool.bumpversion] configures in the project at `root` (e.g. a checkout of
    a tag) that do not hold `version`, relative to `root`: bump-my-version resolves them
    (globs included) and searches them with its own patterns."""
    from bumpversion.context import get_context
    from bumpversion.exceptions import BumpVersionError
    from bumpversion.files import resolve_file_config

    missing: list[str] = []
    config, _ = _config(root)
    vc = config.version_config
    cur = vc.parse(version)
    if cur is None:
        raise VersionError(f"version {version!r} does not match [tool.bumpversion] parse")
    try:
        files = resolve_file_config(config.files_to_modify, vc)
    except FileNotFoundError as exc:  # a glob that matches nothing
        return [str(exc)]
    for cf in files:
        try:
            cf.get_changed_contents(cur, cur, get_context(config, cur, cur))
        except (BumpVersionError, FileNotFoundError):
            missing.append(os.path.relpath(os.path.abspath(cf.file_change.filename), root))
    return missing
