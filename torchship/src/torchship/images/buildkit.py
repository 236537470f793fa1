"""BuildKit's plain progress (`docker build --progress plain`), read one line at a time.

Each vertex of the build is numbered and its lines carry that number:

    #5 [devel 2/9] RUN pip install ...      the vertex starts (its name, once)
    #5 sha256:95c7...                        its digest (docker 20.10's client)
    #5 3.088 Collecting torch                what the step prints, seconds since it started
    #5 CACHED                                taken from the cache
    #5 DONE 12.1s                            finished
    #5 ERROR: executor failed running ...    failed

`[internal]` vertices are BuildKit's own work (loading the Dockerfile, the context); the
Dockerfile's steps are `[stage n/m]`; others (`exporting to image`) have a plain name. A
second build in the same output (a relabelling pass) numbers its vertices from #1 again:
a known number with a new name is a new step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

State = Literal["running", "cached", "done", "failed"]

_LINE = re.compile(r"^#(\d+) (.*)$")
_NAMED = re.compile(r"^\[(?P<where>[^\]]+)\] (?P<what>.+)$")
_DONE = re.compile(r"^DONE ([\d.]+)s$")
_FLAGS = re.compile(r"--(mount|network|security)=\S+\s*")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
SHORT = 72
_OUTPUT = re.compile(r"^(\d+\.\d+ |sha256:[0-9a-f]{64}$)")


@dataclass
class Step:
    """One vertex of the build, as far as the output has told."""

    number: int
    name: str                 # `[devel 2/9] RUN pip install ...`, `exporting to image`
    state: State = "running"
    seconds: float | None = None
    error: str = ""
    build: int = 0            # which build in the output (0, then 1 for a second pass...)

    @property
    def internal(self) -> bool:
        """BuildKit's own work, not a step of the Dockerfile."""
        return self.name.startswith("[internal]")

    @property
    def dockerfile(self) -> bool:
        """A step of the Dockerfile (`[stage n/m] ...`), FROM included."""
        return bool(_NAMED.match(self.name)) and not self.internal

    @property
    def short(self) -> str:
        """The name as a person scans it: RUN's mount flags and a digest's tail left out,
        spaces squeezed, cut at `SHORT` characters."""
        text = _FLAGS.sub("", self.name)
        text = _DIGEST.sub(lambda m: m.group(0)[:19], text)
        text = " ".join(text.split())
        return text if len(text) <= SHORT else text[:SHORT - 1] + "…"

    @property
    def instruction(self) -> str:
        """RUN, COPY, FROM... for a Dockerfile step, else empty."""
        m = _NAMED.match(self.name)
        return m.group("what").split(" ", 1)[0] if m and not self.internal else ""


class Reader:
    """Feed it BuildKit's lines; it knows every step, and which one changed last."""

    def __init__(self) -> None:
        self.steps: list[Step] = []
        self.builds = 1
        self._open: dict[int, Step] = {}

    def feed(self, line: str) -> Step | None:
        """The step this line started or finished, else None (output, digests, blanks)."""
        m = _LINE.match(line.rstrip())
        if not m:
            return None
        number, rest = int(m.group(1)), m.group(2)
        step = self._open.get(number)
        if rest == "CACHED" or (done := _DONE.match(rest)) or rest.startswith(("ERROR",
                                                                                "CANCELED")):
            if step is None:
                return None
            if rest == "CACHED":
                step.state = "cached"
            elif rest.startswith("ERROR"):
                step.state, step.error = "failed", rest.partition(":")[2].strip()
            elif rest.startswith("CANCELED"):  # another step failed: this one never finished
                step.state, step.error = "failed", "canceled"
            else:
                step.state, step.seconds = "done", float(done.group(1))  # type: ignore[union-attr]  # the elif above matched
            return step
        if (step is not None and step.state == "running") or _OUTPUT.match(rest):
            return None  # its name again (several vertices interleaved), or its output
        if step is not None:  # a finished vertex's number again: the next build has begun
            self.builds += 1
            self._open = {}
        step = Step(number, rest, build=self.builds - 1)
        self._open[number] = step
        self.steps.append(step)
        return step

    @property
    def current(self) -> Step | None:
        """The step running now (the latest started), else the last one seen."""
        running = [s for s in self.steps if s.state == "running"]
        seen = running or self.steps
        return seen[-1] if seen else None

    def _latest(self) -> list[Step]:
        """The Dockerfile's steps in the latest build, FROM aside."""
        return [s for s in self.steps if s.dockerfile and s.instruction != "FROM"
                and s.build == self.builds - 1]

    def counts(self) -> tuple[int, int]:
        """(Dockerfile steps seen, of which cached) in the latest build, FROM aside."""
        steps = self._latest()
        return len(steps), sum(1 for s in steps if s.state == "cached")

    def ran(self) -> tuple[str, ...]:
        """The names of the latest build's steps that were not taken from the cache."""
        return tuple(s.name for s in self._latest() if s.state != "cached")


def read(output: str) -> Reader:
    """A Reader fed a whole build's output."""
    reader = Reader()
    for line in output.splitlines():
        reader.feed(line)
    return reader
