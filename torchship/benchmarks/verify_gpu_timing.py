"""The suite's timing against torch.utils.benchmark and triton's do_bench, in one run.

    python benchmarks/verify_gpu_timing.py                    # GPU when present, else CPU
    python benchmarks/verify_gpu_timing.py --case matmul-bf16-8192 --tolerance 0.05

Prints case, suite, torch.utils.benchmark, do_bench and fraction of peak; exits 1 when the
suite's median is more than the tolerance away from a reference. The logic lives in
torchship.gpubench.verify (tested there).
"""

from __future__ import annotations

import sys

from torchship.gpubench.verify import main

if __name__ == "__main__":
    sys.exit(main())
