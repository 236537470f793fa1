"""The git hooks, run by the pre-commit framework, and `invoke hooks.install`.

The hooks run the project's tool (`torchship hook commit-msg FILE | check-env`, see the
project's .pre-commit-config.yaml) through scripts/torchship_hook.sh: the active
virtualenv's torchship, else ./.venv's, else the one on PATH; so a commit works from a shell
with no virtualenv active.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path

from torchship import project as projectmod
from torchship.adapters.git import Git, GitError
from torchship.adapters.proc import run
from torchship.errors import TorchshipError
from torchship.workflow import commitenv

TEMPLATE = ".gitmessage"
PRE_COMMIT_CONFIG = ".pre-commit-config.yaml"


def install(root: Path) -> list[str]:
    """Set commit.template and install the hooks (pre-commit and commit-msg); say what was done."""
    for name in (TEMPLATE, PRE_COMMIT_CONFIG):
        if not (root / name).is_file():
            raise TorchshipError(f"{name} is missing in {root}",
                                 hint="restore it from the template (git checkout -- " + name + ")")
    try:
        git = Git.discover(root)
    except GitError as exc:
        raise TorchshipError(f"{root} is not a git repository", hint="run `git init` first") from exc
    if importlib.util.find_spec("pre_commit") is None:
        raise TorchshipError("pre-commit is not installed in this Python",
                             hint="pip install -e '.[dev]'")
    # Relative: git resolves it from the top of the work tree, so a moved clone keeps working.
    git.set_config("commit.template", TEMPLATE)
    # Through this interpreter, so the hook scripts call back into the same environment.
    run([sys.executable, "-m", "pre_commit", "install", "--install-hooks"], cwd=root)
    return [f"git config commit.template {TEMPLATE}",
            "pre-commit hooks installed: pre-commit (ruff, torch/CUDA check), "
            "commit-msg (Env trailer)"]


def main(argv: Sequence[str] | None = None) -> int:
    """`torchship hook commit-msg FILE` or `torchship hook check-env`."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args in (["-h"], ["--help"]):
        print("usage: torchship hook commit-msg FILE | check-env")
        return 0
    root = Path.cwd()  # pre-commit runs hooks from the top of the work tree
    try:
        if args[:1] == ["commit-msg"] and len(args) == 2:
            with projectmod.find(root) as project:
                print(f"torchship: {commitenv.commit_msg(Path(args[1]), project=project)}")
            return 0
        if args == ["check-env"]:
            cfg = projectmod.load(root).config
            if cfg.hooks.env_check == "off":
                return 0
            result = commitenv.check_local(cfg)
            if result.ok:
                print(f"torchship: {result.message}")
                return 0
            refuse = cfg.hooks.env_check == "refuse"
            print(f"torchship: {'error' if refuse else 'warning'}: {result.message}"
                  + (" (set [tool.torchship.hooks] env_check = \"warn\" to allow)" if refuse else ""))
            return 1 if refuse else 0
    except TorchshipError as exc:
        print(f"torchship: error: {exc.render()}", file=sys.stderr)
        return 1
    print("usage: torchship hook commit-msg FILE | check-env", file=sys.stderr)
    return 2
