"""The entry points: `invoke release` (plan, then print it or run its steps, or resume) and
`invoke release.verify TAG`, for the project whose folder they are run in."""

from __future__ import annotations

from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from torchship import project as projectmod
from torchship.adapters.git import Git
from torchship.release.plan import Options, Plan, ReleaseError, make_plan

if TYPE_CHECKING:
    from collections.abc import Iterator

    from torchship.release.steps import Out

def _print(line: str) -> None:
    print(line, flush=True)


@contextmanager
def _locked(git: Git) -> Iterator[None]:
    """One release at a time per repository (its projects share a branch and a journal).

    flock(2) on the git directory itself, so that taking the lock writes nothing (a dry run
    changes no byte of the repository); the kernel drops it when the process dies. Not the
    filelock package: its import (asyncio) costs a fifth of a release's budget over
    bump-my-version.
    """
    import fcntl
    import os

    try:
        fd = os.open(git.git_dir, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise ReleaseError(f"{git.git_dir} cannot be opened: {exc.strerror}",
                           hint="check its permissions") from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise ReleaseError("another release is running in this repository",
                               hint=f"wait for it to finish (it holds a lock on {git.git_dir})"
                               ) from exc
        if not os.access(git.git_dir, os.W_OK):
            raise ReleaseError(f"{git.git_dir} is not writable: a release writes its journal "
                               "and commit there", hint="check its permissions and owner")
        yield
    finally:
        os.close(fd)  # closing drops the lock


def _opened(start: projectmod.Project | Path | str, stack: ExitStack) -> projectmod.Project:
    """The Project the command built, or one found from `start` (closed with `stack`)."""
    if isinstance(start, projectmod.Project):
        return start
    return stack.enter_context(projectmod.find(start))


def run(start: projectmod.Project | Path | str, opts: Options, *, out: Out | None = None,
        ) -> Plan | None:
    """`torchship release`: preflight, plan, then (unless --dry-run) its steps, verify
    included. `start`: the command's Project (or a folder inside one)."""
    from torchship.release import resume, steps

    write = out or _print
    with ExitStack() as stack:
        proj = _opened(start, stack)
        git, project = proj.git, proj.root
        with _locked(git):
            if opts.resume:
                resume.resume(git, write)
                return None
            journal = steps.Journal.load(git)
            if journal is not None:
                if journal.publishing:
                    raise ReleaseError("a release is half-published in this repository",
                                       hint="finish it with `invoke release --resume`")
                raise ReleaseError(f"the release of {journal.data.tag} stopped before it "
                                   f"finished ({journal.path} is left)",
                                   hint="`invoke release --resume` rolls it back")
            cfg = proj.config
            # [tool.torchship.release] sets the team's policy; flags narrow it for one run.
            opts = replace(opts, sign=opts.sign and cfg.release.sign,
                           sign_commit=opts.sign_commit or cfg.release.sign_commit)
            if opts.matrix:
                if not (opts.evidence and cfg.release.evidence):
                    raise ReleaseError("--matrix makes a release's evidence, and this release "
                                       "takes none (--no-evidence, or [tool.torchship.release] "
                                       "evidence = false)", hint="drop one of the two")
                from torchship.release import evidence

                # Every other refusal first (the tag, the changelog, the remote, the keys):
                # none should wait for a matrix run that can take an hour.
                first = make_plan(git, cfg, replace(opts, evidence=False))
                if first.images:
                    # Images ship: the matrix runs in them, as a step of the release (tested
                    # images: built once from the release tree, tested, pushed as they are).
                    plan = make_plan(git, cfg, opts)
                    if opts.dry_run:
                        write(steps.render(plan) + "dry run: nothing was changed, nothing "
                              "was built or run")
                        return plan
                    write(f"release {plan.bump.current} -> {plan.new}")
                    steps.apply(git, cfg, plan, write)
                    write(f"released {plan.new}: tag {plan.tag}" + _push_hint(plan))
                    return plan
                if opts.dry_run:  # the matrix is the long part: a dry run says it, runs nothing
                    note = ("Evidence: the matrix record --matrix would make (model card, "
                            "baseline): not run in a dry run\n")
                    write("--matrix: would run the matrix on this commit (nox -s gpu_tests) "
                          "first; a dry run does not run it")
                    write(steps.render(replace(first, evidence_note=note))
                          + "dry run: nothing was changed, nothing was run")
                    return first
                write("--matrix: running the matrix on this commit (nox -s gpu_tests)")
                evidence.run_matrix(project, cfg=cfg)
            plan = make_plan(git, cfg, opts)
            if opts.dry_run:
                write(steps.render(plan) + "dry run: nothing was changed")
                return plan
            write(f"release {plan.bump.current} -> {plan.new}")
            steps.apply(git, cfg, plan, write)
            write(f"released {plan.new}: tag {plan.tag}" + _push_hint(plan))
            return plan


def _push_hint(plan: Plan) -> str:
    return "" if plan.push else (f" (push with: git push --atomic {plan.remote or 'origin'} "
                                 f"{plan.branch} {plan.tag})")


def verify_cli(start: projectmod.Project | Path | str, tag: str, *, out: Out | None = None,
               ) -> None:
    """`torchship release verify TAG`."""
    from torchship.release.verify import verify

    write = out or _print
    with ExitStack() as stack:
        proj = _opened(start, stack)
        for line in verify(proj.git, proj.config, tag):
            write(f"✓ {line}")
    write(f"{tag} verifies")
