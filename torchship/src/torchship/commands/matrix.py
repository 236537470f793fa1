"""`torchship matrix` and `torchship compare` (the template's `nox -s gpu_tests` and
`nox -s compare` run them): torchship.matrix.run parses their options."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def main(argv: Sequence[str], *, group: str = "matrix") -> int:
    from torchship.matrix.run import main as matrix_main

    return matrix_main(argv, root=Path.cwd(), what="compare" if group == "compare" else "gpu_tests")
