"""The pure parts: tags, requirements, version checks, step counting, secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from torchship.config import Base
from torchship.errors import ConfigError
from torchship.images import buildkit
from torchship.images.probe import (
    Found,
    disagreements,
    layer_key,
    own_version,
    probed_layers,
    store_layers,
)
from torchship.images.reference import Reference
from torchship.images.requirements import requirements, secret_args
from torchship.images.spec import ImageSpec, image_tags, tag_version


def test_tags_for_default_and_other_environments() -> None:
    assert image_tags("r/app", "1.2.0", "cu121", "runtime", default_env="cu121") == (
        "r/app:1.2.0-cu121-runtime", "r/app:1.2.0-runtime")
    assert image_tags("r/app", "1.2.0", "cu118", "devel", default_env="cu121") == (
        "r/app:1.2.0-cu118-devel",)


def test_tag_version_carries_the_short_sha_off_a_release() -> None:
    assert tag_version("1.2.0", revision="0123456789abcdef", at_release=True) == "1.2.0"
    assert tag_version("1.2.0", revision="0123456789abcdef", at_release=False) == "1.2.0-g0123456"


def test_requirements_leave_torch_to_the_base_and_follow_self_references() -> None:
    pyproject = {"project": {
        "name": "My_Proj", "dependencies": ["numpy>=1.24", "torch==2.13.0"],
        "optional-dependencies": {"torch": ["torch==2.13.0"], "test": ["pytest>=8"],
                                  "dev": ["my-proj[torch,test]", "ruff"]}}}
    assert requirements(pyproject) == ["numpy>=1.24"]
    assert requirements(pyproject, extras=["dev"]) == ["numpy>=1.24", "pytest>=8", "ruff"]
    with pytest.raises(ConfigError, match="nope"):
        requirements(pyproject, extras=["nope"])


def test_versions_found_in_the_image_are_checked_against_the_declared_ones() -> None:
    ref = Reference("r/b", "t", "sha256:" + "0" * 64)
    base = Base("cpu", ref, ref, torch="2.13.0", cuda="none", python="3.11")
    ok = Found(python="3.11.2", torch="2.13.0+cpu", cuda=None, cudnn=None)
    assert disagreements(base, ok) == []
    wrong = Found(python="3.12.1", torch="2.5.1+cu121", cuda="12.1", cudnn="90100")
    assert disagreements(base, wrong) == [
        "torch 2.5.1+cu121 (declared 2.13.0)", "cuda 12.1 (declared none)",
        "python 3.12.1 (declared 3.11)"]
    assert disagreements(Base("x", ref, ref, cuda="12.1"), Found("3.11", "2", "12.10", None))


def test_a_build_s_steps_are_read_by_the_one_buildkit_reader() -> None:
    out = "\n".join([
        "#1 [internal] load build definition from Dockerfile", "#1 DONE 0.0s",
        "#4 [deps 1/2] FROM r/b@sha256:00", "#4 CACHED",
        "#5 [deps 2/2] RUN pip install x", "#5 CACHED",
        "#6 [runtime 1/2] COPY src/ src/", "#6 DONE 0.1s",
        "#7 [runtime 2/2] RUN pip install .", "#7 DONE 1.0s",
    ])
    reader = buildkit.read(out)
    assert reader.counts() == (3, 1)
    assert reader.ran() == ("[runtime 1/2] COPY src/ src/", "[runtime 2/2] RUN pip install .")


def test_a_ca_bundle_named_by_the_environment_becomes_a_secret(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    assert secret_args({"SSL_CERT_FILE": str(ca)}) == ["--secret", f"id=ca,src={ca}"]
    assert secret_args({"PIP_CERT": str(tmp_path / "missing")}) == []
    assert secret_args({}) == []


def _spec() -> ImageSpec:
    ref = Reference.parse("r/base:1@sha256:" + "a" * 64, key="k")
    return ImageSpec("cpu", "runtime", Base("cpu", ref, ref), ("r/app:1-runtime",))


def _info(layers: list[str], *, env: tuple[str, ...] = ("A=1",), own: str | None = "1",
          user: str = "app") -> dict[str, object]:
    labels = {} if own is None else {"io.torchship.source-layers": own}
    return {"RootFS": {"Layers": layers}, "Config": {"Env": list(env), "User": user,
                                                     "Labels": labels}}


def test_layer_key_ignores_only_the_declared_source_layers() -> None:
    spec = _spec()
    key = layer_key(spec, _info(["base", "deps", "src1"]))
    assert layer_key(spec, _info(["base", "deps", "src2"])) == key  # a source change
    assert layer_key(spec, _info(["base", "deps2", "src1"])) != key  # a dependency change
    assert layer_key(spec, _info(["base2", "deps", "src1"])) != key  # another base
    assert layer_key(spec, _info(["base", "deps", "src1"], env=("A=2",))) != key
    assert layer_key(spec, _info(["base", "deps", "src1"], user="root")) != key
    # Undeclared (or nonsense): every layer counts.
    assert layer_key(spec, _info(["base", "deps", "s1"], own=None)) != layer_key(
        spec, _info(["base", "deps", "s2"], own=None))
    assert layer_key(spec, _info(["base", "deps", "s1"], own="x")) != layer_key(
        spec, _info(["base", "deps", "s2"], own="x"))


def test_a_probe_is_reused_for_the_same_layers_with_the_own_entry_current(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    found = Found("3.11.2", "2.13.0+cpu", None, None,
                  packages=("My_Project==0.1.0", "numpy==2.0.0"), fingerprint={"x": 1})
    own = own_version({"project": {"name": "my-project", "version": "0.1.0"}})
    assert own == ("my-project", "0.1.0")
    store_layers("layers-k", found, own)
    assert probed_layers("layers-k", own) == found
    assert probed_layers("layers-other", own) is None
    # A new project version: its entry cannot be known without looking, so no reuse.
    assert probed_layers("layers-k", ("my-project", "0.2.0")) is None
    # A dynamic version: never reused, never stored.
    assert own_version({"project": {"name": "p", "dynamic": ["version"]}}) is None
    assert probed_layers("layers-k", None) is None


def test_a_failed_build_names_the_steps_own_error() -> None:
    from torchship.errors import CommandFailed
    from torchship.images.build import _build_error

    out = "\n".join([
        "#6 3.088 ERROR: Could not find a version that satisfies the requirement x~=0.2",
        "#6 3.089 ERROR: No matching distribution found for x~=0.2",
        "#6 ERROR: executor failed running [/bin/sh -c sh /tmp/install_deps.sh]: exit code: 1",
        "executor failed running [/bin/sh -c sh /tmp/install_deps.sh]: exit code: 1",
    ])
    assert _build_error(_spec(), CommandFailed(["docker"], 1, out)).render() == (
        "building cpu/runtime failed: Could not find a version that satisfies the requirement "
        "x~=0.2")
    last = out.splitlines()[-1]
    assert _build_error(_spec(), CommandFailed(["docker"], 1, last)).render() == (
        f"building cpu/runtime failed: {last}")


def test_a_failed_fingerprint_is_never_remembered(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A fingerprint that could not run in the image (once: envinfo importing torchship
    there) is probed again next build, not served from the cache for ever."""
    from torchship.images.probe import cached_probe, store_probe

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    own = ("my-project", "0.1.0")
    failed = Found("3.11.2", "2.13.0+cpu", None, None, packages=("my-project==0.1.0",),
                   fingerprint={"error": "ModuleNotFoundError('torchship')"})
    store_probe("k", failed)
    store_layers("layers-k", failed, own)
    assert cached_probe("k") is None
    assert probed_layers("layers-k", own) is None
    good = Found("3.11.2", "2.13.0+cpu", None, None, packages=("my-project==0.1.0",),
                 fingerprint={"torch": "2.13.0+cpu"})
    store_probe("k", good)
    assert cached_probe("k") == Found("3.11.2", "2.13.0+cpu", None, None,
                                      fingerprint={"torch": "2.13.0+cpu"})


def test_the_probe_keys_follow_the_fingerprints_code(monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    from torchship import envinfo
    from torchship.images import probe

    spec = _spec()
    info = {"Config": {"Env": ["A=1"]}, "RootFS": {"Layers": ["sha256:1"]}}
    before = probe.probe_key(spec, {}, "FROM x"), layer_key(spec, info)
    changed = tmp_path / "envinfo.py"
    changed.write_text(Path(envinfo.__file__).read_text() + "\n# changed\n")
    monkeypatch.setattr(envinfo, "__file__", str(changed))
    assert probe.probe_key(spec, {}, "FROM x") != before[0]
    assert layer_key(spec, info) != before[1]


def test_a_lookaside_store_is_a_folder_not_a_web_address(template_root: Path) -> None:
    """skopeo writes signatures into the store: an http(s) URL (what the verifying machines
    read) was taken for a folder named `https:`."""
    from dataclasses import replace

    from torchship import config as tsconfig
    from torchship.images.sign import Store

    cfg = tsconfig.load(template_root, use_local=False)
    at = lambda where: replace(cfg, signatures=replace(cfg.signatures, lookaside=where))  # noqa: E731
    assert Store.of(at("file:///srv/sigstore")).root == Path("/srv/sigstore")
    assert Store.of(at("sigstore")).root == cfg.root / "sigstore"
    with pytest.raises(ConfigError, match="signatures are written to and read from a folder"):
        Store.of(at("https://sigs.example.com/store"))


@pytest.mark.parametrize(("line", "name"), [
    ("Foo__Bar.baz>=1 ; python_version >= '3.11'", "foo-bar-baz"),
    ("numpy==2.1.0  # pinned by the lock", "numpy"),
    ("demo[test, torch]", "demo"),
    ("torchship @ git+file:///srv/t.git@v1#subdirectory=torchship", "torchship"),
    ("# a comment", None), ("-e .", None), ("", None), ("numpy=1.0", None),
])
def test_requirement_lines_are_read_by_packaging(line: str, name: str | None) -> None:
    from torchship.images.requirements import requirement_name

    assert requirement_name(line) == name
