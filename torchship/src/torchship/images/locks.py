"""Locked dependencies per image: `invoke images.lock` writes docker/locks/<env>-<variant>.txt.

A lock is resolved *inside the pinned base* (pip's `--dry-run --report`, constrained to the
base's torch), so it lists exactly what the image adds on top of its base, each `name==version`.
Its header records a hash of the dependency list it was made from: when pyproject.toml's
dependencies change, the build refuses the stale lock rather than silently ignoring it.
Without a lock file the build installs the unlocked list (and says so in the manifest).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from torchship.config import VARIANTS, Config
from torchship.errors import ConfigError, TorchshipError
from torchship.images import toolwheel
from torchship.images.requirements import ca_bundle, requirements

LOCK_DIR = "docker/locks"
_INPUT = "# input: "


def wanted(config: Config, pyproject: Mapping[str, Any], variant: str) -> list[str]:
    """The unlocked dependency lines of a variant (torch left to the base)."""
    if variant == "runtime":
        return requirements(pyproject)
    build_requires = list(pyproject.get("build-system", {}).get("requires", []))
    return requirements(pyproject, extras=config.devel_extras) + build_requires


def input_hash(lines: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


def lock_path(config: Config, env: str, variant: str) -> Path:
    return config.root / LOCK_DIR / f"{env}-{variant}.txt"


def requirements_for(config: Config, pyproject: Mapping[str, Any], env: str,
                     variant: str) -> tuple[list[str], bool]:
    """The lines a build installs, and whether they come from a lock."""
    lines = wanted(config, pyproject, variant)
    path = lock_path(config, env, variant)
    if not path.is_file():
        return lines, False
    text = path.read_text().splitlines()
    recorded = next((ln[len(_INPUT):] for ln in text if ln.startswith(_INPUT)), None)
    if recorded != input_hash(lines):
        raise ConfigError(str(path.relative_to(config.root)),
                          "is stale: the dependencies in pyproject.toml changed since it was made",
                          hint="run `invoke images.lock`")
    return [ln for ln in text if ln.strip() and not ln.startswith("#")], True


_RESOLVE = r"""
set -eu
if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi
python -c 'import torch; print("torch==" + torch.__version__)' > /tmp/constraints.txt
printf '%s\n' "$TORCHSHIP_REQUIREMENTS" > /tmp/requirements.txt
if grep -q '[^[:space:]]' /tmp/requirements.txt; then
    python -m pip install --dry-run --quiet --disable-pip-version-check \
        --report /out/report.json -c /tmp/constraints.txt -r /tmp/requirements.txt
else
    echo '{"install": []}' > /out/report.json
fi
"""


def resolve(docker: Any, base: str, lines: Sequence[str], *,
            wheels: Sequence[Path] = ()) -> list[str]:
    """What pip would install on `base` for `lines`: `name==version`, sorted. `wheels`
    (the tool's, torchship.images.toolwheel) are installed as those files, listed first,
    as docker/install_deps.sh does."""
    with tempfile.TemporaryDirectory(prefix="tsimg-lock-") as tmp:
        os.chmod(tmp, 0o777)  # the base's user may not be root
        inside = [f"/tmp/tool-wheels/{w.name}" for w in wheels]
        argv = ["run", "--rm", "--network", "host", "-v", f"{tmp}:/out",
                "-e", "TORCHSHIP_REQUIREMENTS=" + "\n".join([*inside, *lines])]
        for wheel, there in zip(wheels, inside, strict=True):
            argv += ["-v", f"{wheel.resolve()}:{there}:ro"]
        ca = ca_bundle()
        if ca is not None:
            argv += ["-v", f"{ca.resolve()}:/run/secrets/ca:ro"]
        out = docker(*argv, "--entrypoint", "sh", base, "-c", _RESOLVE, check=False)
        report = Path(tmp) / "report.json"
        if out.returncode != 0 or not report.is_file():
            last = (out.stdout.strip().splitlines() or ["no output"])[-1]
            raise TorchshipError(f"resolving the dependencies on {base} failed: {last}")
        data = json.loads(report.read_text())
    return sorted(f"{item['metadata']['name']}=={item['metadata']['version']}"
                  for item in data.get("install", []))


def lock(config: Config, pyproject: Mapping[str, Any], *, docker: Any,
         envs: Sequence[str] | None = None) -> list[Path]:
    """Write the lock of every (env, variant), or of the envs named; return the files."""
    written = []
    for env, base in config.bases.items():
        if envs and env not in envs:
            continue
        for variant in VARIANTS:
            lines = wanted(config, pyproject, variant)
            tool = toolwheel.wheel_for(lines, source=config.tool_source) if variant == "devel" else None
            pinned = resolve(docker, base.ref(variant).pinned, lines,
                             wheels=[tool] if tool else [])
            path = lock_path(config, env, variant)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(
                f"# Locked by `invoke images.lock` for {env}/{variant}: what the image adds\n"
                f"# on its base {base.ref(variant).pinned}\n"
                f"{_INPUT}{input_hash(lines)}\n" + "".join(f"{ln}\n" for ln in pinned))
            written.append(path)
    return written
