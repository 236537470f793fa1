"""The template ships official PyTorch bases pinned by digest, and says where each came from."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from torchship import config

HEX64 = re.compile(r"^sha256:[0-9a-f]{64}$")


@pytest.fixture
def shipped(template_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> config.Config:
    """The template's configuration as committed: its pyproject.toml alone, no local override."""
    shutil.copy(template_root / "pyproject.toml", tmp_path / "pyproject.toml")
    monkeypatch.delenv("TORCHSHIP_LOCAL_CONFIG", raising=False)
    return config.load(tmp_path)


def test_the_template_pins_official_runtime_and_devel_bases_by_digest(shipped: config.Config) -> None:
    assert shipped.bases, "the template ships no pinned environment"
    assert shipped.default_env in shipped.bases
    for env, base in shipped.bases.items():
        for variant, ref in (("runtime", base.runtime), ("devel", base.devel)):
            assert ref.name == "pytorch/pytorch", f"{env}.{variant} is not an official image"
            assert ref.digest is not None
            assert HEX64.match(ref.digest), f"{env}.{variant}: {ref}"
            assert ref.tag is not None
            assert ref.tag.endswith(f"-{variant}"), f"{env}.{variant}: {ref}"
            assert ref.tag.startswith(f"{base.torch}-cuda{base.cuda}-"), \
                f"{env}.{variant}: the tag {ref.tag} disagrees with torch {base.torch}, cuda {base.cuda}"


def test_each_shipped_digest_names_its_sources(shipped: config.Config, template_root: Path) -> None:
    """A comment in pyproject.toml and docs/images.md both name where each digest came from."""
    pyproject = (template_root / "pyproject.toml").read_text()
    docs = (template_root / "torchship" / "docs" / "images.md").read_text()
    comments = "\n".join(line for line in pyproject.splitlines() if line.lstrip().startswith("#"))
    for base in shipped.bases.values():
        for ref in (base.runtime, base.devel):
            assert ref.digest is not None
            short = ref.digest.removeprefix("sha256:")[:8]
            # The comment names the digest and at least two public projects beside it.
            said = [line for line in comments.splitlines() if short in line]
            assert said, f"no comment in pyproject.toml says where {short} came from"
            assert short in docs, f"docs/images.md does not name the sources of {short}"
