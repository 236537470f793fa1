"""A release ships the trained weights as a CNCF ModelPack artifact beside the images.

On the real registry (the session's `docker-registry` on 127.0.0.1), real GPG keys and
skopeo, with weights from a real training run of the template: pushed, signed, recorded by
digest in the tag and the card, verified, pulled back by digest byte for byte; then tampered
with (a second push under its tag, a signature by another key) and refused by name. Weights
from another commit than the release's are refused before anything is written.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from torchship import config as tsconfig
from torchship.adapters import oci
from torchship.images import sign
from torchship.release import weights
from torchship.testing import one_error, require
from torchship.testing.gitrepo import Project
from torchship.testing.keys import GpgKey, gpg_key, have, stop_gpg_agent
from torchship.testing.standins import Registry

pytestmark = [pytest.mark.slow]

RELEASE = ("release", "--part", "patch", "--no-images")
WEIGHTS = 'weights = "results/train/checkpoint.pt"\n'


@pytest.fixture(scope="module")
def stranger() -> Iterator[GpgKey]:
    require(have("gpg"), "gpg is not installed (apt-get install gnupg)")
    home = Path(tempfile.mkdtemp(prefix="tsx-"))
    try:
        yield gpg_key(home, uid="Stranger <stranger@example.com>")
    finally:
        stop_gpg_agent(home)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def shipping(project: Project, registry: Registry, tmp_path: Path) -> Project:
    """The release tests' project, its images (and so its model) named into the session's
    registry, signatures in a store of its own, and weights configured."""
    require(have("skopeo"), "skopeo is not installed (scripts/ci_services.sh)")
    local = tmp_path / "torchship.local.toml"
    local.write_text(f'image = "{registry.host}/tsw-test/m{uuid.uuid4().hex[:8]}"\n\n'
                     f'[signatures]\nlookaside = "{tmp_path / "sigstore"}"\n')
    project.env["TORCHSHIP_LOCAL_CONFIG"] = str(local)
    text = (project.path / "pyproject.toml").read_text()
    assert text.endswith("[tool.torchship.release]\nevidence = false\n")
    project.commit("pyproject.toml", text + WEIGHTS, "ship the trained weights")
    return project


def train(project: Project) -> Path:
    """A real (short) training run of the project at its HEAD: results/train/."""
    res = subprocess.run([sys.executable, "-m", "mlproject.train", "--epochs", "1",
                          "--samples", "256", "--out", "results/train"],
                         cwd=project.path, env={**project.env, "PYTHONPATH": "src"},
                         capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 0, res.stderr
    return project.path / "results" / "train"


def config(project: Project, monkeypatch: pytest.MonkeyPatch) -> tsconfig.Config:
    monkeypatch.setenv("TORCHSHIP_LOCAL_CONFIG", project.env["TORCHSHIP_LOCAL_CONFIG"])
    return tsconfig.load(project.path)


def test_the_weights_round_trip_and_each_tampering_is_named(
        shipping: Project, stranger: GpgKey, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import torch
    from safetensors.torch import load, save

    run = train(shipping)
    head = shipping.git("rev-parse", "HEAD")
    assert json.loads((run / "metrics.json").read_text())["commit"] == head
    res = shipping.invoke(*RELEASE, "--push", timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    cfg = config(shipping, monkeypatch)
    ref = weights.reference(cfg, "0.1.1")
    name = ref.rpartition(":")[0]
    assert ref == f"{cfg.image}-model:0.1.1"
    # The tag records the artifact by its manifest digest, which the registry's tag names.
    body = shipping.git("cat-file", "tag", "v0.1.1")
    found = weights.recorded(body)
    assert found is not None
    assert found[0] == ref
    digest = found[1]
    assert digest is not None
    assert oci.resolve(ref) == digest
    assert f"pushed model {ref} {digest}" in res.stdout
    # What ships is the state dict of the checkpoint, as safetensors; the card in the release
    # commit records it by its digest, and the manifest is ModelPack's.
    state = torch.load(run / "checkpoint.pt", map_location="cpu", weights_only=True)["model"]
    expected = save({k: v.contiguous() for k, v in state.items()}, metadata={"format": "pt"})
    card = shipping.git("show", "v0.1.1:MODEL_CARD.md")
    assert "MODEL_CARD.md" in shipping.git("show", "--name-only", "--format=", "v0.1.1").split()
    assert weights.card_digests(card) == {"checkpoint.safetensors": oci.bytes_digest(expected)}
    manifest = json.loads(oci.manifest(name, digest))
    assert manifest["artifactType"] == "application/vnd.cncf.model.manifest.v1+json"
    assert manifest["config"]["mediaType"] == "application/vnd.cncf.model.config.v1+json"
    assert [(d["mediaType"], d["annotations"]["org.cncf.model.filepath"])
            for d in manifest["layers"]] == [
        ("application/vnd.cncf.model.weight.v1.raw", "checkpoint.safetensors"),
        ("application/vnd.cncf.model.doc.v1.raw", "metrics.json"),
        ("application/vnd.cncf.model.doc.v1.raw", "MODEL_CARD.md")]
    commit = shipping.git("rev-parse", "v0.1.1^{commit}")
    assert manifest["annotations"]["org.opencontainers.image.revision"] == commit

    verified = shipping.invoke("release.verify", "v0.1.1", timeout=300)
    assert verified.returncode == 0, verified.stderr
    assert f"model {ref}: its signature verifies" in verified.stdout
    assert f"model {ref}: 1 weight file(s) as the model card and the tag record" in verified.stdout

    # Pulled back by digest, its signature checked: the bytes are those released.
    out = tmp_path / "pulled"
    pulled = shipping.invoke("model.pull", "v0.1.1", "--out", str(out), timeout=300)
    assert pulled.returncode == 0, pulled.stderr
    assert sorted(p.name for p in out.iterdir()) == ["MODEL_CARD.md", "checkpoint.safetensors",
                                                      "metrics.json"]
    assert (out / "checkpoint.safetensors").read_bytes() == expected
    assert (out / "metrics.json").read_bytes() == (run / "metrics.json").read_bytes()
    assert (out / "MODEL_CARD.md").read_bytes() == (shipping.path / "MODEL_CARD.md").read_bytes()
    back = load((out / "checkpoint.safetensors").read_bytes())
    assert back.keys() == state.keys()
    assert all(torch.equal(back[k], state[k]) for k in state)

    # Tampering 1: the team's signature gone, a stranger's in its place.
    store = sign.Store.of(cfg)
    [team_sig] = store.signatures(name, digest)
    kept = tmp_path / "team-signature"
    shutil.move(team_sig, kept)
    monkeypatch.setenv("GNUPGHOME", str(stranger.home))
    sign.sign(store, ref, digest, stranger.fingerprint)
    monkeypatch.delenv("GNUPGHOME")
    line = one_error(shipping.invoke("release.verify", "v0.1.1", timeout=300))
    assert f"model {ref}: no signature verifies with the team key (signed by another key: " \
           f"{stranger.fingerprint}" in line
    again = tmp_path / "pulled-again"
    line = one_error(shipping.invoke("model.pull", "v0.1.1", "--out", str(again), timeout=300))
    assert f"model {ref}: no signature verifies with the team key" in line
    assert not again.exists()
    for path in store.signatures(name, digest):
        path.unlink()
    shutil.move(kept, team_sig)
    assert shipping.invoke("release.verify", "v0.1.1", timeout=300).returncode == 0

    # Tampering 2: another artifact pushed under the released tag.
    other = tmp_path / "other.bin"
    other.write_bytes(b"not the released weights")
    blob = oci.Blob(other, weights.WEIGHT, ((weights.FILEPATH, "checkpoint.safetensors"),))
    config_bytes = b"{}"
    fake = json.dumps({"schemaVersion": 2, "mediaType": oci.OCI_MANIFEST,
                       "artifactType": weights.ARTIFACT_TYPE,
                       "config": {"mediaType": weights.CONFIG,
                                  "digest": oci.bytes_digest(config_bytes), "size": 2},
                       "layers": [blob.descriptor()]}).encode()
    second = oci.push(ref, [blob], config_bytes, weights.CONFIG, fake)
    assert second != digest
    line = one_error(shipping.invoke("release.verify", "v0.1.1", timeout=300))
    assert f"model {ref}: the registry's tag names {second[:19]}, not the recorded " \
           f"{digest[:19]} (pushed again after the release)" in line
    # The release still comes back by its digest, whatever the tag names now.
    third = tmp_path / "pulled-by-digest"
    pulled = shipping.invoke("model.pull", "v0.1.1", "--out", str(third), timeout=300)
    assert pulled.returncode == 0, pulled.stderr
    assert (third / "checkpoint.safetensors").read_bytes() == expected


def test_weights_not_trained_at_the_release_commit_are_refused_writing_nothing(
        shipping: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    run = train(shipping)
    trained = shipping.git("rev-parse", "HEAD")
    log = (shipping.path / "CHANGELOG.md").read_text()
    shipping.commit("CHANGELOG.md", log.replace("## [Unreleased]\n",
                                                "## [Unreleased]\n\n### Fixed\n\n- a fix\n", 1))
    head = shipping.git("rev-parse", "HEAD")
    shipping.refused(*RELEASE, "--push", says=f"the weights were trained at {trained[:12]} "
                     f"(results/train/metrics.json), not at {head[:12]}, the commit this "
                     "release is made on")
    assert oci.resolve(weights.reference(config(shipping, monkeypatch), "0.1.1")) is None
    # A record that names no commit is refused as well.
    data = json.loads((run / "metrics.json").read_text())
    data["commit"] = None
    (run / "metrics.json").write_text(json.dumps(data))
    shipping.refused(*RELEASE, says="results/train/metrics.json names no commit")
    # Trained again at HEAD. The remote refuses the git push: nothing is published, so the
    # model pushed and signed before it is undone with the rest.
    train(shipping)
    cfg = config(shipping, monkeypatch)
    ref = weights.reference(cfg, "0.1.1")
    shipping.hook("pre-receive", 'echo "policy: releases need review" >&2\nexit 1\n', remote=True)
    before = shipping.git("rev-parse", "HEAD")
    res = shipping.invoke(*RELEASE, "--push", timeout=600)
    assert res.returncode != 0
    assert "push failed" in res.stderr
    assert "rolled back" in res.stderr
    assert f"deleted the model {ref.rpartition(':')[0]}@sha256:" in res.stdout
    assert "removed the model's signature" in res.stdout
    assert shipping.git("rev-parse", "HEAD") == before
    assert oci.resolve(ref) is None
    assert not list(sign.Store.of(cfg).root.rglob("signature-*"))
    (shipping.remote / "hooks" / "pre-receive").unlink()
    # Without --push the tag lists the model by name only, and release.verify says nothing
    # ties it to registry bytes.
    res = shipping.invoke(*RELEASE, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"\nModel:\n- {ref}\nWeights:\n- checkpoint.safetensors sha256:" in \
        shipping.git("cat-file", "tag", "v0.1.1")
    assert oci.resolve(ref) is None
    line = one_error(shipping.invoke("release.verify", "v0.1.1", timeout=300))
    assert "records the model" in line
    assert "without a digest" in line


def test_a_project_without_weights_is_untouched(project: Project) -> None:
    out = project.invoke(*RELEASE, "--dry-run")
    assert out.returncode == 0, out.stderr
    assert "push model: none (no [tool.torchship.release] weights)" in out.stdout
    res = project.invoke(*RELEASE)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Model:" not in project.git("cat-file", "tag", "v0.1.1")
    assert "MODEL_CARD.md" not in project.git("show", "--name-only", "--format=", "v0.1.1")
