"""`torchship ci generate [--check]`: the CI files from [tool.torchship]; `torchship ci
build --env ENV`: what their build job runs. `invoke ci.*` calls the same functions."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from torchship.cli import Parser
from torchship.commands import dispatch


def generate(*, check: bool = False) -> int:
    """Write .github/workflows/{ci,release}.yml and .gitlab-ci.yml from [tool.torchship]."""
    from torchship import project
    from torchship.workflow import cigen

    # pyproject only: a machine's torchship.local.toml must not change the committed CI files.
    result = cigen.generate(project.load(Path.cwd(), use_local=False).config, check=check)
    for rel in result.written:
        print(f"wrote {rel}")
    for rel in result.unchanged:
        print(f"up to date: {rel}")
    return 0


def build(*, env: str, commit: str | None = None, image: str | None = None,
          output: str | None = None) -> int:
    """Build ENV's devel and runtime images of this commit once (registry cache), push them
    under <image>:sha-<commit>-<env>-<variant>, print (and --output) their digests."""
    from torchship import project
    from torchship.images.commit import build_commit, github_output

    images = build_commit(project.load(Path.cwd()).config, env=env, commit=commit, image=image)
    text = github_output(images)
    print(text, end="", flush=True)
    if output:
        # $GITHUB_OUTPUT: other steps may have written to it already.
        with Path(output).open("a") as out:
            out.write(text)
    return 0


def main(argv: Sequence[str], *, group: str = "ci") -> int:
    p = Parser(prog="torchship ci", description="The CI files, generated from [tool.torchship].")
    sub = p.add_subparsers(metavar="COMMAND", required=True)
    c = sub.add_parser("generate", help=generate.__doc__, description=generate.__doc__)
    c.add_argument("--check", action="store_true",
                   help="write nothing; fail when a file differs from what the configuration "
                        "gives")
    c.set_defaults(func=generate)
    c = sub.add_parser("build", help="build, push and print ENV's images of this commit (CI's "
                       "build job)", description=build.__doc__)
    c.add_argument("--env", required=True, help="the pinned environment")
    c.add_argument("--commit", help="the commit being built; must be HEAD (CI: $GITHUB_SHA)")
    c.add_argument("--image", help="the image name to push to (default: [tool.torchship] image)")
    c.add_argument("--output", metavar="FILE",
                   help="also append `devel=REF@DIGEST` and `runtime=...` to FILE "
                        "(CI: $GITHUB_OUTPUT)")
    c.set_defaults(func=build)
    return dispatch(p, argv)
