"""Helpers for the matrix tests: a project copy pointing at the stand-in bases, image builds.

`dockerfile_builder` builds docker/Dockerfile's devel and runtime targets for one
environment straight through the BuildKit CLI. It is the matrix's Builder for tests until
`torchship.images.build` is available on the branch, and keeps the images the tests build
under one prefix so they can be removed.
"""

from __future__ import annotations

import os
from pathlib import Path

import tomllib

from torchship import config as configmod
from torchship.dockercli import Docker

PREFIX = "tsmx-test"
CA_CANDIDATES = ("PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")


def _ca_bundle() -> str | None:
    for var in CA_CANDIDATES:
        if os.environ.get(var) and Path(os.environ[var]).is_file():
            return os.environ[var]
    system = Path("/etc/ssl/certs/ca-certificates.crt")
    return str(system) if system.is_file() else None


def requirements(root: Path, *extras: str) -> str:
    """The project's dependencies plus `extras`, torch left out (the base brings it)."""
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    lines = list(project.get("dependencies", []))
    for extra in extras:
        lines += project.get("optional-dependencies", {}).get(extra, [])
    return "\n".join(x for x in lines if not x.startswith("torch"))


class DockerfileBuilder:
    """Build (env, variant) from docker/Dockerfile; tags `tsmx-test/<project>:<env>-<variant>`."""

    def __init__(self, docker: Docker, *, prefix: str = PREFIX) -> None:
        self.docker = docker
        self.prefix = prefix
        self.built: list[str] = []

    def __call__(self, cfg: configmod.Config, env: str, variant: str) -> str:
        base = cfg.bases[env]
        tag = f"{self.prefix}/{cfg.root.name.lower()}:{env}-{variant}"
        args = ["--target", variant, "--network", "host", "-t", tag,
                "-f", str(cfg.root / cfg.dockerfile),
                "--build-arg", f"RUNTIME_BASE={base.runtime.pinned}",
                "--build-arg", f"DEVEL_BASE={base.devel.pinned}",
                "--build-arg", f"REQUIREMENTS={requirements(cfg.root)}",
                "--build-arg", f"DEVEL_REQUIREMENTS={requirements(cfg.root, 'test')}",
                "--build-arg", f"TORCHSHIP_ENV={env}"]
        ca = _ca_bundle()
        if ca:
            args += ["--secret", f"id=ca,src={ca}"]
        self.docker(*self.docker.build_argv[1:], *args, str(cfg.root), timeout=1800)
        self.built.append(tag)
        return tag

    def remove(self) -> None:
        for tag in self.built:
            self.docker("rmi", "--no-prune", tag, check=False)
