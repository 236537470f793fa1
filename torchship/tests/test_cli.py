"""The CLI edge every command shares: an expected failure is one `error:` line and its exit
code, Ctrl-C is `error: interrupted` and 130, a usage error names the command's --help."""

from __future__ import annotations

import pytest

from torchship.cli import Parser, after_dashes, edge, guarded
from torchship.errors import ConfigError, TorchshipError


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


def test_the_words_after_dashes_keep_their_quoting(monkeypatch: pytest.MonkeyPatch) -> None:
    """invoke joins them into one string (`c.remainder`); the shell's words are in argv."""
    monkeypatch.setattr("sys.argv", ["invoke", "images.run", "v1", "--", "python", "-c",
                                     "print('a b')"])
    assert after_dashes("python -c print('a b')") == ["python", "-c", "print('a b')"]
    monkeypatch.setattr("sys.argv", ["python"])  # a task called from Python: its remainder
    assert after_dashes("sh -c 'exit 3'") == ["sh", "-c", "exit 3"]
    assert after_dashes("") == []
    with pytest.raises(TorchshipError, match="the command after `--`: No closing"):
        after_dashes("sh -c 'unbalanced")


@pytest.mark.parametrize("command", ["matrix", "compare"])
def test_each_command_s_help_names_its_own_usage(command: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """`torchship compare --help` printed `usage: nox -s gpu_tests -- ...`."""
    from torchship.cli import main

    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: torchship {command} ")
    with pytest.raises(SystemExit):
        main([command, "--bogus"])
    assert f"(see `torchship {command} --help`)" in capsys.readouterr().err
