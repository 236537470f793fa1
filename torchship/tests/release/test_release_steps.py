"""The steps are one list: what --dry-run prints is what a run does, in that order."""

from __future__ import annotations

from typing import Any

import pytest

from torchship.release import steps
from torchship.release.plan import Options, Plan
from torchship.release.run import run
from torchship.testing.gitrepo import Project


def test_the_dry_run_lists_every_step_in_the_order_a_run_takes() -> None:
    names = [s.name for s in steps.STEPS]
    # The images and the model are pushed before the tag, which records their digests, and
    # signed after it; the model card goes into the release commit, the baseline is kept
    # once the tag exists. A tested release (--matrix with images) builds and tests its images
    # before the card, which is written from that test (test images); the images step then
    # builds nothing.
    assert names == ["bump", "changelog", "test images", "model card", "commit", "images",
                     "push images", "push model", "tag", "baseline", "sign images",
                     "sign model", "verify", "push"]
    assert all(steps.step_named(n) is s for n, s in zip(names, steps.STEPS, strict=True))


def test_a_step_added_to_the_list_is_printed_and_run(project: Project,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    done: list[str] = []

    class Announce(steps.Step):
        name = "announce"

        def describe(self, plan: Plan) -> list[str]:
            return [f"announce: {plan.tag} to the team"]

        def do(self, ctx: steps.Context) -> dict[str, Any]:
            done.append(ctx.plan.tag)
            ctx.out(f"• announced {ctx.plan.tag}")
            return {}

    # One edit: its place in the list.
    monkeypatch.setattr(steps, "STEPS", (*steps.STEPS[:9], Announce(), *steps.STEPS[9:]))
    for key, value in project.env.items():
        monkeypatch.setenv(key, value)
    out: list[str] = []
    run(project.path, Options(part="patch", images=False, dry_run=True), out=out.append)
    assert "\n10. announce: v0.1.1 to the team\n11. baseline: " in out[0]
    assert done == []
    out.clear()
    run(project.path, Options(part="patch", images=False), out=out.append)
    assert done == ["v0.1.1"]
    assert out.index("• announced v0.1.1") == out.index("• tag v0.1.1 (signed)") + 1
