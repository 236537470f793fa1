"""The live display and BuildKit's progress as a real build gives it (torchship.ui.progress,
torchship.images.buildkit): what a person sees in an 80-column terminal."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import pytest
from rich.console import Console

from torchship.adapters.docker import Docker
from torchship.errors import CommandFailed
from torchship.images.buildkit import Reader
from torchship.ui.progress import Display

WIDTH = 80


@pytest.fixture(scope="module")
def build_output(engine: Docker, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """BuildKit's plain progress of a real build, then the same build again (all cached),
    then a build whose RUN fails: one output, as a relabelling pass gives two."""
    ctx = tmp_path_factory.mktemp("context")
    (ctx / "a").write_text(uuid.uuid4().hex)  # new content: the first build runs its steps
    (ctx / "Dockerfile").write_text("FROM scratch AS one\nCOPY a /a\n"
                                    "FROM one AS two\nCOPY a /b\nCOPY a /c\n")
    (ctx / "Failing").write_text("FROM scratch\nCOPY a /a\nRUN no-such-command\n")
    tag = f"tsmx-test/progress-{uuid.uuid4().hex[:8]}:1"
    argv = [*engine.build_argv, "--progress", "plain"]
    try:
        lines = []
        for _ in range(2):
            lines += engine(*argv[1:], "--target", "two", "--tag", tag, str(ctx)).stdout \
                .splitlines()
        with pytest.raises(CommandFailed) as failed:
            engine(*argv[1:], "--file", str(ctx / "Failing"), str(ctx))
        return [*lines, *failed.value.output.splitlines()]
    finally:
        engine("rmi", tag, check=False)


def test_reader_follows_each_step_of_a_real_build(build_output: list[str]) -> None:
    reader = Reader()
    changes = [(s.name, s.state) for line in build_output if (s := reader.feed(line))]
    assert ("[two 2/2] COPY a /c", "running") in changes
    assert ("[two 2/2] COPY a /c", "done") in changes     # the first build ran it
    assert ("[two 2/2] COPY a /c", "cached") in changes   # the second took it from the cache
    assert ("exporting to image", "done") in changes
    assert reader.builds == 3
    failed = [s for s in reader.steps if s.state == "failed"]
    assert [s.name for s in failed] == ["[2/2] RUN no-such-command"]
    assert failed[0].error
    # Counts are of the latest build only (its COPY cached), BuildKit's own steps aside.
    assert reader.counts() == (2, 1)


def _shown(display: Display) -> list[str]:
    console = Console(record=True, force_terminal=True, width=WIDTH, file=io.StringIO())
    console.print(display.renderable())
    return console.export_text().splitlines()


def test_live_display_shows_builds_and_suites_in_80_columns(build_output: list[str],
                                                          tmp_path: Path) -> None:
    console = Console(record=True, force_terminal=True, width=WIDTH, file=io.StringIO())
    display = Display("live", console=console, folder=tmp_path,
                      title=f"torchship matrix: logs in {tmp_path}/")
    # The first build up to the start of its last COPY: that step is running. (Found by its
    # name: BuildKit numbers its steps in the order they start, which varies.)
    cut = next(i for i, ln in enumerate(build_output) if ln.endswith("[two 2/2] COPY a /c")) + 1
    with display:
        display.expect("cpu", ["unit", "e2e", "benchmark-with-a-long-name", "smoke"])
        display.expect("cuda-12.6-with-a-long-name", ["unit"])
        build = display.image("cpu/devel", log=tmp_path / "cpu" / "cpu-devel.build.log")
        for line in build_output[:cut]:
            build.line(line)
        mid = _shown(display)
        for line in build_output[cut:]:
            build.line(line)
        build.done("2/2 cached, 12 B")
        display.suite_started("cpu", "unit")
        (tmp_path / "cpu" / "unit.log").write_text("collected 3 items\n3 passed\n")
        display.suite_done("cpu", "unit", status="passed", seconds_taken=7.91,
                           detail="3 passed", log=tmp_path / "cpu" / "unit.log")
        display.suite_started("cpu", "e2e")
        (tmp_path / "cpu" / "benchmark-with-a-long-name.log").write_text(
            "".join(f"line {i}\n" for i in range(30)) + "E   AssertionError: slower\n")
        display.suite_done("cpu", "benchmark-with-a-long-name", status="failed",
                           seconds_taken=75.2, detail="1 failed",
                           log=tmp_path / "cpu" / "benchmark-with-a-long-name.log")
        display.env_failed("cuda-12.6-with-a-long-name", "build-failed", "no base")
        end = _shown(display)
    # While building: the step running now, by its Dockerfile name, and the time so far.
    [row] = [ln for ln in mid if "cpu/devel" in ln]
    assert row.startswith("⠋ cpu/devel building "), mid
    assert row.rstrip().endswith("s [two 2/2] COPY a /c"), mid
    assert "0 of 5 done" in "\n".join(mid)
    # Then: each row a state, a time and its log relative to the run's folder (the title).
    text = "\n".join(end)
    assert f"torchship matrix: logs in {tmp_path}/" in "".join(end[:3])
    [row] = [ln for ln in end if "cpu/devel" in ln]
    assert row.split()[:3] == ["✓", "cpu/devel", "built"]
    assert row.split()[3].endswith("s")  # the build's time
    assert row.rstrip().endswith(" 2/2 cached, 12 B · cpu/cpu-devel.build.log")
    [unit] = [ln for ln in end if "cpu unit" in ln]
    assert unit.split() == ["✓", "cpu", "unit", "passed", "7.9s", "3", "passed", "·",
                            "cpu/unit.log"]
    assert "running" in next(ln for ln in end if "cpu e2e" in ln)
    bench = next(ln for ln in end if "cpu benchmark" in ln)
    assert "✗" in bench
    assert "1m15s" in bench
    assert "waiting" in next(ln for ln in end if "cpu smoke" in ln)
    assert next(ln for ln in end if "cuda-12.6" in ln).split()[3:6] == \
        ["not", "run", "build-failed"]
    assert "3 of 5 done" in text
    assert all(len(ln) <= WIDTH for ln in mid + end), "\n".join(mid + end)
    # Printed above the display as it happened: the failed suite's tail and its whole log.
    above = console.export_text()
    words = " ".join(above.split())  # the terminal wraps these lines at its width
    assert "── cpu benchmark-with-a-long-name failed: the last 20 lines of " \
           "cpu/benchmark-with-a-long-name.log" in words
    assert "E   AssertionError: slower" in above
    assert "line 10" not in above.split("the last 20 lines")[1].split("full log")[0]
    assert f"── full log: {tmp_path / 'cpu' / 'benchmark-with-a-long-name.log'}" in \
        above.replace("\n", "")
    # The build's whole output is in its log, line for line.
    assert (tmp_path / "cpu" / "cpu-devel.build.log").read_text().splitlines() == build_output


def test_a_step_buildkit_cancels_is_not_left_running() -> None:
    """When one step fails, BuildKit cancels the ones running beside it (`#N CANCELED`):
    they end as failed, not shown as running for ever."""
    reader = Reader()
    for line in ["#5 [a 2/2] RUN sleep 30", "#6 [b 2/2] RUN false",
                 "#6 ERROR: process \"/bin/sh -c false\" did not complete successfully: exit code: 1",
                 "#5 CANCELED"]:
        reader.feed(line)
    assert [(s.name, s.state, s.error) for s in reader.steps] == [
        ("[a 2/2] RUN sleep 30", "failed", "canceled"),
        ("[b 2/2] RUN false", "failed",
         'process "/bin/sh -c false" did not complete successfully: exit code: 1')]
