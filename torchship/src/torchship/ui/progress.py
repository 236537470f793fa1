"""What a person watches during a long run: one live display, or one line per event.

A `Display` is told what happens (an image build starts, prints a line, ends; a suite
starts, ends) and shows it:

- `live` (a terminal): one rich Live display for the whole run: each image's build (the
  step running now, how many were cached, the time) and each suite in each environment
  (waiting, running, passed, failed, its time), every row with the path of its log;
- `plain` (not a terminal: CI logs; or --verbose): a line per event, each build step as it
  finishes included; --verbose adds BuildKit's every line;
- `quiet`: nothing shown (tests, callers that print their own summary).

In every mode a build's full output goes to its log file, and a failure shows the tail of
its log and where the whole of it is. The suites write their own logs (torchship.matrix.suites)
and name them here. rich is imported when something is shown, not with this module.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, Literal

from torchship.images.buildkit import Reader, Step

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.live import Live

Mode = Literal["live", "plain", "quiet"]
TAIL = 20          # lines of a failed build's or suite's log shown
PASSED = ("passed",)


def choose(*, verbose: bool = False, quiet: bool = False, stream: IO[str] | None = None) -> Mode:
    """live on a terminal, plain elsewhere or with --verbose, quiet when asked."""
    if quiet:
        return "quiet"
    out = stream if stream is not None else sys.stdout
    return "plain" if verbose or not out.isatty() else "live"


def seconds(value: float) -> str:
    """`7.9s`, `1m02s`: a duration read at a glance."""
    if value < 60:
        return f"{value:.1f}s"
    minutes, secs = divmod(round(value), 60)
    return f"{minutes}m{secs:02d}s"


def tail(path: Path, lines: int = TAIL) -> list[str]:
    """The last `lines` lines of a log (none when it is not there)."""
    try:
        with path.open(errors="replace") as fh:
            return [ln.rstrip("\n") for ln in deque(fh, maxlen=lines)]
    except OSError:
        return []


@dataclass
class ImageBuild:
    """One image's build on a display: hand it each line of BuildKit's output."""

    display: Display
    name: str
    log: Path
    started: float = field(default_factory=time.monotonic)
    reader: Reader = field(default_factory=Reader)
    state: Literal["building", "built", "failed"] = "building"
    summary: str = ""
    ended: float | None = None
    _file: IO[str] | None = None

    def __post_init__(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.log.open("w", buffering=1)

    @property
    def elapsed(self) -> float:
        return (self.ended or time.monotonic()) - self.started

    def line(self, text: str) -> None:
        """A line of the build's output: into the log, and onto the display when it is news."""
        if self._file is not None:
            self._file.write(text + "\n")
        step = self.reader.feed(text)
        self.display._build_line(self, text, step)

    def done(self, summary: str = "") -> None:
        """The image is built (`summary`: what the caller knows of it, e.g. its size)."""
        self._end("built", summary)

    def failed(self, reason: str) -> None:
        self._end("failed", reason)

    def _end(self, state: Literal["built", "failed"], summary: str) -> None:
        if self.state != "building":
            return
        self.state, self.summary, self.ended = state, summary, time.monotonic()
        if self._file is not None:
            self._file.close()
            self._file = None
        self.display._build_ended(self)


@dataclass
class SuiteRow:
    env: str
    suite: str
    state: str = "waiting"      # waiting, running, or the suite's final status
    started: float | None = None
    seconds: float | None = None
    detail: str = ""
    log: Path | None = None

    @property
    def elapsed(self) -> float | None:
        if self.seconds is not None:
            return self.seconds
        return time.monotonic() - self.started if self.started is not None else None


class Display:
    """One run's progress (see the module's docstring); safe to call from several threads."""

    def __init__(self, mode: Mode = "plain", *, console: Console | None = None,
                 folder: Path | None = None, title: str = "", verbose: bool = False) -> None:
        self.mode = mode
        self.folder = folder          # where the logs are: paths are shown relative to it
        self.title = title
        self.verbose = verbose
        self.images: list[ImageBuild] = []
        self.suites: dict[tuple[str, str], SuiteRow] = {}
        self._console = console
        self._lock = threading.RLock()
        self._live: Live | None = None
        self._depth = 0
        self._spinners: dict[int, Any] = {}

    @classmethod
    def auto(cls, *, verbose: bool = False, quiet: bool = False, folder: Path | None = None,
             title: str = "") -> Display:
        """The display this process's stdout calls for (choose)."""
        return cls(choose(verbose=verbose, quiet=quiet), folder=folder, title=title,
                   verbose=verbose)

    @property
    def console(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(highlight=False)
        return self._console

    # ------------------------------------------------------------ the live display's life

    def __enter__(self) -> Display:
        """Start showing (the live display); nested entries share the outermost one."""
        with self._lock:
            self._depth += 1
            if self._depth == 1 and self.mode == "plain" and self.title:
                self.print(_escape(self.title))
            if self._depth == 1 and self.mode == "live":
                from rich.live import Live

                self._live = Live(console=self.console, get_renderable=self.renderable,
                                  refresh_per_second=4, transient=False)
                self._live.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth == 0 and self._live is not None:
                self._live.stop()
                self._live = None

    # ------------------------------------------------------------ events

    def image(self, name: str, *, log: Path) -> ImageBuild:
        """An image's build starts; its output goes to `log`."""
        build = ImageBuild(self, name, log)
        with self._lock:
            self.images.append(build)
        self._plain(f"image {name}: building (log: {self.where(log)})")
        return build

    def expect(self, env: str, suites: Iterable[str]) -> None:
        """These suites will run in `env` (shown as waiting until they start)."""
        with self._lock:
            for suite in suites:
                self.suites.setdefault((env, suite), SuiteRow(env, suite))

    def suite_started(self, env: str, suite: str) -> None:
        with self._lock:
            row = self.suites.setdefault((env, suite), SuiteRow(env, suite))
            row.state, row.started = "running", time.monotonic()
        self._plain(f"suite {env} {suite}: running")

    def suite_done(self, env: str, suite: str, *, status: str, seconds_taken: float,
                   detail: str = "", log: Path | None = None) -> None:
        """A suite ended: `status` as recorded (passed, failed, crashed, timed-out)."""
        with self._lock:
            row = self.suites.setdefault((env, suite), SuiteRow(env, suite))
            row.state, row.seconds, row.detail, row.log = status, seconds_taken, detail, log
        said = f" ({detail})" if detail else ""
        logged = f"; log: {self.where(log)}" if log else ""
        self._plain(f"suite {env} {suite}: {status} in {seconds(seconds_taken)}{said}{logged}")
        if status not in PASSED and log is not None:
            self._show_tail(f"{env} {suite} {status}", tail(log), log)

    def env_failed(self, env: str, status: str, reason: str) -> None:
        """The environment could not run (build-failed, start-failed): its suites will not."""
        with self._lock:
            for row in self.suites.values():
                if row.env == env and row.state == "waiting":
                    row.state, row.detail = "not run", status
        self._plain(f"environment {env}: {status}: {reason}")
        if self.mode == "live":
            self.print(f"[red]✗ {env}: {status}[/]: {_escape(reason)}")

    def note(self, text: str) -> None:
        """A line of its own, in every mode but quiet."""
        if self.mode != "quiet":
            self.print(_escape(text))

    def print(self, text: str) -> None:
        """rich markup, above the live display when there is one."""
        if self.mode == "quiet":
            return
        # Not a terminal: no wrapping at rich's default 80 columns (CI logs have no width).
        self.console.print(text, soft_wrap=self.mode == "plain")

    def where(self, path: Path) -> str:
        """A path as a person finds it: on the live display relative to the run's folder
        (its title names it), in lines relative to the working directory."""
        base = self.folder
        if base is not None and self.mode == "live":
            try:
                return str(path.relative_to(base))
            except ValueError:
                pass
        try:
            return str(path.resolve().relative_to(Path.cwd()))
        except ValueError:
            return str(path)

    # ------------------------------------------------------------ what builds report

    def _build_line(self, build: ImageBuild, text: str, step: Step | None) -> None:
        if self.mode != "plain":
            return
        if self.verbose:
            self.print(_escape(f"[{build.name}] {text}"))
        elif step is not None and step.dockerfile and step.state != "running":
            took = f" {step.seconds:.1f}s" if step.seconds is not None else ""
            self.print(_escape(f"image {build.name}: {step.short}: {step.state}{took}"))

    def _build_ended(self, build: ImageBuild) -> None:
        steps, cached = build.reader.counts()
        if build.state == "built":
            said = build.summary or f"{steps} steps, {cached} cached"
            self._plain(f"image {build.name}: built in {seconds(build.elapsed)} ({said})")
        else:
            self._plain(f"image {build.name}: failed after {seconds(build.elapsed)}: "
                        f"{build.summary}")
            self._show_tail(f"image {build.name} failed", tail(build.log), build.log)

    def _plain(self, text: str) -> None:
        if self.mode == "plain":
            self.print(_escape(text))

    def _show_tail(self, what: str, lines: Sequence[str], log: Path) -> None:
        if self.mode == "quiet":
            return
        from rich.text import Text

        with self._lock:
            if not lines:
                self.print(f"[red]── {_escape(what)}; its log is empty: {_escape(str(log))}[/]")
                return
            self.print(f"[red]── {_escape(what)}: the last {len(lines)} lines of "
                       f"{_escape(self.where(log))}[/]")
            for ln in lines:
                self.console.print(Text(ln), soft_wrap=self.mode == "plain")
            self.print(f"[red]── full log: {_escape(str(log))}[/]")

    # ------------------------------------------------------------ the live display

    def _spinner(self, key: int) -> Any:
        from rich.spinner import Spinner

        return self._spinners.setdefault(key, Spinner("dots", style="cyan"))

    def renderable(self) -> RenderableType:
        """What the live display shows now."""
        from rich.console import Group
        from rich.text import Text

        with self._lock:
            parts: list[RenderableType] = []
            if self.title:
                parts.append(Text(self.title, style="bold", overflow="fold"))  # a path: whole
            if self.images:
                parts.append(Text("images", style="bold"))
                grid = _grid()
                for b in self.images:
                    steps, cached = b.reader.counts()
                    if b.state == "building":
                        step = b.reader.current
                        icon: RenderableType = self._spinner(id(b))
                        state = Text("building")
                        what = Text(step.short if step else "starting")
                        if cached:
                            what.append(f" · {cached} cached so far", style="dim")
                    else:
                        ok = b.state == "built"
                        icon = Text("✓" if ok else "✗", style="green" if ok else "red")
                        state = Text(b.state, style="green" if ok else "red")
                        what = Text(b.summary or f"{steps} steps, {cached} cached")
                        what.append(f" · {self.where(b.log)}", style="dim")
                    grid.add_row(icon, Text(b.name), state, Text(seconds(b.elapsed)), _cut(what))
                parts.append(grid)
            if self.suites:
                done = sum(1 for r in self.suites.values()
                           if r.state not in ("waiting", "running"))
                parts.append(Text(f"suites  {done} of {len(self.suites)} done", style="bold"))
                grid = _grid()
                for r in self.suites.values():
                    what = Text(r.detail)
                    if r.state == "running":
                        icon = self._spinner(hash((r.env, r.suite)))
                        state = Text("running")
                    elif r.state in ("waiting", "not run"):
                        icon = Text("·", style="dim")
                        state = Text(r.state, style="dim")
                    else:
                        ok = r.state in PASSED
                        icon = Text("✓" if ok else "✗", style="green" if ok else "red")
                        state = Text(r.state, style="green" if ok else "red")
                    if r.log is not None:
                        what.append(f"{' · ' if r.detail else ''}{self.where(r.log)}",
                                    style="dim")
                    elapsed = r.elapsed
                    grid.add_row(icon, Text(f"{r.env} {r.suite}"), state,
                                 Text(seconds(elapsed) if elapsed is not None else ""),
                                 _cut(what))
                parts.append(grid)
            return Group(*parts)


def _grid() -> Any:
    from rich.table import Table

    grid = Table.grid(padding=(0, 1))
    grid.add_column(width=1, no_wrap=True)                           # ✓ ✗ · or a spinner
    grid.add_column(no_wrap=True, overflow="ellipsis")               # image, or env and suite
    grid.add_column(no_wrap=True)                                    # state
    grid.add_column(no_wrap=True, justify="right")                   # time
    # The one column that gives way to a narrow terminal (its cells cut, never wrapped).
    grid.add_column(ratio=1, overflow="ellipsis")                    # step, outcome, log
    return grid


def _cut(text: Any) -> Any:
    """One line, cut with an ellipsis where the terminal ends."""
    text.no_wrap, text.overflow = True, "ellipsis"
    return text


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
