"""invoke entry point: the task collection lives in the torchship package (`invoke --list`)."""

import sys
from pathlib import Path

# Work from a fresh clone before the package is installed.
sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))

from torchship.tasks import ns

__all__ = ["ns"]
