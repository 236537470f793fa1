"""Image build figures, measured in one run on the stand-in bases (docs/images.md):

- cold build (every step run: `--no-cache`) against a rebuild after a source-only change,
  for each variant, as a ratio (target: at most 10%);
- runtime image size against devel image size;
- the layers the two variants share;
- whether the devel image's dependency layer (which installs the torchship driving the
  build, as a wheel) stays cached when that wheel is made again from an unchanged tool.

    .venv/bin/python benchmarks/bench_images.py

Needs the engine and the stand-in bases (scripts/ci_services.sh, scripts/standin_bases.py).
Builds a copy of the template under a name of its own and removes its images at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

TOOL = Path(__file__).resolve().parents[1]      # torchship/, the tool
TEMPLATE = TOOL.parent                          # the template project beside it
sys.path.insert(0, str(TOOL / "src"))

from torchship import config as tsconfig  # noqa: E402  (the path above must come first)
from torchship.adapters.docker import Docker, require_engine  # noqa: E402
from torchship.images.build import Built, build, human_size, remove_images  # noqa: E402
from torchship.images.toolwheel import WHEELS  # noqa: E402
from torchship.testing.standins import (  # noqa: E402
    machine_registry,
    publish,
    write_local_config,
)
from torchship.testing.standins import tag as standin_tag  # noqa: E402
from torchship.testing.template import copy_template  # noqa: E402


def inspect(docker: Docker, ref: str, field: str) -> Any:
    return json.loads(docker("image", "inspect", "--format", f"{{{{json {field}}}}}", ref).stdout)


def main() -> int:
    docker = require_engine()
    reg = machine_registry()
    bases = publish(reg, docker)
    with tempfile.TemporaryDirectory(prefix="tsimg-bench-") as tmp:
        project = copy_template(TEMPLATE, Path(tmp) / "project")
        write_local_config(project / "torchship.local.toml", bases,
                           image=f"{reg.host}/tsimg-bench/mlproject")
        cfg = tsconfig.load(project)
        made: list[Built] = []
        try:
            print("cold builds (--no-cache) ...", flush=True)
            cold = {b.spec.variant: b for b in build(cfg, no_cache=True, quiet=True,
                                                     docker=docker)}
            made += cold.values()
            module = project / "src" / "mlproject" / "__init__.py"
            # A change never built before: BuildKit's cache is shared by every run.
            module.write_text(module.read_text() + f"\n# source-only change {uuid.uuid4()}\n")
            print("rebuilds after a source-only change ...", flush=True)
            warm = {b.spec.variant: b for b in build(cfg, quiet=True, docker=docker)}
            made += warm.values()
            report(docker, cold, warm, standin_tag("runtime"))
            print("\ndevel again, the tool's wheel made afresh (staged folder and wheel "
                  "cache gone, the tool unchanged) ...", flush=True)
            shutil.rmtree(project / WHEELS)
            os.environ["XDG_CACHE_HOME"] = str(Path(tmp) / "fresh-cache")
            [again] = build(cfg, variants=["devel"], quiet=True, docker=docker)
            made.append(again)
            deps = [s for s in again.ran if "install_deps.sh" in s]
            print(f"devel    {again.seconds:8.1f}s  steps run {len(again.ran)} of {again.steps}; "
                  f"dependency layer {'RAN AGAIN' if deps else 'cached'}")
        finally:
            remove_images({t for b in made for t in b.spec.tags}, docker=docker)
            for b in made:
                docker("rmi", b.image_id, check=False)
    return 0


def report(docker: Docker, cold: dict[str, Built], warm: dict[str, Built], base: str) -> None:
    """Print the figures."""
    run_l = inspect(docker, warm["runtime"].image_id, ".RootFS.Layers")
    dev_l = inspect(docker, warm["devel"].image_id, ".RootFS.Layers")
    shared = [x for x in run_l if x in set(dev_l)]
    base_l = inspect(docker, base, ".RootFS.Layers")
    base_size = int(inspect(docker, base, ".Size"))
    print()
    print(f"{'variant':8} {'cold':>9} {'rebuild':>9} {'ratio':>7}  steps run on rebuild")
    worst = 0.0
    for v in ("runtime", "devel"):
        ratio = warm[v].seconds / cold[v].seconds
        worst = max(worst, ratio)
        print(f"{v:8} {cold[v].seconds:8.1f}s {warm[v].seconds:8.1f}s {ratio:7.1%}  "
              f"{len(warm[v].ran)} of {warm[v].steps}")
    print(f"(target: rebuild <= 10% of cold; worst {worst:.1%})")
    print()
    rs, ds = warm["runtime"].size, warm["devel"].size
    print(f"size     runtime {human_size(rs)}  devel {human_size(ds)}  "
          f"runtime/devel {rs / ds:.0%}")
    what = (f"exactly the runtime base's layers, {human_size(base_size)}"
            if shared == base_l else "not the runtime base's layers")
    print(f"layers   runtime {len(run_l)}  devel {len(dev_l)}  shared {len(shared)} ({what})")
    print(f"         runtime's own layers on its base: {len(run_l) - len(base_l)}, "
          f"{human_size(warm['runtime'].size - base_size)}")


if __name__ == "__main__":
    raise SystemExit(main())
