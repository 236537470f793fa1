"""A release stands on evidence: the passing matrix record of the commit it tags.

One real record is made by `invoke release --matrix`, in the stand-in images (the engine,
the session's registry): the release then holds its headline metrics in the tag message,
a model card in its commit (Hugging Face's format: it round-trips through huggingface_hub)
and the record as its baseline. The refusals (no record, another commit's, a dirty tree's,
a failing one, a missing headline metric, a generated card section edited by hand) are
made by copying that record and changing what each case is about, as a later run would.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from torchship.adapters.docker import Docker
from torchship.config import Pyproject
from torchship.matrix import records
from torchship.testing.engine import remove_images_of
from torchship.testing.gitrepo import Project
from torchship.testing.standins import PinnedBases

IMAGE = f"tsrel14-test/mlproject-{uuid.uuid4().hex[:8]}"
RELEASE = ("release", "--part", "patch", "--no-images")
EVIDENCE = '[tool.torchship.release]\nevidence = true\nheadline = ["accuracy"]\ntask = "tabular-classification"\n'


@pytest.fixture(scope="module")
def built_images(engine: Docker) -> Iterator[None]:
    yield
    remove_images_of(engine, IMAGE)


def _policy(project: Project, body: str = EVIDENCE) -> None:
    """The team's policy instead of the fixture's (which releases without evidence)."""
    text = (project.path / "pyproject.toml").read_text()
    start = text.index("[tool.torchship.release]\n")
    end = text.find("\n[", start + 1)
    project.commit("pyproject.toml", text[:start] + body + (text[end:] if end >= 0 else ""),
                   "release policy")


def _stand_ins(project: Project, bases: PinnedBases) -> None:
    config = project.tmp / "torchship.local.toml"
    config.write_text(f'require_digest = true\nimage = "{IMAGE}"\n\n[bases.cpu]\n'
                      f'runtime = "{bases.runtime}"\ndevel = "{bases.devel}"\n')
    project.env["TORCHSHIP_LOCAL_CONFIG"] = str(config)


def _matrix_dir(project: Project) -> Path:
    return project.path / "results" / "matrix"


def _head(project: Project) -> str:
    return project.git("rev-parse", "HEAD")


def _at_head(project: Project, source: Path, *, dirty: bool = False, failing: bool = False,
             ) -> Path:
    """A copy of the real record `source`, as a later run of HEAD would have left it (the
    only one planted: an earlier planted copy goes)."""
    for old in _matrix_dir(project).glob("2099*"):
        shutil.rmtree(old)
    head = _head(project)
    dest = _matrix_dir(project) / f"20990101T000000Z-{head[:7]}"
    shutil.copytree(source, dest)
    data = json.loads((dest / "run.json").read_text())
    data["host"]["git"].update(commit=head, dirty=dirty)
    data["run_id"] = dest.name
    if failing:
        data["records"][0]["suites"][0]["status"] = "failed"
    (dest / "run.json").write_text(json.dumps(data))
    return dest


def _tag_body(project: Project, tag: str) -> str:
    return project.git("cat-file", "tag", tag)


def test_a_release_with_matrix_evidence(project: Project, standin_bases: PinnedBases,
                                        built_images: None) -> None:
    from huggingface_hub import ModelCard

    _stand_ins(project, standin_bases)
    _policy(project)
    # Nothing yet: refused, naming the command that makes the record.
    project.refused(*RELEASE, says="no matrix record of")
    head = _head(project)

    res = project.invoke(*RELEASE, "--matrix", timeout=1800)
    assert res.returncode == 0, res.stdout + res.stderr
    [folder] = list(_matrix_dir(project).iterdir())
    run = records.load(folder)
    assert run.mode == "containers"
    [record] = run.records
    assert record.training is not None
    accuracy = record.training.final["accuracy"]

    body = _tag_body(project, "v0.1.1")
    assert f"Evidence: matrix run {run.run_id} of {head[:12]}, passed in cpu (images;" in body
    assert f"- accuracy: {accuracy:.4g} (cpu)" in body
    # The record is the release's baseline: the same files.
    baseline = project.path / "results" / "releases" / "v0.1.1"
    assert sorted(p.relative_to(baseline) for p in baseline.rglob("*")) == \
        sorted(p.relative_to(folder) for p in folder.rglob("*"))
    assert (baseline / "run.json").read_bytes() == (folder / "run.json").read_bytes()
    # The model card is in the release commit, and Hugging Face's library reads it.
    assert "MODEL_CARD.md" in project.git("show", "--name-only", "--format=", "v0.1.1").split()
    text = (project.path / "MODEL_CARD.md").read_text()
    card = ModelCard(text)
    [result] = card.data.eval_results
    assert (result.task_type, result.metric_type, result.metric_value) == (
        "tabular-classification", "accuracy", accuracy)
    assert result.dataset_revision == record.training.data["sha256"]  # type: ignore[index]
    again = ModelCard(str(card))  # the library's own rendering, read back
    assert again.data.to_dict() == card.data.to_dict()
    for section in ("## Intended use", "## Training data", "## Training procedure",
                    "### Training hyperparameters", "## Evaluation", "## Environment",
                    "## Limitations"):
        assert section in text
    assert f"| lr | {record.training.args['lr']} |" in text
    assert record.image_digest is not None
    assert record.image_digest in text
    assert standin_bases.devel in text
    verified = project.invoke("release.verify", "v0.1.1")
    assert verified.returncode == 0, verified.stderr
    # The rollback target names the matrix run its signed tag records as passed.
    good = project.invoke("release.last-good")
    assert good.returncode == 0, good.stderr
    assert f"✓ v0.1.1: verifies, its recorded matrix run {run.run_id} passed" in good.stdout

    # -- the second release keeps what a person wrote in the card ------------------------
    mine = "This model sorts spirals. Not for production."
    card_text = text.replace("_For the author: what the model is for, who should use it, and "
                             "what it must not be used for._", mine)
    assert mine in card_text
    card_text = card_text.replace("\n---\n", "\nlicense: mit\n---\n", 1)
    project.commit("MODEL_CARD.md", card_text, "the card, by hand")
    log = (project.path / "CHANGELOG.md").read_text()
    project.commit("CHANGELOG.md", log.replace("## [Unreleased]\n", "## [Unreleased]\n\n### Changed"
                                               "\n\n- The model card says what the model is for.\n", 1))
    head = _head(project)

    # Evidence of another commit (the one released before), then of a dirty tree, then failing.
    project.refused(*RELEASE, says=f"no matrix record of {head[:12]}: the newest, "
                                   f"{run.run_id}, tested {run.host['git']['commit'][:12]}")
    _at_head(project, folder, dirty=True)
    project.refused(*RELEASE, says="was made from a dirty tree")
    _at_head(project, folder, failing=True)
    project.refused(*RELEASE, says="fails: suite: cpu: unit: failed")
    # A headline metric the training did not write.
    _policy(project, EVIDENCE.replace('["accuracy"]', '["top1"]'))
    _at_head(project, folder)
    project.refused(*RELEASE, says="headline metric 'top1' is not in the evidence's training "
                                   f"(20990101T000000Z-{_head(project)[:7]}, cpu wrote: ")
    _policy(project)
    # A generated section edited by hand: the release would lose the edit, so it refuses.
    project.commit("MODEL_CARD.md", card_text.replace("## Evaluation\n", "## Evaluation\n\nMy "
                                                      "note.\n", 1), "an edit in a generated section")
    _at_head(project, folder)
    project.refused(*RELEASE, says="the generated section 'evaluation' was edited by hand")
    project.commit("MODEL_CARD.md", card_text, "the edit undone")
    good = _at_head(project, folder)

    res = project.invoke(*RELEASE)
    assert res.returncode == 0, res.stdout + res.stderr
    second = (project.path / "MODEL_CARD.md").read_text()
    assert mine in second                      # the author's section, kept
    assert "license: mit" in second            # and the author's metadata
    dist = Pyproject.read(project.path).name
    assert f"# {dist} 0.1.2" in second         # the generated ones, rewritten
    assert good.name in second
    assert ModelCard(second).data.license == "mit"
    assert (project.path / "results" / "releases" / "v0.1.2" / "run.json").exists()
    assert f"Evidence: matrix run {good.name}" in _tag_body(project, "v0.1.2")


def test_no_evidence_is_said_in_the_tag_message(project: Project) -> None:
    _policy(project)
    res = project.invoke(*RELEASE, "--no-evidence")
    assert res.returncode == 0, res.stderr
    assert "Evidence: none (--no-evidence): no matrix record, model card or baseline" in \
        _tag_body(project, "v0.1.1")
    assert not (project.path / "MODEL_CARD.md").exists()
    assert not (project.path / "results" / "releases").exists()


def test_a_dry_run_with_matrix_says_it_would_run_it_and_runs_nothing(project: Project) -> None:
    """--matrix takes minutes to an hour and makes a results folder: a dry run prints the plan
    and that the matrix would run, and changes nothing (no engine is needed: none is used)."""
    _policy(project)
    before = project.snapshot()
    res = project.invoke(*RELEASE, "--matrix", "--dry-run", timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "--matrix: would run the matrix on this commit (nox -s gpu_tests) first" in res.stdout
    assert "running the matrix" not in res.stdout
    assert "model card: none (the matrix record --matrix would make" in res.stdout
    assert res.stdout.rstrip().endswith("dry run: nothing was changed, nothing was run")
    assert not (project.path / "results").exists()
    assert before.diff(project.snapshot()) == []


def test_matrix_waits_for_no_refusal_and_needs_evidence_to_make(project: Project) -> None:
    """--matrix can take an hour: a release that would be refused anyway (here, an empty
    [Unreleased]) is refused before it runs; --matrix with --no-evidence contradicts itself."""
    _policy(project)
    project.refused(*RELEASE, "--matrix", "--no-evidence",
                    says="error: --matrix makes a release's evidence, and this release takes "
                         "none (--no-evidence, or [tool.torchship.release] evidence = false) "
                         "(drop one of the two)")
    log = project.path / "CHANGELOG.md"
    text = log.read_text()
    head, _, rest = text.partition("## [Unreleased]\n")
    following = rest[rest.index("\n## ["):] if "\n## [" in rest else ""
    project.commit("CHANGELOG.md", f"{head}## [Unreleased]\n{following}")
    res = project.refused(*RELEASE, "--matrix", says="[Unreleased]")
    assert "running the matrix" not in res.stdout
    assert not (project.path / "results" / "matrix").exists()
