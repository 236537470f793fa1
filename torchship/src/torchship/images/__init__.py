"""The project's images. A reader looks for:

- reference: image references, parsed in one place;
- spec: what to build (env x variant), tags, labels, provenance;
- requirements: what the dependency steps install, and the secrets pip uses there;
  locks: those lines pinned per image (docker/locks/);
- toolwheel: the torchship that drives a build, as a wheel for the devel image;
- probe: what a built image holds, read from inside it, and checked;
- build: BuildKit builds through the docker CLI, manifests, removal;
- publish: push and pull-back, and the release's image step;
- registry: digests from registries; pin: bases pinned by digest.

Importing this package imports none of docker or torch.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(name: str) -> Path:
    """Where torchship keeps what it can always recompute: $XDG_CACHE_HOME/torchship/NAME."""
    home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(home) / "torchship" / name
