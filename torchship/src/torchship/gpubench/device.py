"""What one GPU is, for the record: name, capability, memory, L2, clocks, temperature, driver.

Clocks and temperature come from nvidia-smi (TorchBench records them too: a GPU that is
throttling or not at its application clocks explains a slow run). Taken right after a case
has run, they show the state the case ran in.
"""

from __future__ import annotations

from typing import Any

from torchship.adapters import proc

# nvidia-smi --query-gpu fields -> record keys (numbers without units: --format nounits).
_QUERY = {
    "clocks.sm": "clock_sm_mhz",
    "clocks.mem": "clock_mem_mhz",
    "clocks.max.sm": "clock_max_sm_mhz",
    "clocks.max.mem": "clock_max_mem_mhz",
    "temperature.gpu": "temperature_c",
    "power.draw": "power_w",
    "pstate": "pstate",
    "driver_version": "driver",
}


def _number(text: str) -> float | str | None:
    text = text.strip()
    if not text or text.startswith("[") or text in {"N/A", "[N/A]"}:
        return None
    try:
        return float(text)
    except ValueError:
        return text


def smi(uuid: str | None, index: int) -> dict[str, Any]:
    """Clocks, temperature, power and driver from nvidia-smi; {} when it is not there."""
    if proc.which("nvidia-smi") is None:
        return {}
    target = uuid if uuid else str(index)
    out = proc.run(["nvidia-smi", f"--id={target}", f"--query-gpu={','.join(_QUERY)}",
                    "--format=csv,noheader,nounits"], check=False, timeout=30)
    if out.returncode != 0 or not out.stdout.strip():
        return {}
    values = [v.strip() for v in out.stdout.strip().splitlines()[0].split(",")]
    record = {key: _number(v) for key, v in zip(_QUERY.values(), values, strict=False)}
    if record.get("driver") is not None:
        record["driver"] = values[list(_QUERY).index("driver_version")]
    return record


def describe(index: int = 0) -> dict[str, Any]:
    """The record of CUDA device `index` (torch's numbering)."""
    import torch

    p = torch.cuda.get_device_properties(index)
    uuid = str(getattr(p, "uuid", "") or "")
    record: dict[str, Any] = {
        "gpu": p.name,
        "capability": f"{p.major}.{p.minor}",
        "multiprocessors": p.multi_processor_count,
        "memory_gib": round(p.total_memory / 2**30, 1),
        "l2_mib": round(int(getattr(p, "L2_cache_size", 0)) / 2**20, 1) or None,
        "cuda": torch.version.cuda,
    }
    # GPU-<uuid> is how nvidia-smi names a device whatever CUDA_VISIBLE_DEVICES renumbered.
    facts = smi(f"GPU-{uuid}" if uuid and not uuid.startswith("GPU-") else uuid or None, index)
    if "driver" not in facts:
        from torchship.envinfo import _driver

        facts["driver"] = _driver()
    record.update(facts)
    return record
