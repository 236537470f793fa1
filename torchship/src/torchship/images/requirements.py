"""What the Dockerfile's dependency steps install, and how pip reaches the index there.

The lines come from pyproject.toml (dependencies, plus the devel extras), torch left to the
base; docker/locks/ pins them when a lock exists (torchship.images.locks). pip reaches a
private index or a proxy through BuildKit secrets: a CA bundle and a pip.conf, never an ARG
or a COPY, so they are in no layer and no history.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torchship.errors import ConfigError
from torchship.images.spec import ImageError

if TYPE_CHECKING:
    from packaging.requirements import Requirement

TORCH_NAMES = frozenset({"torch"})  # comes from the base image, never reinstalled
# Where a CA bundle named by the user's environment is taken from, in this order.
CA_VARS = ("PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")
PIP_CONF_VAR = "TORCHSHIP_PIP_CONF"

_COMMENT = re.compile(r"(^|\s)#.*$")  # pip's rule: a `#` at the start or after a space


def normalize(name: str) -> str:
    """A distribution name as PEP 503 compares them (packaging's canonicalize_name): the one
    package-name normaliser of the tool."""
    from packaging.utils import canonicalize_name

    return str(canonicalize_name(name))


def requirement(line: str) -> Requirement | None:
    """A requirement line (pyproject's or a lock's) parsed by packaging; None for a blank
    line, a comment, a pip option (`-e`, `--hash`) or what is not a requirement."""
    from packaging.requirements import InvalidRequirement, Requirement

    text = _COMMENT.sub("", line).strip()
    if not text or text.startswith("-"):
        return None
    try:
        return Requirement(text)
    except InvalidRequirement:
        return None


def requirement_name(line: str) -> str | None:
    """The normalized distribution name a requirement line names (None: see requirement)."""
    req = requirement(line)
    return normalize(req.name) if req else None


def requirements(pyproject: Mapping[str, Any], *, extras: Iterable[str] = ()) -> list[str]:
    """The project's dependency lines with `extras` expanded, torch left out (the base
    brings it), self-references (`pkg[a,b]`) followed."""
    project = pyproject.get("project", {})
    me = normalize(project.get("name", ""))
    optional: Mapping[str, list[str]] = project.get("optional-dependencies", {})
    out: list[str] = []
    seen: set[str] = set()

    def add(lines: Iterable[str]) -> None:
        for line in lines:
            req = requirement(line)
            name = normalize(req.name) if req else ""
            if name == me and req:
                expand(sorted(req.extras))
            elif name not in TORCH_NAMES and line not in out:
                out.append(line)

    def expand(names: Iterable[str]) -> None:
        for extra in names:
            if extra in seen:
                continue
            seen.add(extra)
            if extra not in optional:
                raise ConfigError(f"project.optional-dependencies.{extra}", "no such extra")
            add(optional[extra])

    add(project.get("dependencies", []))
    expand(extras)
    return out


def ca_bundle(environ: Mapping[str, str] | None = None) -> Path | None:
    """The CA bundle the environment names (a corporate proxy's, or the machine's)."""
    environ = os.environ if environ is None else environ
    for var in CA_VARS:
        path = environ.get(var)
        if path and Path(path).is_file():
            return Path(path)
    return None


def secret_args(environ: Mapping[str, str] | None = None) -> list[str]:
    """`--secret` flags: the CA bundle (`ca_bundle`), and a pip.conf given by
    $TORCHSHIP_PIP_CONF (an index with a token)."""
    environ = os.environ if environ is None else environ
    args: list[str] = []
    ca = ca_bundle(environ)
    if ca is not None:
        args += ["--secret", f"id=ca,src={ca}"]
    pipconf = environ.get(PIP_CONF_VAR)
    if pipconf:
        if not Path(pipconf).is_file():
            raise ImageError(f"{PIP_CONF_VAR} names {pipconf}, which does not exist",
                             hint=f"point {PIP_CONF_VAR} at a pip.conf, or unset it")
        args += ["--secret", f"id=pipconf,src={pipconf}"]
    return args
