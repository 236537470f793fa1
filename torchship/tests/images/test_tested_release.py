"""What was tested is what ships: a release with images and evidence (--matrix) builds its
images once from the release tree, runs the matrix in them, and pushes, signs and tags those
very images; the signed tag records each tested image ID, and release.verify holds every
shipped image to it. With weights configured, the same release ships the trained model beside
them (release/weights.py), and a fresh clone gets it back by digest, signature checked. On the
real engine, registry, skopeo and GPG keys, with the stand-ins."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from torchship import config as tsconfig
from torchship.adapters import oci
from torchship.adapters.docker import Docker
from torchship.images import released as shipped
from torchship.images.registry import RegistryError, resolve_digest
from torchship.images.released import Recorded
from torchship.matrix import records
from torchship.release import weights
from torchship.release.verify import images_in, images_tested
from torchship.testing import one_error, require
from torchship.testing.gitrepo import BIN, Project, add_bare_remote, git, isolated_env
from torchship.testing.keys import GpgKey, configure_gpg, gpg_key, have, stop_gpg_agent

pytestmark = [pytest.mark.docker, pytest.mark.slow]

LONG = 2400  # builds two images and runs the matrix (unit, e2e, benchmarks) on a shared machine


@pytest.fixture(scope="module")
def team() -> Iterator[GpgKey]:
    require(have("gpg"), "gpg is not installed (apt-get install gnupg)")
    require(have("skopeo"), "skopeo is not installed (scripts/ci_services.sh)")
    home = Path(tempfile.mkdtemp(prefix="ts23k-"))
    try:
        yield gpg_key(home)
    finally:
        stop_gpg_agent(home)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def released(project: Path, tmp_path: Path, team: GpgKey) -> Project:
    """The image tests' project (evidence on, the template's policy) with a bare remote, a
    GPG signing key and a lookaside store of its own."""
    env = isolated_env(tmp_path / "home", GNUPGHOME=str(team.home),
                       PATH=f"{BIN}:/usr/local/bin:/usr/bin:/bin")
    for key, value in (("user.name", "T"), ("user.email", "t@example.com")):
        git(project, "config", key, value, env=env)
    add_bare_remote(project, tmp_path / "remote.git", env=env)
    configure_gpg(project, team, env=env)
    local = project / "torchship.local.toml"
    local.write_text(f'{local.read_text()}\n[signatures]\nlookaside = "{tmp_path / "sigs"}"\n')
    proj = Project(project, tmp_path / "remote.git", env, tmp_path)
    proj.settle()
    return proj


def test_a_release_pushes_the_images_its_evidence_tested_and_verify_names_a_rebuilt_one(
    released: Project, engine: Docker, tmp_path: Path
) -> None:
    image = tsconfig.load(released.path).image
    # Images and evidence, but no --matrix: a record of this commit tested other bytes (the
    # images before the version changed). One line, nothing written.
    before = released.snapshot()
    line = one_error(released.invoke("release", "--part", "patch", "--push"))
    assert "a release that ships images takes its evidence in those images" in line
    assert released.snapshot().diff(before) == []

    head = released.git("rev-parse", "HEAD")
    # Tested, then the remote refuses the git push: the release rolls back whole, the images
    # it built and tested (in the engine and the registry) and their signatures included.
    released.hook("pre-receive", 'echo "policy: releases need review" >&2\nexit 1\n',
                  remote=True)
    res = released.invoke("release", "--part", "patch", "--push", "--matrix", timeout=LONG)
    assert res.returncode != 0
    assert "push failed" in res.stderr, res.stderr
    assert "rolled back" in res.stderr
    assert "• evidence: matrix run " in res.stdout
    assert "removed this release's images" in res.stdout
    assert released.git("rev-parse", "HEAD") == head
    assert released.git("status", "--porcelain") == ""
    assert released.git("tag", "--list") == ""
    assert not (released.path / "results" / "releases").exists()
    assert not engine.image_exists(f"{image}:0.1.1-cpu-devel")
    with pytest.raises(RegistryError, match="not found"):
        resolve_digest(f"{image}:0.1.1-cpu-runtime")
    assert not list((tmp_path / "sigs").rglob("signature-*"))
    (released.remote / "hooks" / "pre-receive").unlink()

    res = released.invoke("release", "--part", "patch", "--push", "--matrix", timeout=LONG)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "• images: built 2 from the release tree in" in res.stdout
    body = released.git("cat-file", "tag", "v0.1.1")
    tested = images_tested(body)
    recorded = [Recorded.parse(i) for i in images_in(body)]
    assert sorted(r.tag for r in recorded) == sorted(tested) == sorted(
        f"{image}:0.1.1-{t}" for t in ("cpu-runtime", "runtime", "cpu-devel", "devel"))
    # What the registry serves at each recorded digest is the image the matrix ran.
    for r in recorded:
        assert r.digest is not None
        assert shipped.image_id(r.pinned) == tested[r.tag]
    # The evidence (kept as the release's baseline) ran in the devel image the tag records,
    # and the runtime image's smoke passed.
    run = records.load(released.path / "results" / "releases" / "v0.1.1")
    [record] = run.records
    assert run.mode == "containers"
    assert record.image_digest == tested[f"{image}:0.1.1-cpu-devel"]
    assert record.smoke is not None
    assert record.smoke.ok
    assert f"Evidence: matrix run {run.run_id} of {head[:12]}, passed in cpu (images;" in body
    # The images carry the commit the release was cut from: the release commit holds the
    # card written from their test.
    commit = released.git("rev-parse", "v0.1.1^{commit}")
    assert released.git("rev-parse", f"{commit}^") == head
    assert "MODEL_CARD.md" in released.git("show", "--name-only", "--format=", "v0.1.1").split()
    assert tested[f"{image}:0.1.1-cpu-devel"] in (released.path / "MODEL_CARD.md").read_text()
    ok = released.invoke("release.verify", "v0.1.1", timeout=600)
    assert ok.returncode == 0, ok.stderr
    assert "✓ 4 image(s) are those the evidence tested" in ok.stdout

    # One image rebuilt and pushed under the released tag: verify fails, naming it.
    runtime = f"{image}:0.1.1-cpu-runtime"
    context = tmp_path / "rebuild"
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM {runtime}\nLABEL rebuilt=yes\n")
    engine(*engine.build_argv[1:], "--tag", runtime, str(context))
    engine("push", runtime)
    line = one_error(released.invoke("release.verify", "v0.1.1", timeout=600))
    assert f"{runtime}: the registry's tag is image sha256:" in line
    assert f"not the image {tested[runtime][:19]} the release's evidence tested" in line

    # Without --push the release checks its local images against what it tested (its own
    # verify step); release.verify refuses the tag in one line: no digest ties it to bytes.
    # (Its benchmarks are not the subject: without v0.1.1's baseline, timings on a shared
    # machine are not compared.)
    shutil.rmtree(released.path / "results" / "releases" / "v0.1.1")
    log = (released.path / "CHANGELOG.md").read_text()
    released.commit("CHANGELOG.md", log.replace("## [Unreleased]\n",
                                                "## [Unreleased]\n\n### Fixed\n\n- more\n", 1))
    res = released.invoke("release", "--part", "patch", "--matrix", timeout=LONG)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "image(s) labelled with" in res.stdout
    assert ", those the evidence tested" in res.stdout
    line = one_error(released.invoke("release.verify", "v0.1.2", timeout=600))
    assert "without a digest" in line


def test_a_dry_run_of_a_tested_release_says_it_builds_once_and_ships_what_it_tests(
    released: Project,
) -> None:
    before = released.snapshot()
    res = released.invoke("release", "--part", "patch", "--push", "--matrix", "--dry-run")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "\n3. test images: build its images (4 tags) from the release tree" in res.stdout
    assert "\n6. images: none built here: those the test images step built and tested are " \
        "pushed (0 s building)\n" in res.stdout
    assert "\n5. commit: 'Release 0.1.1', of CHANGELOG.md, MODEL_CARD.md, " in res.stdout
    assert "dry run: nothing was changed, nothing was built or run" in res.stdout
    assert released.snapshot().diff(before) == []


def test_a_tested_release_with_weights_ships_what_it_tested_and_the_model_comes_back_signed(
    released: Project, team: GpgKey, tmp_path: Path
) -> None:
    """Issue 23's "Done when", end to end: a fresh clone with the stand-ins, weights
    configured and trained at HEAD, one signed `release --matrix --push` with images and the
    model; verify passes, the shipped digests are the tested images, the tag and the card
    record the model, and `torchship model pull` gives back the shipped bytes."""
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(released.remote), str(clone), env=released.env)
    shutil.copy(released.path / "torchship.local.toml", clone / "torchship.local.toml")
    for key, value in (("user.name", "T"), ("user.email", "t@example.com")):
        git(clone, "config", key, value, env=released.env)
    configure_gpg(clone, team, env=released.env)
    proj = Project(clone, released.remote, released.env, tmp_path)
    pyproject = clone / "pyproject.toml"
    proj.commit("pyproject.toml", pyproject.read_text()
                + '\n[tool.torchship.release]\nweights = "results/train/checkpoint.pt"\n',
                "ship the trained weights")
    head = proj.git("rev-parse", "HEAD")
    trained = subprocess.run([sys.executable, "-m", "mlproject.train", "--epochs", "1",
                              "--samples", "256", "--out", "results/train"], cwd=clone,
                             env={**proj.env, "PYTHONPATH": "src"}, capture_output=True,
                             text=True, timeout=300, check=False)
    assert trained.returncode == 0, trained.stderr
    run = clone / "results" / "train"
    assert json.loads((run / "metrics.json").read_text())["commit"] == head
    expected = weights.payload(run / "checkpoint.pt")[0]
    assert expected is not None  # converted to safetensors

    res = proj.invoke("release", "--part", "patch", "--matrix", "--push", timeout=LONG)
    assert res.returncode == 0, res.stdout + res.stderr
    ok = proj.invoke("release.verify", "v0.1.1", timeout=600)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "✓ 4 image(s) are those the evidence tested" in ok.stdout

    body = proj.git("cat-file", "tag", "v0.1.1")
    tested = images_tested(body)
    recorded = [Recorded.parse(i) for i in images_in(body)]
    assert sorted(r.tag for r in recorded) == sorted(tested)
    assert len(tested) == 4
    for r in recorded:
        assert r.digest is not None
        assert shipped.image_id(r.pinned) == tested[r.tag]

    # The model: pinned by digest in the signed tag, which the registry's tag names; the
    # card at the tag lists the weights by the digest of what shipped.
    found = weights.recorded(body)
    assert found is not None
    ref, digest = found
    assert ref == weights.reference(tsconfig.load(clone), "0.1.1")
    assert digest is not None
    assert oci.resolve(ref) == digest
    assert f"- {ref}@{digest}\nWeights:\n- checkpoint.safetensors " \
           f"{oci.bytes_digest(expected)}" in body
    card = proj.git("show", "v0.1.1:MODEL_CARD.md")
    assert weights.card_digests(card) == {"checkpoint.safetensors": oci.bytes_digest(expected)}
    assert f"model {ref}: its signature verifies" in ok.stdout
    assert f"model {ref}: 1 weight file(s) as the model card and the tag record" in ok.stdout

    out = tmp_path / "pulled"
    pulled = subprocess.run([str(BIN / "torchship"), "model", "pull", "v0.1.1", "--out",
                             str(out)], cwd=clone, env=proj.env, capture_output=True,
                            text=True, timeout=300, check=False)
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    assert (out / "checkpoint.safetensors").read_bytes() == expected
    assert (out / "metrics.json").read_bytes() == (run / "metrics.json").read_bytes()
    assert (out / "MODEL_CARD.md").read_bytes() == (clone / "MODEL_CARD.md").read_bytes()
