"""A release with images, end to end on the real engine, registry, skopeo and GPG keys:
pushed once, digests in the signed tag, signed, verified; then tampered with."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from torchship import config as tsconfig
from torchship.adapters import skopeo
from torchship.adapters.docker import Docker
from torchship.adapters.skopeo import SkopeoError
from torchship.images import sign
from torchship.images.registry import RegistryError, resolve_digest
from torchship.images.released import Recorded
from torchship.release.verify import images_in
from torchship.testing import one_error, require
from torchship.testing.gitrepo import BIN, INVOKE, Project, add_bare_remote, git, isolated_env
from torchship.testing.keys import GpgKey, configure_gpg, gpg_key, have, stop_gpg_agent

pytestmark = [pytest.mark.docker, pytest.mark.slow]

LONG = 1200  # a release builds and pushes two images on a shared machine


@pytest.fixture(scope="module")
def keys() -> Iterator[tuple[GpgKey, GpgKey]]:
    """The team's key (signs tags and images) and a stranger's."""
    require(have("gpg"), "gpg is not installed (apt-get install gnupg)")
    require(have("skopeo"), "skopeo is not installed (scripts/ci_services.sh)")
    homes = [Path(tempfile.mkdtemp(prefix="ts13k-")) for _ in range(2)]
    try:
        yield gpg_key(homes[0]), gpg_key(homes[1], uid="Stranger <stranger@example.com>")
    finally:
        for home in homes:
            stop_gpg_agent(home)
            shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def released(project: Path, tmp_path: Path, keys: tuple[GpgKey, GpgKey]) -> Project:
    """The image tests' project with a bare remote, a GPG signing key and a lookaside store."""
    team, _ = keys
    env = isolated_env(tmp_path / "home", GNUPGHOME=str(team.home),
                       PATH=f"{BIN}:/usr/local/bin:/usr/bin:/bin")
    for key, value in (("user.name", "T"), ("user.email", "t@example.com")):
        git(project, "config", key, value, env=env)
    add_bare_remote(project, tmp_path / "remote.git", env=env)
    configure_gpg(project, team, env=env)
    proj = Project(project, tmp_path / "remote.git", env, tmp_path)
    proj.settle()
    return proj


def set_lookaside(project: Path, where: Path) -> None:
    local = project / "torchship.local.toml"
    text = local.read_text().split("\n[signatures]\n")[0]
    local.write_text(f'{text}\n[signatures]\nlookaside = "{where}"\n')


def change(project: Project, what: str) -> None:
    """An entry under [Unreleased], committed: something to release."""
    log = (project.path / "CHANGELOG.md").read_text()
    project.commit("CHANGELOG.md", log.replace("## [Unreleased]\n",
                                               f"## [Unreleased]\n\n### Fixed\n\n- {what}\n", 1))


def test_release_records_signs_and_verifies_its_images_and_names_each_tampering(
    released: Project, engine: Docker, tmp_path: Path, keys: tuple[GpgKey, GpgKey], package: str
) -> None:
    team, stranger = keys
    store = tmp_path / "sigstore"
    # 1. Without --push nothing leaves the machine: the tag lists its images by tag only,
    # and release.verify says that nothing ties them to registry bytes.
    res = released.invoke("release", "--part", "patch", "--no-evidence", timeout=LONG)
    assert res.returncode == 0, res.stderr
    listed = images_in(released.git("cat-file", "tag", "v0.1.1"))
    assert len(listed) == 4
    assert not [i for i in listed if "@" in i]
    line = one_error(released.invoke("release.verify", "v0.1.1"))
    assert "without a digest: it was made before torchship recorded image digests" in line
    change(released, "a fix worth a release")
    # 2. A signing step that fails (the store cannot be written) rolls the whole release
    # back, the images pushed before it included.
    (tmp_path / "not-a-folder").write_text("")
    set_lookaside(released.path, tmp_path / "not-a-folder" / "sigstore")
    head = released.git("rev-parse", "HEAD")
    res = released.invoke("release", "--part", "patch", "--push", "--no-evidence", timeout=LONG)
    assert res.returncode != 0
    assert "sign images failed" in res.stderr
    assert "rolled back" in res.stderr
    assert "deleted" in res.stdout  # the undo of the image push says what it removed
    assert released.git("rev-parse", "HEAD") == head
    assert released.git("tag", "--list", "v0.1.2") == ""
    image = tsconfig.load(released.path).image
    with pytest.raises(RegistryError, match="not found"):
        resolve_digest(f"{image}:0.1.2-cpu-runtime")
    # 2b. The remote refuses the git push (after images were pushed and signed): nothing is
    # published, so all of it is undone, the registry's images and the signatures included.
    set_lookaside(released.path, store)
    released.hook("pre-receive", 'echo "policy: releases need review" >&2\nexit 1\n',
                  remote=True)
    res = released.invoke("release", "--part", "patch", "--push", "--no-evidence", timeout=LONG)
    assert res.returncode != 0
    assert "push failed" in res.stderr
    assert "rolled back" in res.stderr
    assert "removed 4 image signature(s)" in res.stdout
    assert released.git("rev-parse", "HEAD") == head
    assert released.git("tag", "--list", "v0.1.2") == ""
    with pytest.raises(RegistryError, match="not found"):
        resolve_digest(f"{image}:0.1.2-cpu-runtime")
    assert not [p for p in store.rglob("signature-*")]
    # 3. The release pushes once, records each digest in the signed tag, signs each one.
    # A SIGTERM comes while the remote holds the git push: the remote then takes it, so the
    # release is published, and finished: its images, digests and signatures all stay.
    res = interrupted_push(released, tmp_path)
    assert res.returncode == 0, res.stderr
    assert "rolled back" not in res.stdout + res.stderr
    assert "note: interrupted during the push, but origin had taken it" in res.stdout
    (released.remote / "hooks" / "pre-receive").unlink()
    remote = git(released.remote, "for-each-ref", "--format=%(refname) %(objectname)",
                 env=released.env)
    assert f"refs/tags/v0.1.2 {released.git('rev-parse', 'refs/tags/v0.1.2')}" in remote
    recorded = [Recorded.parse(i) for i in images_in(released.git("cat-file", "tag", "v0.1.2"))]
    assert [r.tag for r in recorded] == [f"{image}:0.1.2-cpu-runtime", f"{image}:0.1.2-runtime",
                                         f"{image}:0.1.2-cpu-devel", f"{image}:0.1.2-devel"]
    for r in recorded:
        assert r.digest is not None
        assert resolve_digest(r.tag) == r.digest
    assert "signed 4 image tag(s)" in res.stdout
    res = released.invoke("release.verify", "v0.1.2", timeout=LONG)
    assert res.returncode == 0, res.stderr
    assert "4 image(s) in the registry at their recorded digests" in res.stdout
    assert "4 image signature(s) verify" in res.stdout
    # A runtime that enforces a policy (skopeo here, podman and CRI-O read the same files)
    # accepts the release's image and refuses an image the team did not sign.
    runtime = recorded[0]
    pub = tmp_path / "team.asc"
    pub.write_text(exported(team))
    policy = sign.write_policy(pub, [runtime.name], tmp_path / "policy.json")
    regd = sign.registries_d(sign.Store(store), tmp_path / "registries.d")
    skopeo.copy(f"docker://{runtime.pinned}", f"dir:{tmp_path / 'pulled'}", policy=policy,
                registries_d=regd)
    assert (tmp_path / "pulled" / "manifest.json").is_file()
    v011 = f"{image}:0.1.1-cpu-runtime"
    engine("push", v011)  # never signed (made without --push)
    with pytest.raises(SkopeoError, match=r"not accepted|rejected|no signature"):
        skopeo.copy(f"docker://{v011}", f"dir:{tmp_path / 'refused'}", policy=policy,
                    registries_d=regd)
    # 4. A newer release, then tampered with three ways; each time verify names the image.
    change(released, "another fix")
    res = released.invoke("release", "--part", "patch", "--push", "--no-evidence", timeout=LONG)
    assert res.returncode == 0, res.stderr
    [newest, *_] = [Recorded.parse(i) for i in images_in(released.git("cat-file", "tag",
                                                                      "v0.1.3"))]
    assert newest.digest is not None
    # 4a. The signature removed.
    folder = sign.Store(store).folder(newest.name, newest.digest)
    shutil.move(folder, tmp_path / "moved")
    line = one_error(released.invoke("release.verify", "v0.1.3"))
    assert f"{newest.tag}: no signature for" in line
    shutil.move(tmp_path / "moved", folder)
    # 4b. Signed by another key instead.
    manifest = tmp_path / "m.json"
    manifest.write_bytes(skopeo.raw_manifest(newest.pinned))
    originals = {sig: sig.read_bytes() for sig in folder.glob("signature-*")}
    for sig in originals:
        skopeo.standalone_sign(manifest, newest.tag, stranger.fingerprint, sig,
                               gnupghome=stranger.home)
    line = one_error(released.invoke("release.verify", "v0.1.3"))
    assert f"{newest.tag}: no signature verifies with the team key" in line
    for sig, data in originals.items():
        sig.write_bytes(data)
    assert released.invoke("release.verify", "v0.1.3").returncode == 0
    # 4c. Another image pushed under the released tag: verify names it, and the digest.
    engine("tag", f"{image}:0.1.3-cpu-devel", newest.tag)
    engine("push", newest.tag)
    line = one_error(released.invoke("release.verify", "v0.1.3"))
    assert f"{newest.tag}: the registry's tag names" in line
    assert f"not the recorded {newest.digest[:19]} (overwritten" in line
    # 5. Roll back: the newest release is broken, so the last good one is v0.1.2; it runs
    # by digest (what the signed tag names), the broken one only with --insecure.
    res = released.invoke("release.last-good")
    assert res.returncode == 0, res.stderr
    assert "✗ v0.1.3: does not verify: " in res.stdout
    assert "last good release: v0.1.2" in res.stdout
    # Released with --no-evidence: judged by verification alone, and the line says so.
    assert "✓ v0.1.2: verifies (released without evidence: no matrix outcome recorded)" in res.stdout
    assert f"  {runtime}" in res.stdout
    assert f"docker run --rm {runtime.pinned}" in res.stdout
    line = one_error(released.invoke("images.run", "v0.1.3", "--", "true"))
    assert "v0.1.3 does not verify:" in line
    assert "--insecure" in line
    code = f'import {package}; print("running", {package}.__version__)'
    res = released.invoke("images.run", "v0.1.2", "--", "python", "-c", code)
    assert res.returncode == 0, res.stderr
    assert f"docker run --rm {runtime.pinned} python -c" in res.stdout
    assert "running 0.1.2" in res.stdout
    res = released.invoke("images.run", "v0.1.3", "--insecure", "--", "python", "-c",
                          code)
    assert res.returncode == 0, res.stderr
    assert "running it anyway (--insecure)" in res.stdout
    assert "running 0.1.3" in res.stdout


def interrupted_push(p: Project, tmp: Path) -> subprocess.CompletedProcess[str]:
    """`invoke release --push` with SIGTERM sent while the remote's pre-receive hook holds
    the git push (after the images were pushed and signed); the remote then takes it."""
    started, decision = tmp / "hook-started", tmp / "hook-decision"
    p.hook("pre-receive", f"touch {started}\nwhile [ ! -e {decision} ]; do sleep 0.05; done\n"
                          f'exit "$(cat {decision})"\n', remote=True)
    args = [*INVOKE, "release", "--part", "patch", "--push", "--no-evidence"]
    proc = subprocess.Popen(args, cwd=p.path, env=p.env, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + LONG
        while not started.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert started.exists(), proc.communicate()
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        decision.write_text("0")
        out, err = proc.communicate(timeout=LONG)
    finally:
        if not decision.exists():
            decision.write_text("1")
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def exported(key: GpgKey) -> str:
    import subprocess

    return subprocess.run(["gpg", "--armor", "--export", key.fingerprint],
                          env={"GNUPGHOME": str(key.home), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, check=True).stdout
