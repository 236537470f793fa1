"""Each image is built once: its labels (what it holds, read from inside it) are known before
the build, from the base, so no second pass exists only to set them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from torchship import config as tsconfig
from torchship.adapters.docker import Docker
from torchship.images.build import build, log_name

pytestmark = [pytest.mark.docker, pytest.mark.slow]

# BuildKit's plain progress starts every build with this step.
BUILD_STARTS = "load build definition from"


def test_a_first_build_on_a_machine_runs_buildkit_once(
        project: Path, engine: Docker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Nothing probed before on this "machine": neither the base nor an image like this one.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    cfg = tsconfig.load(project)
    [built] = build(cfg, variants=["runtime"], quiet=True, docker=engine)
    log = (project / "results" / "images" / log_name(built.spec)).read_text()
    assert log.count(BUILD_STARTS) == 1, "built more than once"
    # The labels set before the build are what the built image holds.
    out = engine("image", "inspect", "--format", "{{json .Config.Labels}}", built.tag)
    labels = json.loads(out.stdout)
    assert labels["io.torchship.torch"] == built.found.torch == "2.13.0+cpu"
    assert labels["io.torchship.python"] == built.found.python
    assert labels["io.torchship.cuda"] == "none"
