"""A Comparison on the terminal: rich tables that fit its width (80 columns and up).

Rendering only, like torchship.matrix.report (which writes the files). What keeps a table
inside the terminal: no vertical rules; the benchmarks one table per environment (its name in
the title, not in a column); a column whose every cell is the same said once in the title
instead; case ids never wrapped (the case without its device, `matmul-fp32-1024`); and, when
that is still too wide, the least needed columns left out (the Markdown report keeps them
all) until it fits. rich is imported when this module is, so only the report imports it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich import box
from rich.console import Console, RenderableType
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table

from torchship.matrix.compare import BenchRow, Comparison, fmt_ratio, fmt_seconds

STYLE = box.SIMPLE_HEAD


@dataclass(frozen=True)
class Column:
    """One column of a table that may be left out when the terminal is narrow."""

    header: str
    cell: Callable[[BenchRow], str]
    justify: str = "right"
    wraps: bool = False       # may fold over lines (never a case id or a number)
    priority: int = 0         # the highest is left out first


def table(title: str, columns: Sequence[Column], rows: Sequence[BenchRow]) -> Table:
    t = Table(title=title, box=STYLE, title_justify="left", pad_edge=False)
    for col in columns:
        t.add_column(col.header, justify=col.justify,  # type: ignore[arg-type]  # a literal
                     no_wrap=not col.wraps, overflow="fold" if col.wraps else "ellipsis")
    for r in rows:
        t.add_row(*(col.cell(r) for col in columns))
    return t


def fits(console: Console, renderable: RenderableType) -> bool:
    """Whether `renderable` is drawn within the console's width with no cell cut or folded:
    its natural width (as drawn on a console without limit) is no wider."""
    free = console.options.update(width=10_000, max_width=10_000)
    return Measurement.get(console, free, renderable).maximum <= console.width


def fitted(console: Console, title: str, columns: Sequence[Column],
           rows: Sequence[BenchRow]) -> Table:
    """The table with as many of `columns` as fit, the least needed left out first."""
    kept = list(columns)
    t = table(title, kept, rows)
    while not fits(console, t) and any(c.priority for c in kept):
        worst = max(c.priority for c in kept)
        kept = [c for c in kept if c.priority != worst]
        t = table(title, kept, rows)
    return t


def bench_tables(c: Comparison, console: Console) -> list[Table]:
    """One table per environment that ran benchmarks, fit to the console."""
    envs = [e.env for e in c.envs if any(b.env == e.env for b in c.benchmarks)]
    tables = []
    for env in envs:
        rows = sorted((b for b in c.benchmarks if b.env == env), key=lambda b: (b.case, b.device))
        devices = sorted({b.device for b in rows})
        cols = [Column("case", lambda b: escape(b.case), justify="left")]
        if len(devices) > 1:
            cols.append(Column("device", lambda b: b.device, justify="left"))
        cols += [Column("median", lambda b: fmt_seconds(b.median)),
                 Column("IQR", lambda b: fmt_seconds(b.iqr), priority=2)]
        if c.reference and env != c.reference and len(envs) > 1:
            cols.append(Column(f"vs {escape(c.reference)}", lambda b: fmt_ratio(b.vs_reference),
                               priority=1))
        if c.baseline:
            cols.append(Column("vs baseline", lambda b: fmt_ratio(b.vs_baseline)))
            cols.append(Column("best vs baseline", lambda b: fmt_ratio(b.min_vs_baseline),
                               priority=3))
        cols.append(Column("", _flags, justify="left", wraps=True))
        on = f"; device {devices[0]}" if len(devices) == 1 else ""
        title = f"benchmarks in {escape(env)} (median{on})"
        tables.append(fitted(console, title, cols, rows))
    return tables


def _flags(b: BenchRow) -> str:
    return " ".join(x for x in ("[red]regression[/]" if b.regressed else "",
                                "noisy" if b.noisy else "") if x)


def suites_table(c: Comparison) -> Table:
    t = Table(title=f"suites ({escape(c.run_id)})", box=STYLE, title_justify="left",
              pad_edge=False)
    t.add_column("env", no_wrap=True)
    t.add_column("suite", no_wrap=True)
    t.add_column("status", no_wrap=True)
    for col in ("passed", "failed", "skipped", "time"):
        t.add_column(col, justify="right", no_wrap=True)
    for e in c.envs:
        if e.status != "ok":
            # Its reason is among the problems printed below, whole.
            t.add_row(escape(e.env), "-", f"[red]{e.status}[/]", "", "", "", "")
    for s in c.suites:
        color = "green" if s.status == "passed" else "red"
        t.add_row(escape(s.env), s.suite, f"[{color}]{s.status}[/]", str(s.passed),
                  str(s.failed + s.errors), str(s.skipped), f"{s.seconds:.1f}s")
    return t


def speedup_table(c: Comparison) -> Table:
    t = Table(title="CPU vs GPU (median)", box=STYLE, title_justify="left", pad_edge=False)
    for col, justify in (("env", "left"), ("case", "left"), ("CPU", "right"), ("GPU", "right"),
                         ("speed-up", "right")):
        t.add_column(col, justify=justify, no_wrap=True)  # type: ignore[arg-type]  # a literal
    for s in c.speedups:
        t.add_row(escape(s.env), escape(s.case), fmt_seconds(s.cpu_median),
                  fmt_seconds(s.gpu_median), f"{s.speedup:.1f}x")
    return t
