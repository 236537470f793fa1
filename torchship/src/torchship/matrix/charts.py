"""compare.png's parts: a title that fits the figure, and the chart of a single environment.

With one environment there is no other to divide by (its ratios to itself are all 1.0):
what matters there is each case's median itself (against the baseline's when there is one)
and, where a case ran on the CPU and on a GPU, how much faster the GPU was. Rendering
only; matplotlib is imported by the caller (torchship.matrix.report.chart), not here.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from torchship.matrix.compare import Comparison, fmt_seconds

FONT = 10                  # the title's size, in points
CHAR = 0.6                 # a character's width, in ems (DejaVu Sans, roughly)


def title(fig: Any, text: str, *, fontsize: float = FONT) -> None:
    """The figure's title, each of its lines wrapped at the words to the figure's width (never
    cut off)."""
    width_pt = fig.get_figwidth() * 72
    per_line = max(20, int(width_pt / (fontsize * CHAR)) - 4)
    fig.suptitle("\n".join(textwrap.fill(line, per_line) for line in text.splitlines()),
                 fontsize=fontsize)


def single_env(c: Comparison, path: Path, *, heading: str) -> Path:
    """compare.png for a run of one environment (single_env_figure)."""
    import matplotlib.pyplot as plt

    fig = single_env_figure(c, heading=heading)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def single_env_figure(c: Comparison, *, heading: str) -> Any:
    """The one environment's medians (log scale, each device its bar; the baseline's as a
    mark), and the CPU-vs-GPU speed-up per case where both ran."""
    import matplotlib.pyplot as plt

    env = c.benchmarks[0].env
    rows = sorted(c.benchmarks, key=lambda b: (b.case, b.device))
    cases = sorted({b.case for b in rows})
    devices = sorted({b.device for b in rows}, key=lambda d: (d != "cpu", d))
    speedups = sorted((s for s in c.speedups if s.env == env), key=lambda s: s.case)
    fig, axes = plt.subplots(1, 2 if speedups else 1, squeeze=False,
                             figsize=(11 if speedups else 7, 0.4 * len(rows) + 2.0))
    ax = axes[0][0]
    height = 0.8 / len(devices)
    by = {(b.case, b.device): b for b in rows}
    marked = False
    for i, device in enumerate(devices):
        ys = [k + i * height for k, case in enumerate(cases) if (case, device) in by]
        found = [by[(case, device)] for case in cases if (case, device) in by]
        bars = ax.barh(ys, [b.median for b in found], height=height, color=f"C{i}")
        for bar, b in zip(bars, found, strict=True):
            if b.regressed:  # its device's colour kept, marked
                bar.set_edgecolor("tab:red")
                bar.set_linewidth(2)
                bar.set_hatch("//")
            ax.annotate(fmt_seconds(b.median), (b.median, bar.get_y() + height / 2),
                        xytext=(3, 0), textcoords="offset points", va="center", fontsize=7)
        # The baseline's median (this median / its ratio to it), where there is one.
        base = [(b.median / b.vs_baseline, y) for b, y in zip(found, ys, strict=True)
                if b.vs_baseline]
        if base:
            ax.scatter([x for x, _ in base], [y for _, y in base], marker="|", s=120,
                       color="black", zorder=3)
            marked = True
    from matplotlib.ticker import FuncFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: fmt_seconds(x)))
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda x, _: ""))
    low, high = min(b.median for b in rows), max(b.median for b in rows)
    ax.set_xlim(low / 2, high * 4)  # room for the labels beside the bars
    if any(b.regressed for b in rows):
        from matplotlib.patches import Patch

        ax.add_artist(ax.legend(handles=[Patch(facecolor="white", edgecolor="tab:red",
                                               hatch="//", label="regressed")],
                                fontsize=8, loc="lower right"))
    ax.set_yticks([k + height * (len(devices) - 1) / 2 for k in range(len(cases))])
    ax.set_yticklabels(cases, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(f"median seconds in {env} (log scale; lower is faster)", fontsize=9)
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles: list[Any] = [Patch(facecolor=f"C{i}", label=d) for i, d in enumerate(devices)]
    if marked:
        handles.append(Line2D([], [], marker="|", markersize=10, color="black",
                              linestyle="none", label="baseline"))
    ax.legend(handles=handles, fontsize=8, loc="upper right")
    if speedups:
        sx = axes[0][1]
        names = [s.case for s in speedups]
        bars = sx.barh(range(len(names)), [s.speedup for s in speedups], color="tab:green")
        for bar, s in zip(bars, speedups, strict=True):
            sx.annotate(f"{s.speedup:.1f}x", (s.speedup, bar.get_y() + bar.get_height() / 2),
                        xytext=(3, 0), textcoords="offset points", va="center", fontsize=7)
        sx.axvline(1.0, color="black", linewidth=0.8)
        sx.set_xlim(0, max(s.speedup for s in speedups) * 1.2)
        sx.set_yticks(range(len(names)))
        sx.set_yticklabels(names, fontsize=8)
        sx.invert_yaxis()
        sx.set_xlabel("CPU median / GPU median (higher: the GPU is faster)", fontsize=9)
    title(fig, heading)
    fig.tight_layout()
    return fig
