"""invoke template.*: new projects from the template and their updates (the same as
`torchship new` and `torchship update`)."""

from __future__ import annotations

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from torchship.cli import edge


@task(help={"dest": "a new or empty directory", "name": "the package name (e.g. my_model)",
            "template": "the template: a folder or a git URL (default: this checkout)",
            "version": "the template's release to start from (its tag vVERSION; default: the "
                       "template as it is)",
            "hooks": "install the git hooks and run them on the first commit (default on)",
            "tool_source": "where the project installs torchship from: index, a git URL at "
                           "the tool's tag (the default), or the team's index URL"})
@edge
def new(c: Context, dest: str, name: str, template: str = ".", version: str | None = None,
        hooks: bool = True, tool_source: str | None = None) -> None:
    """Create a project at DEST from the template: package NAME, the tool pinned, first commit."""
    from torchship.commands import template as command

    args = [dest, "--name", name, "--template", template,
            *(["--version", version] if version is not None else []),
            *([] if hooks else ["--no-hooks"]),
            *(["--tool-source", tool_source] if tool_source is not None else [])]
    code = command.new(args)
    if code:
        raise SystemExit(code)


@task(help={"to": "the template version (its tag) or any ref (default: its newest release)",
            "dry_run": "print what would change and conflict; change nothing",
            "template": "where the template is now (default: the recorded source)",
            "allow_downgrade": "allow --to an older template version"})
@edge
def update(c: Context, to: str | None = None, dry_run: bool = False,
           template: str | None = None, allow_downgrade: bool = False) -> None:
    """Merge the template's changes since the recorded version into this project."""
    from torchship.commands import template as command

    args = [*(["--to", to] if to else []), *(["--dry-run"] if dry_run else []),
            *(["--template", template] if template else []),
            *(["--allow-downgrade"] if allow_downgrade else [])]
    code = command.update(args)
    if code:
        raise SystemExit(code)


ns = Collection("template", new, update)
