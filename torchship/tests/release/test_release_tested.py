"""The evidence of a project with pinned bases is a run in its images: a matrix record made
on the host (`--local`) is refused as its evidence in one line, unless the release says it
has none (--no-evidence, recorded in the tag)."""

from __future__ import annotations

import json

from torchship.matrix import records
from torchship.testing.gitrepo import Project


def _evidence_on(project: Project) -> None:
    text = (project.path / "pyproject.toml").read_text()
    project.commit("pyproject.toml", text.replace("evidence = false", "evidence = true"),
                   "the team's policy: releases stand on evidence")


def _host_record(project: Project) -> None:
    """A passing record of HEAD made on the host, as `nox -s gpu_tests -- --local` leaves it."""
    head = project.git("rev-parse", "HEAD")
    run = records.Run(run_id=f"20990101T000000Z-{head[:7]}", created="2099-01-01T00:00:00+00:00",
                      mode="local", records=(records.Record(env="local", image=None),),
                      host={"git": {"commit": head, "dirty": False}})
    folder = project.path / "results" / "matrix" / run.run_id
    records.save(run, folder)
    assert json.loads((folder / "run.json").read_text())["mode"] == "local"


def test_a_host_run_is_no_evidence_for_a_project_with_pinned_bases(project: Project) -> None:
    _evidence_on(project)
    _host_record(project)
    assert "[tool.torchship.bases." in (project.path / "pyproject.toml").read_text()
    res = project.refused("release", "--part", "patch", "--no-images",
                          says="ran on the host (no image), and this project pins bases: "
                               "its evidence is a run in its images")
    assert "--no-evidence" in res.stderr
    ok = project.invoke("release", "--part", "patch", "--no-images", "--no-evidence")
    assert ok.returncode == 0, ok.stderr
    assert "Evidence: none (--no-evidence)" in project.git("cat-file", "tag", "v0.1.1")
