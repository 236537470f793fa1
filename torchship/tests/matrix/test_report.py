"""The report files from a hand-made comparison: present, parseable, naming the problems."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

from records_factory import TEMPLATE, bench, record, run

from torchship.config import Compare
from torchship.matrix import report
from torchship.matrix.compare import compare
from torchship.matrix.records import Record


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


def _fingerprinted(env: str, **info: object) -> Record:
    r = record(env, benches=(bench("test_mm[cpu]", 1.0),))
    return replace(r, fingerprint=info)


def test_every_report_names_each_environments_versions_and_the_commit(tmp_path: Path) -> None:
    import matplotlib

    gpu = _fingerprinted("cu126", python="3.11.9", torch="2.13.0+cu126", cuda="12.6", cudnn=90501,
                         driver="560.35.03", gpus=[{"name": "NVIDIA H200"}])
    cpu = _fingerprinted("cpu", python="3.11.2", torch="2.13.0+cpu", cuda=None, cudnn=None, gpus=[])
    host = {"git": {"commit": "0123456789abcdef0123", "describe": "v0.1.0-3-g0123456", "dirty": False},
            "driver": "560.35.03"}
    cmp = compare(replace(run(gpu, cpu), host=host), tolerances=Compare(), metrics=TEMPLATE)
    report.write(cmp, tmp_path)
    md = (tmp_path / "compare.md").read_text()
    assert "Commit: `0123456789ab` (`v0.1.0-3-g0123456`)" in md
    assert "| cu126 | 2.13.0+cu126 | 12.6 | 90501 | 3.11.9 | 560.35.03 | NVIDIA H200 |" in md
    assert "| cpu | 2.13.0+cpu | - | - | 3.11.2 | - | none |" in md
    data = json.loads((tmp_path / "compare.json").read_text())
    assert data["commit"]["commit"] == "0123456789abcdef0123"
    assert {v["env"]: (v["torch"], v["cuda"], v["cudnn"], v["python"], v["driver"], v["gpu"])
            for v in data["versions"]} == {
        "cu126": ("2.13.0+cu126", "12.6", "90501", "3.11.9", "560.35.03", "NVIDIA H200"),
        "cpu": ("2.13.0+cpu", None, None, "3.11.2", None, None)}
    # The chart's title: drawn as text in an SVG, so that the test reads what a person sees.
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        svg = report.chart(cmp, tmp_path / "compare.svg")
    assert svg is not None
    # The title is wrapped to the figure's width: read its words, whatever the line breaks.
    text = " ".join(re.sub(r"<[^>]+>", " ", svg.read_text()).split())
    assert "commit 0123456789ab" in text
    assert ("cu126: torch 2.13.0+cu126, CUDA 12.6, cuDNN 90501, Python 3.11.9, driver 560.35.03, "
            "GPU NVIDIA H200") in text
    assert "cpu: torch 2.13.0+cpu, CUDA -, cuDNN -, Python 3.11.2, driver -, GPU none" in text


def test_a_dirty_tree_is_said_in_the_report() -> None:
    host = {"git": {"commit": "fedcba9876543210", "describe": "v0.1.0-dirty", "dirty": True}}
    cmp = compare(replace(run(record("a")), host=host), tolerances=Compare(), metrics=TEMPLATE)
    assert "Commit: `fedcba987654 (dirty tree)`" in report.markdown(cmp)


HEADING = ("torchship matrix 20261204T213000Z-1234567; baseline 20261201T080000Z-abcdef0: "
           "PASS: every suite passed, training agrees, no benchmark regressed")


def test_the_charts_title_fits_its_figure() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from torchship.matrix import charts

    for width in (7, 11):
        fig = plt.figure(figsize=(width, 3))
        fig.suptitle(HEADING, fontsize=charts.FONT)
        fig.canvas.draw()
        plain = fig._suptitle.get_window_extent()  # type: ignore[attr-defined]  # matplotlib's own
        charts.title(fig, HEADING)
        fig.canvas.draw()
        fitted = fig._suptitle.get_window_extent()  # type: ignore[attr-defined]  # matplotlib's own
        assert fitted.x0 >= 0
        assert fitted.x1 <= fig.bbox.width
        assert " ".join(fig._suptitle.get_text().split()) == HEADING  # type: ignore[attr-defined]
        if width == 7:
            assert plain.x0 < 0  # as one line it ran off both sides
        plt.close(fig)


def test_one_environment_is_charted_by_its_medians_and_speedups(tmp_path: Path) -> None:
    from dataclasses import replace

    from torchship.matrix import charts

    cases = ("matmul-fp32-1024", "conv2d-fp32-b8")
    benches = tuple(replace(bench(f"test_x[{d}-{k}]", m, device=d),
                            extra_info={"case": k, "device": d})
                    for k in cases for d, m in (("cpu", 0.02), ("cuda", 0.001)))
    cmp = compare(run(record("cu126", benches=benches)), tolerances=Compare(),
                  metrics=TEMPLATE)
    fig = charts.single_env_figure(cmp, heading=HEADING)
    medians, speedups = fig.axes[0], fig.axes[1]
    assert medians.get_xscale() == "log"
    assert [t.get_text() for t in medians.get_yticklabels()] == sorted(cases)
    # Absolute medians, not ratios: every bar is a case's median, none is 1.0.
    widths = sorted(round(p.get_width(), 6) for p in medians.patches if p.get_width())
    assert widths == [0.001, 0.001, 0.02, 0.02]
    assert sorted(round(p.get_width(), 3) for p in speedups.patches) == [20.0, 20.0]
    # CPU only: no speed-up panel.
    cpu = compare(run(record("cpu", benches=benches[::2])), tolerances=Compare(),
                  metrics=TEMPLATE)
    assert len(charts.single_env_figure(cpu, heading=HEADING).axes) == 1
    assert report.chart(cpu, tmp_path / "one.png") == tmp_path / "one.png"
    assert (tmp_path / "one.png").read_bytes()[:4] == b"\x89PNG"
    import matplotlib.pyplot as plt

    plt.close("all")
