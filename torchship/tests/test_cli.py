"""The CLI edge every command shares: an expected failure is one `error:` line and its exit
code, Ctrl-C is `error: interrupted` and 130, a usage error names the command's --help."""

from __future__ import annotations

import pytest

from torchship.cli import Parser, edge, guarded
from torchship.errors import ConfigError


def _fails() -> int:
    raise ConfigError("[tool.torchship]", "no such table", hint="add one to pyproject.toml")


def _interrupted() -> int:
    raise KeyboardInterrupt("SIGTERM")


def test_guarded_turns_an_expected_failure_into_its_line_and_code(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert guarded(_fails) == ConfigError.exit_code
    assert capsys.readouterr().err == (
        "error: [tool.torchship]: no such table (add one to pyproject.toml)\n")


def test_guarded_reports_an_interruption_with_the_callers_words(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert guarded(_interrupted, interrupted="interrupted; nothing was left") == 130
    assert capsys.readouterr().err == "error: interrupted; nothing was left\n"


def test_guarded_passes_the_bodys_status_through(capsys: pytest.CaptureFixture[str]) -> None:
    assert guarded(lambda: 3) == 3
    assert capsys.readouterr().err == ""


def test_guarded_lets_a_bug_raise() -> None:
    def bug() -> int:
        raise ValueError("a bug keeps its traceback")

    with pytest.raises(ValueError, match="traceback"):
        guarded(bug)


def test_edge_returns_the_tasks_result_or_exits_with_the_code(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert edge(lambda x: x * 2)(21) == 42
    with pytest.raises(SystemExit) as exited:
        edge(_fails)()
    assert exited.value.code == ConfigError.exit_code
    assert capsys.readouterr().err.startswith("error: [tool.torchship]: no such table")


def test_parser_usage_error_is_one_line_naming_the_commands_help(
        capsys: pytest.CaptureFixture[str]) -> None:
    parser = Parser(prog="torchship update")
    parser.add_argument("--to")
    with pytest.raises(SystemExit) as exited:
        parser.parse_args(["--bogus"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err == "error: unrecognized arguments: --bogus (see `torchship update --help`)\n"
