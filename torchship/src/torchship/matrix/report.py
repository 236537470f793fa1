"""Render a Comparison: a rich terminal table, compare.md, compare.json and compare.png.

Rendering only: every number shown was computed by torchship.matrix.compare. rich and matplotlib
are imported inside the functions that use them, so importing this module stays cheap.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from torchship.config import Metric
from torchship.matrix import versions
from torchship.matrix.compare import Comparison, MetricRow, fmt_delta, fmt_ratio, fmt_seconds


def _env_label(c: Comparison, env: str) -> str:
    row = next(e for e in c.envs if e.env == env)
    return f"{env} (no image: host interpreter)" if row.image is None else f"{env} ({row.image})"


def verdict(c: Comparison) -> str:
    if c.ok:
        training = "training agrees" if c.metrics.compare else "training recorded (not compared)"
        return f"PASS: every suite passed, {training}, no benchmark regressed"
    return f"FAIL: {len(c.problems)} problem(s)"


def markdown(c: Comparison) -> str:
    """compare.md: fit for a CI job summary or a PR comment."""
    lines = [f"# torchship matrix `{c.run_id}`", "", f"**{verdict(c)}**", ""]
    if c.mode == "local":
        why = c.note or "no container engine, or `--local` was given"
        lines += ["> No image was used: the suites ran on the host interpreter as the single "
                  f"environment `local` ({why}).", ""]
    elif c.note:
        lines += [f"> {c.note}", ""]
    if c.problems:
        lines += ["## Problems", ""] + [f"- **{p.kind}** `{p.env}` {p.subject}: {p.detail}"
                                        for p in c.problems] + [""]
    lines += ["## Environments", "", "| env | image | digest | status | wall | host load |",
              "|---|---|---|---|---|---|"]
    for e in c.envs:
        status = e.status + (f": {e.reason}" if e.reason and e.status != "ok" else "")
        lines.append(f"| {e.env}{' (reference)' if e.env == c.reference else ''} | "
                     f"{e.image or 'none (host)'} | {(e.image_digest or '-')[:19]} | {status} | "
                     f"{e.wall_seconds:.0f} s | {_load(e.host_load, c.cores)} |")
    lines += versions.markdown(c.versions, c.commit)
    lines += ["", "## Suites", "", "| env | suite | status | passed | failed | skipped | errors "
              "| time |", "|---|---|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {s.env} | {s.suite} | {s.status} | {s.passed} | {s.failed} | {s.skipped} | "
              f"{s.errors} | {s.seconds:.1f} s |" for s in c.suites]
    if c.flips:
        lines += ["", "Tests that pass in one environment and fail in another:", ""]
        lines += [f"- `{f.test}`: passes in {', '.join(f.passed_in)}, fails in "
                  f"{', '.join(f.failed_in)}" for f in c.flips]
    lines += _training_md(c)
    if c.benchmarks:
        lines += _bench_md(c)
        if c.busy:
            lines += ["", f"> The host was busy (load above its {c.cores} cores) when "
                      f"{', '.join(c.busy)} ran: treat those timings with care."]
    if c.speedups:
        lines += ["", "## CPU vs GPU", "", "| env | case | CPU | GPU | speed-up |",
                  "|---|---|---:|---:|---:|"]
        lines += [f"| {s.env} | `{s.case}` | {fmt_seconds(s.cpu_median)} | "
                  f"{fmt_seconds(s.gpu_median)} | {s.speedup:.1f}x |" for s in c.speedups]
    return "\n".join(lines) + "\n"


_REPEAT = {None: "not checked", True: "identical", False: "DIFFERENT"}


def _num(value: float | None) -> str:
    return "missing" if value is None else f"{value:.4g}"


def _delta(row: MetricRow, m: Metric) -> str:
    return fmt_delta(row, m) + (f" ({row.direction})" if row.direction else "")


def _finals(final: Mapping[str, float]) -> str:
    return ", ".join(f"{k} {final[k]:.4g}" for k in sorted(final)) or "none"


def _training_md(c: Comparison) -> list[str]:
    """One column pair (final value, difference) per compared metric; or, when none is
    compared, the final metrics as recorded."""
    compared = c.metrics.compare
    if not compared:
        lines = ["", "## Training (recorded, not compared: [tool.torchship.metrics.compare] "
                 "names no metric)", "", "| env | device | final metrics | bitwise repeat |",
                 "|---|---|---|---|"]
        return lines + [f"| {r.env} | {r.device} | {_finals(r.final)} | "
                        f"{_REPEAT[r.deterministic]} |" for r in c.training]
    tolerances = ", ".join(f"{m.name} {m.describe()}" for m in compared)
    head = "".join(f" final {m.name} | Δ {m.name} |" for m in compared)
    lines = ["", f"## Training (against `{c.reference}`; {tolerances})", "",
             f"| env | device |{head} within | bitwise repeat |",
             "|---|---|" + "---:|---:|" * len(compared) + "---|---|"]
    for r in c.training:
        cells = "".join(f" {_num(row.value)} | {_delta(row, m)} |"
                        for row, m in zip(r.metrics, compared, strict=True))
        lines.append(f"| {r.env} | {r.device} |{cells} {'yes' if r.within else 'NO'} | "
                     f"{_REPEAT[r.deterministic]} |")
    return lines


def _load(load: float | None, cores: int | None) -> str:
    if load is None:
        return "-"
    return f"{load:.1f}" + (f" on {cores} cores" if cores else "")


def _bench_md(c: Comparison) -> list[str]:
    t = c.tolerances
    base = f"baseline `{c.baseline}`" if c.baseline else "no baseline"
    lines = ["", f"## Benchmarks (median; ratio to `{c.reference}` and to {base}; "
              f"regression above +{t.regression:.0%}, noisy above IQR/median {t.noise:g})", "",
              "| case | env | median | IQR | vs reference | vs baseline | best vs baseline | |",
              "|---|---|---:|---:|---:|---:|---:|---|"]
    for b in sorted(c.benchmarks, key=lambda b: (b.name, b.env)):
        flag = " ".join(x for x in ("**REGRESSION**" if b.regressed else "",
                                     "noisy" if b.noisy else "") if x)
        lines.append(f"| `{b.name}` | {b.env} | {fmt_seconds(b.median)} | {fmt_seconds(b.iqr)} | "
                     f"{fmt_ratio(b.vs_reference)} | {fmt_ratio(b.vs_baseline)} | "
                     f"{fmt_ratio(b.min_vs_baseline)} | {flag} |")
    return lines


def to_json(c: Comparison) -> dict[str, Any]:
    data = asdict(c)
    data["ok"] = c.ok
    data["problems"] = [{**asdict(p), "text": p.render()} for p in c.problems]
    for s, row in zip(c.speedups, data["speedups"], strict=True):
        row["speedup"] = s.speedup
    return data


def terminal(c: Comparison, *, console: Any = None) -> None:
    """The summary tables on the terminal (rich), fit to its width (torchship.matrix.terminal);
    `console`: a rich Console (default: stdout's)."""
    from rich.console import Console
    from rich.markup import escape

    from torchship.matrix import terminal as tables

    console = console or Console()
    if c.mode == "local":
        console.print("[yellow]No image was used: the suites ran on the host interpreter "
                      "(environment 'local').[/]")
    console.print(tables.suites_table(c))
    if c.training:
        console.print(_training_table(c))
    for table in tables.bench_tables(c, console):
        console.print(table)
    if c.speedups:
        console.print(tables.speedup_table(c))
    if c.busy and c.benchmarks:
        console.print(f"[yellow]The host was busy (load above its {c.cores} cores) when "
                      f"{', '.join(c.busy)} ran: treat those timings with care.[/]")
    for p in c.problems:
        console.print(f"[red]✗[/] {escape(p.render())}")
    console.print(f"[{'green' if c.ok else 'red'}]{verdict(c)}[/]")


def _training_table(c: Comparison) -> Any:
    from rich.markup import escape
    from rich.table import Table

    from torchship.matrix.terminal import STYLE

    compared = c.metrics.compare
    repeat = {None: "-", True: "identical", False: "[red]DIFFERENT[/]"}
    if not compared:
        table = Table(title="training (recorded, not compared)", box=STYLE,
                      title_justify="left", pad_edge=False)
        for col in ("env", "device", "final metrics", "repeat"):
            table.add_column(col)
        for r in c.training:
            table.add_row(r.env, r.device, escape(_finals(r.final)), repeat[r.deterministic])
        return table
    table = Table(title=f"training vs {c.reference}", box=STYLE, title_justify="left",
                  pad_edge=False)
    table.add_column("env")
    for m in compared:
        table.add_column(escape(f"{m.name} ({m.describe()})"))
        table.add_column(escape(f"Δ {m.name}"))
    table.add_column("within")
    table.add_column("repeat")
    for r in c.training:
        cells = [x for row, m in zip(r.metrics, compared, strict=True)
                 for x in (_num(row.value), escape(_delta(row, m)))]
        table.add_row(r.env, *cells, "yes" if r.within else "[red]NO[/]", repeat[r.deterministic])
    return table


def chart(c: Comparison, path: Path) -> Path | None:
    """compare.png: benchmark medians relative to the reference (and the baseline); with a
    single environment, its medians and CPU-vs-GPU speed-ups (torchship.matrix.charts)."""
    if not c.benchmarks:
        return None
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on CI machines or in containers
    import matplotlib.pyplot as plt

    from torchship.matrix import charts

    against = f"; baseline {c.baseline}" if c.baseline else ""
    provenance = versions.title(c.versions, c.commit)
    heading = f"torchship matrix {c.run_id}{against}: {verdict(c)}" + (
        f"\n{provenance}" if provenance else "")
    names = sorted({b.name for b in c.benchmarks})
    envs = [e.env for e in c.envs if any(b.env == e.env for b in c.benchmarks)]
    if len(envs) == 1:  # no other environment to divide by: its medians themselves
        return charts.single_env(c, path, heading=heading)
    by = {(b.env, b.name): b for b in c.benchmarks}
    with_base = c.baseline is not None
    fig, axes = plt.subplots(1, 2 if with_base else 1, figsize=(11 if with_base else 7,
                             0.45 * len(names) * max(1, len(envs)) / 2 + 1.8), squeeze=False)
    width = 0.8 / max(1, len(envs))
    panels = [("vs_reference", f"median / {c.reference}")]
    if with_base:
        panels.append(("vs_baseline", "median / baseline"))
    for ax, (attr, title) in zip(axes[0], panels, strict=False):
        for i, env in enumerate(envs):
            ys = [k + i * width for k in range(len(names))]
            vals = [getattr(by[(env, n)], attr) or 0.0 if (env, n) in by else 0.0 for n in names]
            colors = ["tab:red" if (env, n) in by and by[(env, n)].regressed and
                      attr == "vs_baseline" else None for n in names]
            bars = ax.barh(ys, vals, height=width, label=env)
            for bar, color in zip(bars, colors, strict=True):
                if color:
                    bar.set_color(color)
        ax.axvline(1.0, color="black", linewidth=0.8)
        if attr == "vs_baseline":
            ax.axvline(1 + c.tolerances.regression, color="tab:red", linestyle="--",
                       linewidth=0.8, label=f"+{c.tolerances.regression:.0%} threshold")
        ax.set_yticks([k + width * (len(envs) - 1) / 2 for k in range(len(names))])
        ax.set_yticklabels(names, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel(title + " (lower is faster)", fontsize=9)
        ax.legend(fontsize=8)
    charts.title(fig, heading)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write(c: Comparison, folder: Path, *, png: bool = True) -> list[Path]:
    """Write compare.md, compare.json and compare.png into `folder`; return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    md = folder / "compare.md"
    md.write_text(markdown(c))
    js = folder / "compare.json"
    js.write_text(json.dumps(to_json(c), indent=2) + "\n")
    out = [md, js]
    if png:
        made = chart(c, folder / "compare.png")
        if made:
            out.append(made)
    return out
