"""Build the stand-in PyTorch bases, push them to this machine's registry, pin them.

    .venv/bin/python scripts/standin_bases.py          # writes ./torchship.local.toml

Cached: a second run only checks tags (seconds). See docs/images.md.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from torchship.testing.standins import main

raise SystemExit(main())
