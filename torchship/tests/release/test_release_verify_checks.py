"""What release.verify holds a tag to: the team's key signed it (not any key of the
keyring), and its recorded images are checked in a registry that answers (one that does not
is said to not answer, not taken for one that lacks them)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from torchship.testing.gitrepo import Project
from torchship.testing.keys import GpgKey, gpg_key, stop_gpg_agent

RELEASE = ("release", "--part", "patch", "--no-images")


@pytest.fixture
def other_keyring(gnupg: GpgKey) -> Iterator[GpgKey]:
    """A keyring holding the team's public key and a second real key with its secret."""
    home = Path(tempfile.mkdtemp(prefix="tso-"))  # short: gpg-agent's socket path
    try:
        other = gpg_key(home, uid="Mallory <mallory@example.invalid>")
        public = subprocess.run(["gpg", "--batch", "--export", gnupg.fingerprint],
                                env={"GNUPGHOME": str(gnupg.home), "PATH": "/usr/bin:/bin"},
                                capture_output=True, check=True).stdout
        subprocess.run(["gpg", "--batch", "--import"], input=public, capture_output=True,
                       env={"GNUPGHOME": str(home), "PATH": "/usr/bin:/bin"}, check=True)
        yield other
    finally:
        stop_gpg_agent(home)
        shutil.rmtree(home, ignore_errors=True)


def resign(project: Project, tag: str, key: GpgKey) -> Project:
    """Sign `tag` again, same message and commit, with `key`; the project as seen from a
    keyring that holds both the team's public key and `key`."""
    raw = project.git("cat-file", "tag", tag)
    message = raw.split("\n\n", 1)[1].split("-----BEGIN PGP SIGNATURE-----")[0]
    commit = project.git("rev-parse", f"{tag}^{{commit}}")
    mallory = Project(project.path, project.remote, {**project.env, "GNUPGHOME": str(key.home)},
                      project.tmp)
    mallory.git("-c", f"user.signingkey={key.fingerprint}", "tag", "-f", "-s",
                "--cleanup=verbatim", "-m", message, tag, commit)
    assert project.git("cat-file", "tag", tag) != raw
    return mallory


def test_a_tag_resigned_by_another_key_of_the_keyring_does_not_verify(
        project: Project, other_keyring: GpgKey) -> None:
    ok = project.invoke(*RELEASE)
    assert ok.returncode == 0, ok.stderr
    assert "is signed by the team's key" in ok.stdout, ok.stdout
    mallory = resign(project, "v0.1.1", other_keyring)
    assert mallory.git("tag", "-v", "v0.1.1") is not None  # git alone accepts it

    res = mallory.invoke("release.verify", "v0.1.1")
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 1, res.stdout
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith(f"error: tag v0.1.1 is signed by {other_keyring.fingerprint} "
                               "(Mallory <mallory@example.invalid>), not by the team's key"
                               ), res.stderr

    last = mallory.invoke("release.last-good")
    assert last.returncode == 1, last.stdout
    assert (f"✗ v0.1.1: does not verify: tag v0.1.1 is signed by {other_keyring.fingerprint}"
            in last.stdout), last.stdout
    assert "no release verifies" in last.stderr, last.stderr

    # A verifier who signs with SSH still holds a GPG-signed tag to the team key.
    mallory.git("config", "gpg.format", "ssh")
    res = mallory.invoke("release.verify", "v0.1.1")
    assert res.returncode == 1, res.stdout
    assert f"is signed by {other_keyring.fingerprint}" in res.stderr, res.stderr


def test_a_configured_list_of_signers_is_what_a_tag_is_held_to(
        project: Project, other_keyring: GpgKey, tmp_path: Path) -> None:
    ok = project.invoke(*RELEASE)
    assert ok.returncode == 0, ok.stderr
    mallory = resign(project, "v0.1.1", other_keyring)
    local = tmp_path / "signers.toml"
    local.write_text(f'[signatures]\nsigners = ["{other_keyring.fingerprint}"]\n')
    listed = Project(mallory.path, mallory.remote,
                     {**mallory.env, "TORCHSHIP_LOCAL_CONFIG": str(local)}, mallory.tmp)
    res = listed.invoke("release.verify", "v0.1.1")
    assert res.returncode == 0, res.stderr
    assert "is signed by the team's key" in res.stdout
    # A list that does not name the key that signed it: refused.
    local.write_text('[signatures]\nsigners = ["0123456789ABCDEF0123456789ABCDEF01234567"]\n')
    res = listed.invoke("release.verify", "v0.1.1")
    assert res.returncode == 1
    assert "not by the team's key ([tool.torchship.signatures] signers)" in res.stderr


def test_a_registry_that_does_not_answer_is_said_to_not_answer(project: Project) -> None:
    ok = project.invoke(*RELEASE)
    assert ok.returncode == 0, ok.stderr
    with socket.socket() as s:  # a port nothing listens on: a registry that is down
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    image = f"127.0.0.1:{port}/ts-down/mlproject:0.1.1-cpu-runtime@sha256:{'a' * 64}"
    raw = project.git("cat-file", "tag", "v0.1.1")
    message = raw.split("\n\n", 1)[1].split("-----BEGIN PGP SIGNATURE-----")[0]
    assert "Images: none built by this release\n" in message
    message = message.replace("Images: none built by this release\n", f"Images:\n- {image}\n")
    project.git("tag", "-f", "-s", "--cleanup=verbatim", "-m", message, "v0.1.1", "v0.1.1^{}")
    res = project.invoke("release.verify", "v0.1.1")
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 1, res.stdout
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith(
        f"error: 127.0.0.1:{port}/ts-down/mlproject:0.1.1-cpu-runtime: cannot be checked: "
        f"127.0.0.1:{port}/ts-down/mlproject@sha256:{'a' * 64}: registry 127.0.0.1:{port} "
        "does not answer ("), res.stderr
    assert "not in the registry" not in res.stderr
