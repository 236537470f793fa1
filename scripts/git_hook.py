#!/usr/bin/env python3
"""Entry of torchship's git hooks (see .pre-commit-config.yaml): commit-msg FILE | check-env."""

import sys
from pathlib import Path

# The hooks must work before the project is installed (a fresh clone) and in any venv.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from torchship.hooks import main

if __name__ == "__main__":
    sys.exit(main())
