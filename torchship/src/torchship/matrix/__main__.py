"""`python -m torchship.matrix [compare] [options]`: the same as `torchship matrix|compare`."""

from __future__ import annotations

import sys

from torchship.cli import main

args = sys.argv[1:]
raise SystemExit(main(args if args[:1] == ["compare"] else ["matrix", *args]))
