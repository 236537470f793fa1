"""Commits that name their environment: the `Env:` trailer, how it is chosen and checked.

A commit says which pinned environment it was made and tested in with a git trailer,
`Env: cu121`, beside `Signed-off-by:` and `Co-authored-by:`. git itself parses, adds and
queries trailers (`git interpret-trailers`, `git log --format=%(trailers:key=Env)`), so
nothing here parses commit messages by hand, and the subject line stays free for words.

The environment is, in order: the one an image says it is (TORCHSHIP_ENV, set by the
Dockerfile), then the pinned environment whose declared `torch`/`cuda` match the developer's
local torch. A commit never claims an environment it was not made in: when the local torch
matches none, the trailer says so and what the local stack is,

    Env: none (local torch 2.13.0+cpu, CUDA none; matches no pinned environment)

(`none`, then the stack in parentheses: `[tool.torchship.hooks] env_check = "refuse"` refuses
such a commit instead). The local torch is probed in the project's interpreter (the active
virtualenv, else ./.venv, else this Python) by reading torch/version.py, never by importing
torch: a hook must take milliseconds, not seconds.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from torchship import config as configmod
from torchship import envmatch
from torchship import project as projectmod
from torchship.adapters.git import Git, GitError
from torchship.adapters.proc import run
from torchship.errors import ConfigError, TorchshipError
from torchship.project import Project

TRAILER = "Env"
ENV_VAR = "TORCHSHIP_ENV"
# The trailer's value for a commit made in no pinned environment (config refuses it as a name).
NONE = "none"

# Runs in the project's interpreter: finds torch without importing it (importing takes seconds).
_PROBE = r"""
import importlib.util, json, pathlib, re
out = {"torch": None, "cuda": None}
spec = importlib.util.find_spec("torch")
if spec is not None and spec.origin:
    path = pathlib.Path(spec.origin).parent / "version.py"
    text = path.read_text() if path.is_file() else ""
    for key, name in (("torch", "__version__"), ("cuda", "cuda")):
        m = re.search(r"^" + name + r"\s*(?::[^=]*)?=\s*['\"]([^'\"]*)['\"]", text, re.M)
        out[key] = m.group(1) if m else None
print(json.dumps(out))
"""


class EnvTrailerError(TorchshipError):
    """A commit message names an environment that is not pinned (or names several)."""


@dataclass(frozen=True)
class LocalTorch:
    """The torch the developer works with, as its version files say."""

    torch: str | None
    cuda: str | None
    python: str

    def describe(self) -> str:
        if self.torch is None:
            return f"no torch in {self.python}"
        return f"torch {self.torch}, CUDA {self.cuda or 'none'}"

    def stack(self) -> str:
        """The local stack in a trailer: no interpreter path (it is one machine's)."""
        return f"local {self.describe()}" if self.torch is not None else "no local torch"


def unmatched_trailer(local: LocalTorch) -> str:
    """The Env value of a commit whose local stack matches no pinned environment."""
    return f"{NONE} ({local.stack()}; matches no pinned environment)"


def is_unmatched(value: str) -> bool:
    """Does an Env value say "no pinned environment" (`none`, or `none (...)`)?"""
    head = value.strip()
    return head == NONE or head.startswith((f"{NONE} ", f"{NONE}("))


@dataclass(frozen=True)
class Choice:
    """The environment a commit gets, and why (shown to the developer).

    `env` is a pinned environment the commit was made in, or None; `trailer` is the Env value
    to write: the env, `none (...)` when the local stack matches no pinned environment, or
    None when no environments are configured (nothing to name).
    """

    env: str | None
    reason: str
    trailer: str | None = None


def project_python(root: Path, environ: Mapping[str, str] | None = None) -> str:
    """The interpreter the developer works in: active venv, else ./.venv, else this one."""
    environ = os.environ if environ is None else environ
    candidates = []
    if environ.get("VIRTUAL_ENV"):
        candidates.append(Path(environ["VIRTUAL_ENV"]) / "bin" / "python")
    candidates.append(root / ".venv" / "bin" / "python")
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return sys.executable


def probe_local(root: Path, *, python: str | None = None) -> LocalTorch:
    """Read the torch and CUDA versions of the project's interpreter (without importing torch)."""
    python = python or project_python(root)
    proc = run([python, "-c", _PROBE], cwd=root, check=False, timeout=60)
    try:
        data = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return LocalTorch(None, None, python)
    return LocalTorch(data.get("torch"), data.get("cuda"), python)


def matches(base: configmod.Base, local: LocalTorch) -> bool:
    """Does the local torch/CUDA match what `base` declares? (torchship.envmatch's rule; a
    base declaring no torch cannot.)"""
    return envmatch.matches(base, {"torch": local.torch, "cuda": local.cuda})


def matching_envs(cfg: configmod.Config, local: LocalTorch) -> list[str]:
    return [env for env, base in cfg.bases.items() if matches(base, local)]


def no_envs_hint(cfg: configmod.Config) -> str:
    return (f"no environments are configured in {cfg.root.name}/pyproject.toml "
            "[tool.torchship.bases] (nor in torchship.local.toml)")


def choose(cfg: configmod.Config, *, environ: Mapping[str, str] | None = None,
           local: LocalTorch | None = None) -> Choice:
    """The environment a commit made here and now names."""
    environ = os.environ if environ is None else environ
    if not cfg.bases:
        return Choice(None, no_envs_hint(cfg))
    inside = environ.get(ENV_VAR)
    if inside:
        if inside not in cfg.bases:
            raise EnvTrailerError(f"{ENV_VAR}={inside} is not a pinned environment",
                                  hint=f"one of: {', '.join(cfg.bases)}")
        return Choice(inside, f"{ENV_VAR} says so (inside its image)", inside)
    local = local or probe_local(cfg.root)
    found = matching_envs(cfg, local)
    if found:
        env = cfg.default_env if cfg.default_env in found else found[0]
        return Choice(env, f"matches the local {local.describe()}", env)
    return Choice(None, f"local {local.describe()} matches no pinned environment "
                        f"({', '.join(cfg.bases)})", unmatched_trailer(local))


# --- commit messages -------------------------------------------------------------------

def _comment_char(git: Git) -> str:
    char = (git.config("core.commentChar") or "").strip()
    return char if len(char) == 1 else "#"


def has_content(message: str, *, comment: str = "#") -> bool:
    """False when git would abort the commit for an empty message (so add no trailer)."""
    for line in message.splitlines():
        if line.startswith(f"{comment} ------------------------ >8"):
            break
        if line.strip() and not line.startswith(comment):
            return True
    return False


def trailers(message_file: Path, *, git: Git) -> list[str]:
    """The values of every Env trailer in the message, as git parses them."""
    values = []
    for line in git.interpret_trailers("--parse", str(message_file.resolve())).splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() == TRAILER.lower():
            values.append(value.strip())
    return values


def check_named(cfg: configmod.Config, names: list[str]) -> None:
    """Refuse several Env trailers, or one naming an environment that is not pinned (`none
    (...)`, a commit made in no pinned environment, is refused only by env_check = refuse)."""
    if len(names) > 1:
        raise EnvTrailerError(f"the message has {len(names)} {TRAILER} trailers "
                              f"({', '.join(names)})", hint="keep exactly one")
    if not names:
        return
    if is_unmatched(names[0]):
        if cfg.bases and cfg.hooks.env_check == "refuse":
            raise EnvTrailerError(f"`{TRAILER}: {names[0]}` says the commit matches no pinned "
                                  "environment, and [tool.torchship.hooks] env_check = "
                                  "\"refuse\"", hint="commit from a pinned environment")
        return
    if not cfg.bases:
        raise EnvTrailerError(f"`{TRAILER}: {names[0]}` names an environment, but "
                              f"{no_envs_hint(cfg)}", hint="remove the trailer or pin a base")
    if names[0] not in cfg.bases:
        raise EnvTrailerError(f"`{TRAILER}: {names[0]}` is not a pinned environment",
                              hint=f"one of: {', '.join(cfg.bases)}")


def commit_msg(message_file: Path, *, project: Project, environ: Mapping[str, str] | None = None) -> str:
    """The commit-msg hook: check an Env trailer, or add one. Returns what it did, in words."""
    cfg, git = project.config, project.git
    if not has_content(message_file.read_text(errors="replace"), comment=_comment_char(git)):
        return "empty message: left for git to refuse"
    named = trailers(message_file, git=git)
    check_named(cfg, named)
    if named:
        if is_unmatched(named[0]):
            return f"{TRAILER}: {named[0]} kept as written"
        return f"{TRAILER}: {named[0]} is pinned"
    choice = choose(cfg, environ=environ)
    if choice.trailer is None:
        return f"no {TRAILER} trailer added: {choice.reason}"
    if choice.env is None and cfg.hooks.env_check == "refuse":
        raise EnvTrailerError(f"{choice.reason}; [tool.torchship.hooks] env_check = \"refuse\"",
                              hint="work in a devel image or install a pinned torch")
    git.interpret_trailers("--in-place", "--trailer", f"{TRAILER}: {choice.trailer}",
                           str(message_file.resolve()))
    return f"added `{TRAILER}: {choice.trailer}` ({choice.reason})"


@dataclass(frozen=True)
class EnvCheck:
    ok: bool
    message: str


def check_local(cfg: configmod.Config, *, environ: Mapping[str, str] | None = None,
                local: LocalTorch | None = None) -> EnvCheck:
    """The pre-commit check: does the torch/CUDA we work with match a pinned environment?"""
    environ = os.environ if environ is None else environ
    if not cfg.bases:
        return EnvCheck(True, f"nothing to check: {no_envs_hint(cfg)}")
    inside = environ.get(ENV_VAR)
    if inside in cfg.bases:
        return EnvCheck(True, f"inside the {inside} image ({ENV_VAR})")
    local = local or probe_local(cfg.root)
    found = matching_envs(cfg, local)
    if found:
        return EnvCheck(True, f"local {local.describe()} matches {', '.join(found)}")
    pinned = "; ".join(f"{env}: torch {b.torch or '?'}, CUDA {b.cuda or 'none'}"
                       for env, b in cfg.bases.items())
    return EnvCheck(False, f"local {local.describe()} matches no pinned environment ({pinned}); "
                           "work in a devel image or install a pinned torch")


# --- env.which ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Named:
    """What `invoke env.which COMMIT` reports."""

    commit: str
    subject: str
    env: str | None
    base: configmod.Base | None
    source: str  # where the base's pins were read from

    def render(self) -> str:
        lines = [f"commit  {self.commit[:12]}  {self.subject}"]
        if self.env is None:
            lines.append(f"env     (none: the commit has no {TRAILER} trailer)")
            return "\n".join(lines)
        lines.append(f"env     {self.env}")
        if is_unmatched(self.env):
            lines.append("images  (none: the commit was made in no pinned environment)")
            return "\n".join(lines)
        if self.base is None:
            lines.append(f"images  (unknown: {self.source})")
            return "\n".join(lines)
        for variant in configmod.VARIANTS:
            ref = self.base.ref(variant)
            name = ref.name + (f":{ref.tag}" if ref.tag else "")
            lines.append(f"{variant:<8}{ref.digest or '(not pinned by digest)'}  {name}")
        lines.append(f"torch   {self.base.torch or '?'}  CUDA {self.base.cuda or 'none'}")
        lines.append(f"pins    from {self.source}")
        return "\n".join(lines)


def _config_at(git: Git, root: Path, commit: str) -> configmod.Config | None:
    """[tool.torchship] as committed in `commit` (no local override), or None."""
    rel = (root.resolve() / "pyproject.toml").relative_to(git.top).as_posix()
    try:
        text = git.show(commit, rel)
    except GitError:
        return None
    with tempfile.TemporaryDirectory(prefix="torchship-which-") as tmp:
        (Path(tmp) / "pyproject.toml").write_bytes(text)
        try:
            return projectmod.load(tmp, use_local=False).config
        except ConfigError:
            return None


def which(project: Project, commit: str) -> Named:
    """The environment `commit` names, and the base images pinned for it at that commit."""
    root, git = project.root, project.git
    sha = git.commit_of(commit)
    if sha is None:
        raise TorchshipError(f"{commit!r} is not a commit in {root}",
                             hint="give a sha, branch or tag (git log --oneline)")
    log = git.log1(sha, f"%s%x00%(trailers:key={TRAILER},valueonly,separator=%x01)")
    subject, _, values = log.partition("\x00")
    names = [v.strip() for v in values.split("\x01") if v.strip()]
    if not names:
        return Named(sha, subject, None, None, "")
    env = names[-1]
    if is_unmatched(env):
        return Named(sha, subject, env, None, "")
    at_commit = _config_at(git, root, sha)
    if at_commit is not None and env in at_commit.bases:
        return Named(sha, subject, env, at_commit.bases[env], f"pyproject.toml at {sha[:12]}")
    current = project.config
    if env in current.bases:
        return Named(sha, subject, env, current.bases[env],
                     f"{current.source.name} as it is now: the commit's pyproject.toml "
                     "does not pin it")
    return Named(sha, subject, env, None, f"{env} is pinned neither at the commit nor now")
