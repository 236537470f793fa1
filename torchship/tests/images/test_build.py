"""Builds against the real engine, on the stand-in bases pinned in the session's registry."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import uuid
from dataclasses import replace
from importlib import metadata
from pathlib import Path

import pytest

from torchship import config as tsconfig
from torchship.adapters.docker import Docker
from torchship.images import toolwheel
from torchship.images.build import Built, build
from torchship.images.spec import ImageError
from torchship.testing.standins import PinnedBases

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def labels(engine: Docker, ref: str) -> dict[str, str]:
    out = engine("image", "inspect", "--format", "{{json .Config.Labels}}", ref)
    return dict(json.loads(out.stdout))


def layers(engine: Docker, ref: str) -> list[str]:
    out = engine("image", "inspect", "--format", "{{json .RootFS.Layers}}", ref)
    return list(json.loads(out.stdout))


def sh(engine: Docker, image: str, script: str) -> subprocess.CompletedProcess[str]:
    return engine("run", "--rm", "--network", "none", "--entrypoint", "sh", image, "-c", script,
                  check=False)


def test_both_variants_build_with_tags_labels_and_manifest(
    built: dict[str, Built], template: Path, engine: Docker, standin_bases: PinnedBases
) -> None:
    cfg = tsconfig.load(template)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=template, check=True,
                            capture_output=True, text=True).stdout.strip()
    for variant, base_ref in (("runtime", standin_bases.runtime), ("devel", standin_bases.devel)):
        b = built[variant]
        version = f"0.1.0-g{commit[:7]}"  # not at a release tag: the short sha is in the tag
        assert b.spec.tags == (f"{cfg.image}:{version}-cpu-{variant}",
                               f"{cfg.image}:{version}-{variant}")
        got = labels(engine, b.tag)
        assert got["org.opencontainers.image.version"] == "0.1.0"
        assert got["org.opencontainers.image.revision"] == commit
        assert got["org.opencontainers.image.base.digest"] == base_ref.split("@")[1]
        assert got["org.opencontainers.image.base.name"] == base_ref.split("@")[0]
        assert re.match(r"^\d{4}-\d\d-\d\dT", got["org.opencontainers.image.created"])
        # Read from inside the image, not copied from the configuration.
        assert got["io.torchship.torch"] == "2.13.0+cpu"
        assert got["io.torchship.python"].startswith("3.11.")
        assert got["io.torchship.cuda"] == "none"
        assert got["io.torchship.cudnn"] == "none"
        assert b.manifest is not None
        manifest = json.loads(b.manifest.read_text())
        assert manifest["size"] == b.size > 0
        assert manifest["layers"] == layers(engine, b.tag)
        assert any(p.startswith("numpy==") for p in manifest["pip_freeze"])
        assert manifest["fingerprint"]["torch"] == "2.13.0+cpu"
        assert manifest["fingerprint"]["container"]["variant"] == variant


def test_runtime_is_non_root_slim_and_healthy(built: dict[str, Built], engine: Docker,
                                              package: str) -> None:
    image = built["runtime"].tag
    assert sh(engine, image, "id -u").stdout.strip() not in ("", "0")
    for tool in ("gcc", "cc", "g++", "c++", "make", "pytest", "jupyter", "nox"):
        assert sh(engine, image, f"command -v {tool}").returncode != 0, f"{tool} in runtime"
    assert sh(engine, image, "python -c 'import pytest'").returncode != 0
    assert sh(engine, image, "echo $CUBLAS_WORKSPACE_CONFIG").stdout.strip() == ":4096:8"
    assert sh(engine, image, f"python -c 'import {package}'").returncode == 0
    # Installed with its metadata (unpacked from the wheel, not by pip): version, files.
    meta = ("from importlib.metadata import version, files; "
            f"print(version('{package}'), any(str(f).endswith('{package}/train.py') "
            f"for f in files('{package}')))")
    assert sh(engine, image, f'python -c "{meta}"').stdout.split() == ["0.1.0", "True"]
    # torchship is a development tool: the devel image has it, production does not.
    assert sh(engine, image, "python -c 'import torchship'").returncode != 0
    out = engine("image", "inspect", "--format", "{{json .Config.Healthcheck.Test}}", image)
    assert "health_check.py" in out.stdout
    health = engine("run", "--rm", "--network", "none", image, check=False)
    assert health.returncode == 0, health.stdout


def test_devel_has_the_tools_and_the_source(built: dict[str, Built], engine: Docker,
                                            package: str) -> None:
    image = built["devel"].tag
    for tool in ("gcc", "pytest", "nox", "jupyter-lab"):
        assert sh(engine, image, f"command -v {tool}").returncode == 0, f"{tool} not in devel"
    assert sh(engine, image, f"test -f /workspace/src/{package}/train.py").returncode == 0
    assert sh(engine, image, "test -e /workspace/.git").returncode != 0  # .dockerignore
    probe = f"import torch, pytest_benchmark, jupyterlab, {package}; print(torch.__version__)"
    assert sh(engine, image, f"python -c '{probe}'").stdout.strip().endswith("2.13.0+cpu")
    # The torchship that built the image, as the suites and the matrix use it there.
    assert sh(engine, image, "test -e /workspace/torchship").returncode != 0  # .dockerignore
    tool = sh(engine, image, "python -c 'import torchship, torchship.gpubench; "
                             "print(torchship.__version__)' && python -m torchship.envinfo")
    assert tool.returncode == 0, tool.stdout
    assert tool.stdout.split()[0] == metadata.version("torchship")


def _marker_bundle(tmp_path: Path) -> tuple[Path, str]:
    """The machine's CA bundle plus a certificate of our own: a marker that must never
    appear in an image, in a bundle pip can still use."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=tsimg-secret-marker", "-keyout", str(tmp_path / "k.pem"),
                    "-out", str(tmp_path / "c.pem")], check=True, capture_output=True)
    cert = (tmp_path / "c.pem").read_text()
    machine = Path(os.environ.get("PIP_CERT") or "/etc/ssl/certs/ca-certificates.crt")
    bundle = tmp_path / "bundle.pem"
    bundle.write_text((machine.read_text() if machine.is_file() else "") + cert)
    # A line of the certificate's body: found in a layer only if the bundle got in.
    return bundle, cert.splitlines()[5]


def test_ca_secret_is_in_no_layer_and_no_history(
    project: Path, engine: Docker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle, marker = _marker_bundle(tmp_path)
    for var in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PIP_CERT", str(bundle))
    cfg = tsconfig.load(project)
    # A dependency list of its own makes the pip steps (those that mount the secret) run
    # again, without --no-cache, which would leave second cache entries for other builds.
    fresh = f"numpy>=1.24\n# ca-test {uuid.uuid4().hex}"
    base = replace(cfg.bases["cpu"], build_args={"REQUIREMENTS": fresh})
    cfg = replace(cfg, bases={"cpu": base})
    [b] = build(cfg, variants=["runtime"], quiet=True, docker=engine)
    assert any("install_deps.sh" in step for step in b.ran)  # the secret was mounted
    history = engine("history", "--no-trunc", b.tag).stdout
    assert marker not in history
    assert str(bundle) not in history
    saved = tmp_path / "image.tar"
    engine("save", "--output", str(saved), b.tag)
    hits = []
    with tarfile.open(saved) as outer:
        for member in outer.getmembers():
            data = outer.extractfile(member)
            if data is None:
                continue
            blob = data.read()
            if marker.encode() in blob or str(bundle).encode() in blob:
                hits.append(member.name)
            if member.name.endswith("layer.tar"):
                with tarfile.open(fileobj=__import__("io").BytesIO(blob)) as layer:
                    names = layer.getnames()
                    assert not any(n.endswith("run/secrets/ca") for n in names), member.name
    assert hits == []


def test_a_source_only_change_rebuilds_only_the_source_layers(
    project: Path, engine: Docker, package: str
) -> None:
    module = project / "src" / package / "__init__.py"
    text = module.read_text()

    def change_source() -> dict[str, Built]:
        # Never built before, anywhere: BuildKit's cache is the engine's, shared by all runs.
        module.write_text(text + f"\n# a source-only change {uuid.uuid4().hex}\n")
        return {b.spec.variant: b for b in build(tsconfig.load(project), quiet=True,
                                                   docker=engine)}

    # The layers are not reproducible (pip writes files with the time of the install), so
    # the image this commit's content names may have been built before the cache's entries
    # were (another clone, an earlier run: the engine keeps both). Compared are two builds
    # of this test, each of a source never built before, both through today's cache.
    first = change_source()
    before = {v: layers(engine, b.image_id) for v, b in first.items()}
    after = change_source()
    for variant in ("runtime", "devel"):
        # The rebuild took over the tags and removed the image they named (no dangling).
        assert first[variant].image_id not in engine("image", "ls", "-aq",
                                                     "--no-trunc").stdout
        # Only steps at or after the source ran again; the dependency installs came from
        # the cache.
        ran = after[variant].ran
        assert ran
        assert not any("install_deps.sh" in step or "useradd" in step for step in ran)
        assert any("COPY src/" in step or "COPY . ." in step for step in ran), ran
        # So the layers up to the dependencies are the same, and only the last ones differ.
        old, new = before[variant], layers(engine, after[variant].image_id)
        assert len(old) == len(new)
        changed = [i for i, (a, b) in enumerate(zip(old, new, strict=True)) if a != b]
        assert changed, variant
        assert changed[0] >= len(new) - len(ran), (variant, changed, ran)
        # What the image holds is what it held (its dependency layers are the same), and
        # the labels say so.
        assert after[variant].found.packages == first[variant].found.packages
        assert after[variant].labels["io.torchship.torch"] == "2.13.0+cpu"


def test_an_unchanged_tool_keeps_the_devel_dependency_layer_cached(
    project: Path, engine: Docker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The devel image's dependency step installs the torchship that drives the build, from
    a wheel staged in the build context: the same tool must give the same wheel bytes, or
    every build would reinstall every dependency."""
    first = build(tsconfig.load(project), variants=["devel"], quiet=True, docker=engine)[0]
    before = layers(engine, first.image_id)
    # The staged wheel and the wheel cache gone: the wheel is built again from the source.
    shutil.rmtree(project / toolwheel.WHEELS)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "fresh-cache"))
    again = build(tsconfig.load(project), variants=["devel"], quiet=True, docker=engine)[0]
    assert again.ran == ()  # every step from the cache: the dependency layer too
    assert layers(engine, again.image_id) == before
    assert any(p.startswith("torchship==") for p in again.found.packages)


def test_declared_versions_that_disagree_are_refused(
    project: Path, engine: Docker
) -> None:
    cfg = tsconfig.load(project)
    wrong = replace(cfg, bases={"cpu": replace(cfg.bases["cpu"], torch="2.5.1")})
    with pytest.raises(ImageError, match=r"holds torch 2\.13\.0\+cpu \(declared 2\.5\.1\)"):
        build(wrong, variants=["runtime"], quiet=True, docker=engine)
    listed = engine("image", "ls", "--format", "{{.Repository}}", cfg.image).stdout.split()
    assert listed == []  # the refused image is not left behind


def test_a_failed_build_removes_what_it_built(project: Path, engine: Docker) -> None:
    cfg = tsconfig.load(project)
    base = cfg.bases["cpu"]
    missing = replace(base.devel, digest="sha256:" + "0" * 64)
    broken = replace(cfg, bases={"cpu": replace(base, devel=missing)})
    with pytest.raises(ImageError, match="base of cpu/devel is not available"):
        build(broken, quiet=True, docker=engine)  # runtime builds first, then devel fails
    assert engine("image", "ls", "--format", "{{.Repository}}", cfg.image).stdout.split() == []


def invoke(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=project,
                          capture_output=True, text=True, check=False)


@pytest.mark.parametrize(("edit", "message"), [
    ('bogus = 1\n', "error: tool.torchship.bogus: unknown key"),
    ('[bases.cpu]\nruntime = "Not A Ref!"\ndevel = "x"\n',
     "error: torchship.local.toml:bases.cpu.runtime: 'Not A Ref!' is not an image reference"),
    ('[bases.cpu]\nruntime = "127.0.0.1:1/x:1"\ndevel = "127.0.0.1:1/x:1"\n',
     "is not pinned by digest (run `invoke images.pin`)"),
])
def test_bad_configuration_is_one_clear_line(project: Path, edit: str, message: str) -> None:
    if edit.startswith("bogus"):
        pyproject = project / "pyproject.toml"
        pyproject.write_text(pyproject.read_text().replace("[tool.torchship]\n",
                                                           "[tool.torchship]\n" + edit))
    else:
        (project / "torchship.local.toml").write_text(edit)
    out = invoke(project, "images.build")
    assert out.returncode == 1
    assert message in out.stderr
    assert "Traceback" not in out.stderr + out.stdout
    assert len(out.stderr.strip().splitlines()) == 1


def test_a_missing_base_is_one_clear_line(project: Path, engine: Docker) -> None:
    local = project / "torchship.local.toml"
    text = local.read_text()
    digest = re.search(r"runtime = \"[^@]+@(sha256:[0-9a-f]{64})", text)
    assert digest
    local.write_text(text.replace(digest.group(1), "sha256:" + "1" * 64))
    out = invoke(project, "images.build", "--variant", "runtime")
    assert out.returncode == 1
    assert "error: base of cpu/runtime is not available" in out.stderr
    assert "not found in the registry" in out.stderr
    assert "Traceback" not in out.stderr + out.stdout
