"""The report files from a hand-made comparison: present, parseable, naming the problems."""

from __future__ import annotations

import json
from pathlib import Path

from records_factory import TEMPLATE, bench, record, run

from torchship.config import Compare
from torchship.matrix import report
from torchship.matrix.compare import compare


def test_report_files_name_every_problem(tmp_path: Path) -> None:
    cur = run(record("a", benches=(bench("test_mm[cpu]", 1.0),)),
              record("b", loss=0.5, benches=(bench("test_mm[cpu]", 1.5),)))
    base = run(record("a", benches=(bench("test_mm[cpu]", 0.5),)),
               record("b", benches=(bench("test_mm[cpu]", 1.5),)), run_id="v0.1.0")
    cmp = compare(cur, tolerances=Compare(), metrics=TEMPLATE, baseline=base)
    paths = report.write(cmp, tmp_path)
    assert [p.name for p in paths] == ["compare.md", "compare.json", "compare.png"]
    md = (tmp_path / "compare.md").read_text()
    assert "**FAIL: 2 problem(s)**" in md
    assert "**regression** `a` test_mm[cpu]" in md
    assert "**divergence** `b` training" in md
    data = json.loads((tmp_path / "compare.json").read_text())
    assert data["ok"] is False
    assert {p["kind"] for p in data["problems"]} == {"regression", "divergence"}
    assert (tmp_path / "compare.png").read_bytes()[:4] == b"\x89PNG"
    report.terminal(cmp)


def test_local_report_says_no_image_was_used(tmp_path: Path) -> None:
    r = record("local")
    local = run(type(r)(**{**r.__dict__, "image": None}))
    local = type(local)(**{**local.__dict__, "mode": "local"})
    md = report.markdown(compare(local, tolerances=Compare(), metrics=TEMPLATE))
    assert "No image was used" in md
    assert "none (host)" in md
