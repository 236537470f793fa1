"""Where this project installs torchship from, as pip arguments (one per line).

    python scripts/tool_source.py            # e.g. `torchship @ git+https://…@torchship-v0.2.0#subdirectory=torchship`

Reads `[tool.torchship.tool] source` in pyproject.toml, with the standard library only: it
runs before the tool is installed (scripts/setup_dev.sh, noxfile.py). The arguments extend
pip's own configuration (an extra index is `--extra-index-url`, which pip adds to the
indexes it has), never replace it. torchship validates the value (`invoke ci.generate`) and
turns it into the same arguments for the CI files and the devel image.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def source(root: Path = ROOT) -> str:
    """The recorded source ("index" when none is)."""
    with (root / "pyproject.toml").open("rb") as fh:
        data = tomllib.load(fh)
    value = data.get("tool", {}).get("torchship", {}).get("tool", {}).get("source", "index")
    return str(value)


def pip_args(root: Path = ROOT) -> list[str]:
    """What `pip install` adds beside the project to get torchship from its source."""
    text = source(root)
    if text == "index":
        return []
    if text.startswith("git+"):
        return [f"torchship @ {text}"]
    if text.startswith("./"):
        return ["-e", str(root / text)]
    return ["--extra-index-url", text]


if __name__ == "__main__":
    sys.stdout.write("".join(f"{arg}\n" for arg in pip_args()))
