"""The peak table: lookup by torch's device names, fractions, and the pyproject extension."""

from __future__ import annotations

from pathlib import Path

import pytest

from torchship import config
from torchship.errors import ConfigError
from torchship.gpubench import peaks


# Names as torch.cuda.get_device_name() reports them.
@pytest.mark.parametrize(("name", "key"), [
    ("NVIDIA H100 80GB HBM3", "h100-sxm"),
    ("NVIDIA H100 PCIe", "h100-pcie"),
    ("NVIDIA H100 NVL", "h100-nvl"),
    ("NVIDIA H200", "h200-sxm"),
    ("NVIDIA H200 NVL", "h200-nvl"),
    ("NVIDIA A100-SXM4-80GB", "a100-sxm-80gb"),
    ("NVIDIA A100-SXM4-40GB", "a100-sxm-40gb"),
    ("NVIDIA A100 80GB PCIe", "a100-pcie-80gb"),
    ("NVIDIA A100-PCIE-40GB", "a100-pcie-40gb"),
    ("NVIDIA L4", "l4"),
    ("NVIDIA L40S", "l40s"),
    ("NVIDIA A10", "a10"),
    ("Tesla T4", "t4"),
    ("Tesla V100-SXM2-32GB", "v100-sxm2"),
])
def test_lookup_by_device_name(name: str, key: str) -> None:
    found = peaks.lookup(name)
    assert found is not None
    assert found.key == key
    assert found.source  # every figure names where it came from


def test_unknown_gpu_has_no_peak() -> None:
    assert peaks.lookup("NVIDIA GeForce GT 710") is None
    assert peaks.fraction(10.0, None, "bf16") is None


def test_dense_figures_and_fractions() -> None:
    h100 = peaks.lookup("NVIDIA H100 80GB HBM3")
    assert h100 is not None
    assert h100.limit("bf16") == 989.5
    assert h100.limit("fp32") == 67
    assert h100.limit("memory") == 3350
    assert peaks.fraction(494.75, h100, "bf16") == pytest.approx(0.5)
    assert peaks.fraction(1675.0, h100, "memory") == pytest.approx(0.5)
    t4 = peaks.lookup("Tesla T4")
    assert t4 is not None
    assert t4.limit("bf16") is None
    assert peaks.fraction(10.0, t4, "bf16") is None  # no bf16 tensor cores: no fraction


def test_every_builtin_entry_is_complete() -> None:
    for p in peaks.BUILTIN:
        assert p.tflops.get("fp32"), p.key
        assert p.memory_gbps, p.key
        assert set(p.tflops) <= set(peaks.MATH)


PYPROJECT = """
[project]
name = "demo"
version = "0.0.0"

[tool.torchship.gpus.rtx-6000-ada]
match = "RTX 6000 Ada"
fp32 = 91.1
bf16 = 364.2
memory_gbps = 960
source = "NVIDIA RTX 6000 Ada datasheet"

[tool.torchship.gpus.h100-sxm-custom]
match = "H100 80GB"
bf16 = 900
memory_gbps = 3000
"""


def test_project_entries_come_first(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    table = peaks.table(tmp_path)
    ada = peaks.lookup("NVIDIA RTX 6000 Ada Generation", table)
    assert ada is not None
    assert ada.limit("bf16") == 364.2
    assert ada.limit("tf32") is None
    h100 = peaks.lookup("NVIDIA H100 80GB HBM3", table)
    assert h100 is not None
    assert h100.key == "h100-sxm-custom"
    assert h100.source == "[tool.torchship.gpus.h100-sxm-custom]"
    config.load(tmp_path)  # the configuration loader accepts the table


@pytest.mark.parametrize(("entry", "key"), [
    ({"match": "X", "bf17": 1.0}, "tool.torchship.gpus.x.bf17"),
    ({"bf16": 1.0}, "tool.torchship.gpus.x.match"),
    ({"match": "X", "bf16": -1}, "tool.torchship.gpus.x.bf16"),
    ({"match": "X", "bf16": "fast"}, "tool.torchship.gpus.x.bf16"),
    ({"match": "(", "bf16": 1.0}, "tool.torchship.gpus.x.match"),
])
def test_bad_entries_name_the_key(entry: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        peaks.parse({"x": entry})
    assert err.value.key == key
