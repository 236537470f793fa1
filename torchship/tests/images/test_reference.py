"""Image references, parsed in one place (torchship.images.reference): the configuration's
bases, the tags torchship builds and the registry lookups."""

from __future__ import annotations

import pytest

from torchship.errors import ConfigError
from torchship.images.reference import Reference, commit_tag

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(("text", "name", "tag", "digest", "host", "path"), [
    ("pytorch/pytorch:2.5.1-cuda12.1-cudnn9-runtime", "pytorch/pytorch",
     "2.5.1-cuda12.1-cudnn9-runtime", None, None, "pytorch/pytorch"),
    (f"pytorch/pytorch:2.5.1@{DIGEST}", "pytorch/pytorch", "2.5.1", DIGEST, None,
     "pytorch/pytorch"),
    (f"127.0.0.1:5000/stand-in/pytorch@{DIGEST}", "127.0.0.1:5000/stand-in/pytorch", None,
     DIGEST, "127.0.0.1:5000", "stand-in/pytorch"),
    ("ghcr.io/team/app:0.1.0-g1a2b3c4-cpu-devel", "ghcr.io/team/app",
     "0.1.0-g1a2b3c4-cpu-devel", None, "ghcr.io", "team/app"),
    ("localhost/app", "localhost/app", None, None, "localhost", "app"),
    ("ubuntu", "ubuntu", None, None, None, "ubuntu"),
    ("team.app/x", "team.app/x", None, None, "team.app", "x"),
])
def test_parse_splits_every_part(text: str, name: str, tag: str | None, digest: str | None,
                                 host: str | None, path: str) -> None:
    ref = Reference.parse(text)
    assert (ref.name, ref.tag, ref.digest, ref.host, ref.path) == (name, tag, digest, host, path)
    assert str(ref) == text


def test_pinned_prefers_the_digest_and_local_registries_are_plain_http() -> None:
    ref = Reference.parse(f"127.0.0.1:5000/x:1@{DIGEST}")
    assert ref.pinned == f"127.0.0.1:5000/x@{DIGEST}"
    assert ref.local_http
    assert Reference.parse("localhost:5000/x:1").local_http
    assert not Reference.parse("registry.example.com/x:1").local_http
    assert not Reference.parse("x:1").local_http
    assert Reference.parse("x:1").pinned == "x:1"


@pytest.mark.parametrize("text", ["Not A Ref!", "UPPER/case:1", "x@sha256:short", "x:",
                                  "/leading", "x:tag with space"])
def test_what_is_not_a_reference_is_one_error_naming_its_key(text: str) -> None:
    with pytest.raises(ConfigError, match=r"^bases\.cpu\.runtime: .* is not an image reference"):
        Reference.parse(text, key="bases.cpu.runtime")


def test_commit_tag_names_the_commit_environment_and_variant() -> None:
    """CI's per-commit tag: 12 hex digits of the commit, the environment, the variant; a tag
    Reference accepts beside any image name."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    assert commit_tag(commit, "cu128", "devel") == "sha-0123456789ab-cu128-devel"
    assert commit_tag(commit[:12], "cpu", "runtime") == "sha-0123456789ab-cpu-runtime"
    assert commit_tag(commit, "rocm6.2+x", "runtime") == "sha-0123456789ab-rocm6.2-x-runtime"
    ref = Reference.parse(f"ghcr.io/team/mlproject:{commit_tag(commit, 'cu128', 'devel')}")
    assert ref.tag == "sha-0123456789ab-cu128-devel"


@pytest.mark.parametrize("commit", ["HEAD", "0123456789a", "0123456789ABCDEF", "v1.2.3"])
def test_commit_tag_refuses_what_is_not_a_commit_id(commit: str) -> None:
    with pytest.raises(ConfigError, match="is not a commit id"):
        commit_tag(commit, "cu128", "devel")
