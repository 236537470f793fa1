"""The stand-in bases: cached images, pushed to the session's registry, pinned by digest."""

from __future__ import annotations

import re

from torchship.adapters.docker import Docker
from torchship.images.registry import resolve_digest
from torchship.testing.standins import PinnedBases, Registry, apt_mirror


def test_mirror_comes_from_the_machines_apt_sources() -> None:
    assert re.match(r"^https?://", apt_mirror())


def test_standins_are_pinned_in_the_sessions_registry(
    engine: Docker, registry: Registry, standin_bases: PinnedBases
) -> None:
    for ref in (standin_bases.runtime, standin_bases.devel):
        assert ref.startswith(f"{registry.host}/")
        name, digest = ref.split("@")
        assert digest == resolve_digest(name)
        # The docker SDK's way (what a remote registry is asked with) agrees.
        assert digest == resolve_digest(name, via_engine=True)
    probe = "import torch, sys; print(torch.__version__, sys.version_info[:2])"
    out = engine("run", "--rm", "--network", "none", standin_bases.runtime, "python", "-c", probe)
    assert out.stdout.splitlines()[-1] == "2.13.0+cpu (3, 11)"
