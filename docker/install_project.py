"""Build the project's wheel and install it under a staging root, in one Python process.

Run in the Dockerfile's throwaway `wheel` stage; the runtime stage then copies the staging
root over `/` (one COPY, no container, no pip). This is what `pip wheel` + `pip install
--no-deps --no-compile` do, minus their fixed cost (pip's import, and a fresh interpreter
for each PEP 517 hook), which is most of a source-only rebuild of the runtime image:

1. the PEP 517 backend that pyproject.toml names (without build isolation: its
   requirements are installed in the stage, as for `pip wheel --no-build-isolation`)
   builds the wheel;
2. a wheel that is only a root package tree (no `.data/` folder, no console scripts) is
   unpacked into site-packages as any installer would (its RECORD is valid there as it
   is) and marked with INSTALLER; any other wheel goes to pip, which knows the rest.

    python install_project.py SOURCE_DIR STAGING_ROOT
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python < 3.11: the copy pip vendors
    from pip._vendor import tomli as tomllib  # type: ignore[no-redef]  # same API

INSTALLER = "torchship"


def build_wheel(source: Path, out: Path) -> Path:
    """The wheel of the project at `source`, built by its own backend, in this process."""
    system = tomllib.loads((source / "pyproject.toml").read_text()).get("build-system", {})
    name = system.get("build-backend", "setuptools.build_meta:__legacy__")
    sys.path[:0] = [str(source / p) for p in system.get("backend-path", [])]
    module, _, attr = name.partition(":")
    backend = importlib.import_module(module)
    for part in filter(None, attr.split(".")):
        backend = getattr(backend, part)
    os.chdir(source)  # backends build the project in the current directory
    return out / str(backend.build_wheel(str(out)))


def simple(wheel: zipfile.ZipFile) -> bool:
    """True when unpacking into site-packages is the whole installation."""
    names = wheel.namelist()
    info = next(n.split("/")[0] for n in names if n.split("/")[0].endswith(".dist-info"))
    meta = wheel.read(f"{info}/WHEEL").decode()
    entry = (wheel.read(f"{info}/entry_points.txt").decode()
             if f"{info}/entry_points.txt" in names else "")
    return ("Root-Is-Purelib: true" in meta
            and not any(n.split("/")[0].endswith(".data") for n in names)
            and "[console_scripts]" not in entry and "[gui_scripts]" not in entry)


def install(wheel_path: Path, root: Path) -> None:
    """Install `wheel_path` as if into this interpreter, under `root`."""
    with zipfile.ZipFile(wheel_path) as wheel:
        if not simple(wheel):
            subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index",
                            "--no-compile", "--root", str(root), str(wheel_path)], check=True)
            return
        site = root / Path(sysconfig.get_paths()["purelib"]).relative_to("/")
        wheel.extractall(site)
        info = next(n.split("/")[0] for n in wheel.namelist()
                    if n.split("/")[0].endswith(".dist-info"))
    (site / info / "INSTALLER").write_text(INSTALLER + "\n")
    with (site / info / "RECORD").open("a") as record:
        record.write(f"{info}/INSTALLER,,\n")
    print(f"installed {info.removesuffix('.dist-info')} into {site}")


def main() -> int:
    source, root = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
    with tempfile.TemporaryDirectory() as out:
        install(build_wheel(source, Path(out)), root)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
