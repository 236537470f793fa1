"""Can this torch build, driver and GPU run the GPU cases? Decided before any of them runs.

Facts are gathered once (`gather`), the verdict is a pure function of them (`assess`), so
every branch is testable on a machine without a GPU. The verdict says whether GPU cases
run, are skipped (nothing to run them on: a CPU-only torch, no GPU), or must fail (a GPU is
there but this environment cannot use it: a misbuilt image is an error, not a skip).
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

# Oldest Linux driver per CUDA major under minor-version compatibility (what the pip/conda
# torch builds rely on). Source: NVIDIA, "CUDA Compatibility", Minor Version Compatibility,
# table 1 (docs.nvidia.com/deploy/cuda-compatibility/minor-version-compatibility.html):
# CUDA 11.x >= 450.80.02, 12.x >= 525.60.13, 13.x >= 580.
MIN_DRIVER: dict[int, tuple[int, ...]] = {11: (450, 80, 2), 12: (525, 60, 13), 13: (580,)}

REMEDIES = ("pass the GPU into the container (`docker run --gpus all`, NVIDIA Container "
            "Toolkit installed), or run where `nvidia-smi` lists a GPU")


@dataclass(frozen=True)
class Facts:
    """What the environment says about CUDA, as plain data."""

    torch_cuda: str | None          # torch.version.cuda: None for a CPU-only build
    cuda_available: bool            # torch.cuda.is_available()
    device_count: int
    capability: tuple[int, int] | None  # of the GPU the cases use (device 0)
    device_name: str | None
    arch_list: tuple[str, ...]      # torch.cuda.get_arch_list(): what kernels the build has
    driver: str | None              # kernel driver version, e.g. "570.86.15"
    gpu_present: bool               # an NVIDIA device node is here, even if torch cannot use it
    init_warning: str | None = None  # what torch said while failing to initialise CUDA
    host_driver: bool = False       # the kernel has the NVIDIA driver (/proc/driver/nvidia)


@dataclass(frozen=True)
class Verdict:
    """run: the GPU cases can run; else skip (True) or fail (False), for `reason`."""

    run: bool
    skip: bool
    reason: str


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text))


def arch_supported(capability: tuple[int, int], arch_list: tuple[str, ...]) -> bool:
    """Has the build a kernel for this GPU? Exact SASS, SASS of the same major and a lower
    minor (binary compatible), or PTX of an older-or-equal architecture (JIT-compiled)."""
    major, minor = capability
    for arch in arch_list:
        m = re.fullmatch(r"(sm|compute)_(\d+)(\d)([af]?)", arch)
        if not m:
            continue
        kind, a_major, a_minor, suffix = m[1], int(m[2]), int(m[3]), m[4]
        if suffix:  # sm_90a, sm_100f: architecture-specific, runs only on that exact part
            if (a_major, a_minor) == capability:
                return True
            continue
        if kind == "sm" and a_major == major and a_minor <= minor:
            return True
        if kind == "compute" and (a_major, a_minor) <= capability:
            return True
    return False


def assess(facts: Facts, *, require: bool = False) -> Verdict:
    """The verdict for `facts`; `require` turns "nothing to run on" into a failure too."""
    def nothing(reason: str) -> Verdict:
        return Verdict(False, not require, reason + ("" if not require else
                                                     " (TORCHSHIP_REQUIRE_GPU is set)"))

    if facts.torch_cuda is None:
        # Not a failure even beside a GPU: a CPU image of the matrix runs on GPU hosts too.
        beside = " although an NVIDIA GPU is present" if facts.gpu_present else ""
        return nothing(f"torch has no CUDA compiled in (a CPU-only build){beside}; "
                       "GPU cases need a CUDA build of torch")
    if not facts.cuda_available or facts.device_count == 0:
        said = f": torch said {facts.init_warning!r}" if facts.init_warning else ""
        cuda_major = _version(facts.torch_cuda)[0]
        floor = MIN_DRIVER.get(cuda_major)
        if facts.driver and floor and _version(facts.driver) < floor:
            return Verdict(False, False,
                           f"NVIDIA driver {facts.driver} is too old for torch's CUDA "
                           f"{facts.torch_cuda} (needs >= {'.'.join(map(str, floor))}); "
                           "update the driver or use an image with an older CUDA")
        if facts.gpu_present:
            return Verdict(False, False, "an NVIDIA GPU is present but torch cannot use it"
                           f"{said}; check the driver against CUDA {facts.torch_cuda}")
        if facts.host_driver:
            return nothing("the host has the NVIDIA driver but no GPU device is visible here "
                           f"(not passed into the container?){said}; {REMEDIES}")
        return nothing(f"no CUDA device visible to torch{said}; {REMEDIES}")
    if facts.driver:
        floor = MIN_DRIVER.get(_version(facts.torch_cuda)[0])
        if floor and _version(facts.driver) < floor:
            return Verdict(False, False,
                           f"NVIDIA driver {facts.driver} is older than CUDA "
                           f"{facts.torch_cuda} supports (>= {'.'.join(map(str, floor))})")
    if facts.capability is not None and not arch_supported(facts.capability, facts.arch_list):
        cc = "{}.{}".format(*facts.capability)
        return Verdict(False, False,
                       f"{facts.device_name} (compute capability {cc}) is not supported by "
                       f"this torch build (kernels for: {' '.join(facts.arch_list) or 'none'}); "
                       "use a torch build whose arch list covers it")
    return Verdict(True, False, f"{facts.device_name} ready (CUDA {facts.torch_cuda}, "
                   f"driver {facts.driver or 'unknown'})")


def _gpu_present() -> bool:
    # Device nodes exist in a container only when a GPU was passed in (--gpus); the
    # driver's /proc entry is visible whether or not it was.
    return any(Path("/dev").glob("nvidia[0-9]*"))


def _host_driver() -> bool:
    return Path("/proc/driver/nvidia").is_dir()


def gather() -> Facts:
    """Ask torch (and the host) about CUDA; initialises CUDA when torch has it."""
    import torch

    # envinfo is the one place that reads the driver version (proc file, else nvidia-smi).
    from torchship.envinfo import _driver

    caught: list[str] = []
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        available = bool(torch.cuda.is_available())
        caught = [str(w.message) for w in seen]
    count = torch.cuda.device_count() if available else 0
    capability = torch.cuda.get_device_capability(0) if count else None
    return Facts(
        torch_cuda=torch.version.cuda,
        cuda_available=available,
        device_count=count,
        capability=capability,
        device_name=torch.cuda.get_device_name(0) if count else None,
        arch_list=tuple(torch.cuda.get_arch_list()) if torch.version.cuda else (),
        driver=_driver() if (available or _gpu_present() or _host_driver()) else None,
        gpu_present=_gpu_present(),
        init_warning=caught[0].strip().splitlines()[0] if caught else None,
        host_driver=_host_driver(),
    )


def required() -> bool:
    """TORCHSHIP_REQUIRE_GPU=1: a machine meant to have a GPU fails instead of skipping."""
    return os.environ.get("TORCHSHIP_REQUIRE_GPU", "").lower() in {"1", "true", "yes"}


def check(*, require: bool | None = None) -> Verdict:
    """gather() then assess(); `require` defaults to $TORCHSHIP_REQUIRE_GPU."""
    return assess(gather(), require=required() if require is None else require)
