"""`images.lock`: dependencies resolved inside the pinned base, used by builds, stale refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from torchship import config as tsconfig
from torchship.adapters.docker import Docker
from torchship.config import read_toml
from torchship.errors import ConfigError
from torchship.images.build import build, build_args
from torchship.images.locks import lock, lock_path
from torchship.images.spec import plan, provenance

pytestmark = [pytest.mark.docker]


def test_locks_pin_what_the_image_adds_and_builds_use_them(
    project: Path, engine: Docker
) -> None:
    cfg = tsconfig.load(project)
    pyproject = read_toml(project / "pyproject.toml")
    written = lock(cfg, pyproject, docker=engine)
    assert written == [lock_path(cfg, "cpu", "runtime"), lock_path(cfg, "cpu", "devel")]
    devel = [ln for ln in written[1].read_text().splitlines() if not ln.startswith("#")]
    assert all("==" in ln for ln in devel)
    names = {ln.split("==")[0].lower() for ln in devel}
    assert {"pytest", "nox", "jupyterlab"} <= names
    assert "torch" not in names
    assert "numpy" not in names
    runtime = [ln for ln in written[0].read_text().splitlines() if not ln.startswith("#")]
    assert runtime == []  # numpy, the only runtime dependency, is in the base already

    specs = {s.variant: s for s in plan(cfg, provenance(cfg))}
    assert build_args(cfg, specs["devel"], pyproject)["DEVEL_REQUIREMENTS"].splitlines() == devel
    # An empty lock builds (the dependency step has nothing to install).
    [b] = build(cfg, variants=["runtime"], quiet=True, docker=engine)
    assert b.locked
    assert b.manifest is not None


def test_a_stale_lock_is_refused_with_the_fix(project: Path, engine: Docker) -> None:
    cfg = tsconfig.load(project)
    lock(cfg, read_toml(project / "pyproject.toml"), docker=engine)
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('dependencies = ["numpy>=1.24"]',
                                                       'dependencies = ["numpy>=1.24", "tqdm"]'))
    with pytest.raises(ConfigError, match=r"docker/locks/cpu-runtime\.txt: is stale") as err:
        build(tsconfig.load(project), variants=["runtime"], quiet=True, docker=engine)
    assert err.value.render().endswith("(run `invoke images.lock`)")
