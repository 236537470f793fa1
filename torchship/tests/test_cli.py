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


# Every command of the one command line: `torchship <group> [<command>]`.
COMMANDS = [
    "release", "release verify", "release last-good",
    "images", "images build", "images lock", "images pin", "images push", "images run",
    "images rebuild",
    "matrix", "compare", "new", "update",
    "model", "model new", "model pull", "ci", "ci generate", "ci build",
    "dev", "dev shell", "dev jupyter", "dev ssh", "dev devcontainer",
    "env", "env which", "env detect", "hooks", "hooks install", "hook",
]


def _help(words: list[str]) -> tuple[int, str]:
    """`torchship WORDS --help`: its exit status and what it printed on stdout."""
    import contextlib
    import io

    from torchship.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            code = main([*words, "--help"])
        except SystemExit as exited:  # argparse's --help
            code = int(exited.code or 0)
    return code, out.getvalue()


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_s_help_names_its_own_usage(command: str) -> None:
    """`torchship compare --help` printed `usage: nox -s gpu_tests -- ...`; release, images,
    model, ci, dev, env and hooks were invoke tasks only."""
    code, out = _help(command.split())
    assert code == 0
    assert out.startswith(f"usage: torchship {command} "), out


@pytest.mark.parametrize("command", [c for c in COMMANDS if c != "hook"])
def test_a_bad_flag_is_one_line_naming_the_command_s_help(
        command: str, capsys: pytest.CaptureFixture[str]) -> None:
    from torchship.cli import main

    words = command.split()
    if command in ("images run", "images rebuild", "release verify"):
        words.append("v1.0.0")  # the positional they need, so the flag is what is wrong
    with pytest.raises(SystemExit) as exited:
        main([*words, "--bogus"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("error: "), err
    assert f"(see `torchship {command} --help`)" in err, err


def test_an_unknown_group_is_one_line_and_the_top_help_lists_every_group(
        capsys: pytest.CaptureFixture[str]) -> None:
    from torchship.cli import main
    from torchship.commands import GROUPS

    assert main(["bogus"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("error: unknown group 'bogus'")
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: torchship <group>")
    assert all(f"\n  {group} " in out for group in GROUPS)
    assert set(GROUPS) == {c.split()[0] for c in COMMANDS}


def test_every_invoke_task_is_an_alias_of_a_torchship_command() -> None:
    """`invoke --list` names nothing `torchship` does not: each task is its command's alias."""
    from torchship.tasks import ns

    named = {"release.release": "release", "template.new": "new",
             "template.update": "update", "hooks.install": "hooks install"}
    tasks = set(ns.task_names)
    assert len(tasks) >= 20
    for task in tasks:
        command = named.get(task, task.replace(".", " "))
        assert command in COMMANDS, task
        assert _help(command.split())[0] == 0


def test_the_installed_torchship_reaches_every_group() -> None:
    """The console script (pyproject's [project.scripts]) is this command line."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    exe = shutil.which("torchship", path=str(Path(sys.executable).parent))
    assert exe is not None
    for group in ("release", "images", "dev"):
        res = subprocess.run([exe, group, "--help"], capture_output=True, text=True, check=False)
        assert res.returncode == 0
        assert res.stdout.startswith(f"usage: torchship {group} ")
    res = subprocess.run([exe, "images", "build", "--bogus"], capture_output=True, text=True,
                         check=False)
    assert res.returncode == 2
    assert res.stderr == ("error: unrecognized arguments: --bogus "
                          "(see `torchship images build --help`)\n")


def test_the_command_line_imports_nothing_heavy() -> None:
    """`invoke --list`, `nox -l` and every group's parser stay cheap: no torch, docker,
    matplotlib or rich until a command runs."""
    import subprocess
    import sys

    code = ("import sys, importlib; import torchship.tasks, torchship.cli; "
            "from torchship.commands import GROUPS; "
            "[importlib.import_module('torchship.commands.' + m) for m, _ in GROUPS.values()]; "
            "print(sorted(m for m in ('torch', 'docker', 'matplotlib', 'rich', 'git') "
            "if m in sys.modules))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert res.stdout.strip() == "[]"
