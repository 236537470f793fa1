"""The evidence a release stands on: the passing matrix record of the commit it tags.

Found among the runs `nox -s gpu_tests` saved in results/matrix/ (or made by the release
itself with `--matrix`): the newest record whose host fingerprint names exactly this commit
decides, judged as `nox -s compare` judges it. None, another commit's, one made from a dirty
tree (then it is not a record of the commit, even when an older clean one exists: the
newest run is what was last tested) or failing is one refusal naming the command that
makes it, before anything is written. From it come the headline metrics of the tag message and the model
card; it is copied as the release's baseline (results/releases/<tag>/).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from torchship import config as tsconfig
from torchship.errors import TorchshipError
from torchship.matrix.records import Run
from torchship.release.plan import ReleaseError

if TYPE_CHECKING:
    from torchship.adapters.git import Git
    from torchship.matrix.run import Builder

MAKE = "run `nox -s gpu_tests` on this commit, or release with --matrix"


@dataclass(frozen=True)
class Headline:
    """One headline metric: its value in each environment that wrote it."""

    metric: str
    values: tuple[tuple[str, float], ...]    # (env, value), the reference environment first


@dataclass(frozen=True)
class Evidence:
    """A passing matrix record of the commit released."""

    folder: Path                 # results/matrix/<run id>
    run_id: str
    commit: str
    mode: str                    # containers | local
    reference: str | None
    envs: tuple[str, ...]
    headline: tuple[Headline, ...]
    # The record as read and judged: the model card is written from it (not read twice).
    run: Run | None = field(default=None, compare=False, repr=False)

    def rel(self, root: Path) -> str:
        try:
            return self.folder.relative_to(root).as_posix()
        except ValueError:
            return str(self.folder)

    def lines(self, root: Path) -> list[str]:
        """What the tag message says of it."""
        where = "images" if self.mode == "containers" else "host (no image)"
        out = [f"Evidence: matrix run {self.run_id} of {self.commit[:12]}, passed in "
               f"{', '.join(self.envs)} ({where}; {self.rel(root)})"]
        if not self.headline:
            out.append("Metrics: none recorded")
            return out
        out.append(f"Metrics (final; reference {self.reference}):")
        for h in self.headline:
            shown = ", ".join(f"{v:.4g} ({env})" for env, v in h.values)
            out.append(f"- {h.metric}: {shown}")
        return out


def find(cfg: tsconfig.Config, head: str, *, repo: Git | None = None) -> Evidence:
    """The evidence for `head`, or a ReleaseError saying why there is none (`repo`: the
    release's repository handle, asked for the last release's tag)."""
    from torchship.matrix import records
    from torchship.matrix.run import saved_runs

    root = cfg.root
    runs = saved_runs(root)
    if not runs:
        raise ReleaseError(f"no matrix record of {head[:12]} (nothing in results/matrix/): a "
                           "release needs the passing record of the commit it tags", hint=MAKE)
    newest_other: tuple[str, str] | None = None
    for folder in runs:
        try:
            run = records.load(folder)
        except records.RecordError:
            continue  # unreadable (another torchship's schema): not evidence of anything
        git: Mapping[str, object] = run.host.get("git") or {}
        if git.get("commit") != head:
            if newest_other is None:
                newest_other = (folder.name, str(git.get("commit") or "no commit")[:12])
            continue
        rel = folder.relative_to(root).as_posix()
        if git.get("dirty") is not False:
            state = "a dirty tree" if git.get("dirty") else "a tree of unknown state"
            raise ReleaseError(f"the newest matrix record of {head[:12]} ({rel}) was made from "
                               f"{state}: it is not evidence of the commit", hint=MAKE)
        if run.mode != "containers" and cfg.bases:
            # (i23r) A host run tested no image: a project that pins bases ships and
            # releases what runs in them.
            raise ReleaseError(f"the newest matrix record of {head[:12]} ({rel}) ran on the "
                               "host (no image), and this project pins bases: its evidence "
                               "is a run in its images",
                               hint="run `nox -s gpu_tests` without --local, release with "
                                    "--matrix, or with --no-evidence (the tag says so)")
        return judged(cfg, folder, run, head, repo=repo)
    what = (f"the newest, {newest_other[0]}, tested {newest_other[1]}" if newest_other
            else "none of results/matrix/ can be read")
    raise ReleaseError(f"no matrix record of {head[:12]}: {what}", hint=MAKE)


def judged(cfg: tsconfig.Config, folder: Path, run: Run, head: str, *,
           repo: Git | None = None) -> Evidence:
    """The record `run` (saved in `folder`) of `head` as evidence, judged as `nox -s
    compare` judges it; a ReleaseError naming the first problem when it fails."""
    from torchship.matrix import records
    from torchship.matrix.compare import compare
    from torchship.matrix.run import last_release_baseline

    root = cfg.root
    rel = folder.relative_to(root).as_posix() if folder.is_relative_to(root) else str(folder)
    baseline_dir = last_release_baseline(root, git=repo)
    try:
        baseline = records.load(baseline_dir) if baseline_dir else None
    except records.RecordError:
        baseline = None
    cmp = compare(run, tolerances=cfg.compare, metrics=cfg.metrics, baseline=baseline)
    if not cmp.ok:
        first = cmp.problems[0].render()
        more = f" (and {len(cmp.problems) - 1} more)" if len(cmp.problems) > 1 else ""
        raise ReleaseError(f"the matrix record of {head[:12]} ({rel}) fails: {first}{more}",
                           hint=f"fix it, then {MAKE} (report: {rel}/compare.md)")
    return Evidence(folder=folder, run_id=run.run_id, commit=head, mode=run.mode,
                    reference=cmp.reference, envs=tuple(r.env for r in run.records),
                    headline=headline(cfg, run, cmp.reference), run=run)


def headline(cfg: tsconfig.Config, run: Run, reference: str | None) -> tuple[Headline, ...]:
    """The headline metrics' final values, per environment, the reference first.

    Configured ([tool.torchship.release] headline): each must be in the evidence's training;
    else the compared metrics ([tool.torchship.metrics.compare]) the training wrote."""
    trained = sorted((r for r in run.records if r.training is not None),
                     key=lambda r: r.env != reference)
    wanted = cfg.release.headline
    for metric in wanted:
        if not trained:
            raise ReleaseError(f"headline metric {metric!r}: the evidence ({run.run_id}) has "
                               "no training run", hint="the e2e suite leaves its run where "
                               "[tool.torchship.metrics] says (docs/contract.md)")
        for r in trained:
            final = r.training.final if r.training is not None else {}
            if metric not in final:
                raise ReleaseError(
                    f"headline metric {metric!r} is not in the evidence's training "
                    f"({run.run_id}, {r.env} wrote: {', '.join(final) or 'no final metrics'})",
                    hint="fix [tool.torchship.release] headline, or have the training write "
                         "it into `final`")
    names = wanted or tuple(m.name for m in cfg.metrics.compare)
    out = []
    for metric in names:
        values = tuple((r.env, r.training.final[metric]) for r in trained
                       if r.training is not None and metric in r.training.final)
        if values:
            out.append(Headline(metric, values))
    return tuple(out)


def run_matrix(root: Path, *, cfg: tsconfig.Config | None = None,
               builder: Builder | None = None) -> Path:
    """`--matrix`: the release runs `torchship matrix`'s job itself, before it plans, on the
    release's configuration (`cfg`) when it has one; `builder` gives it the images to test
    (the release's own, steps.TestImages). Returns the run's folder."""
    from torchship.matrix import run as matrix

    try:
        return matrix.gpu_tests(matrix.Options(root=root), cfg=cfg,
                                builder=builder or matrix.default_builder)
    except matrix.MatrixFailed as exc:
        raise ReleaseError(f"--matrix: the matrix failed: {exc.message}",
                           hint=f"report in {exc.folder}/compare.md; nothing was released"
                           ) from exc
    except TorchshipError as exc:
        raise ReleaseError(f"--matrix: {exc.message}", hint=exc.hint) from exc
