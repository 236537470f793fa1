"""[tool.torchship.tool] source: where a project installs torchship from, validated once,
and turned into the same pip arguments by the tool and by the project's own scripts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from torchship import config, toolsource
from torchship.errors import ConfigError

TEMPLATE = Path(__file__).resolve().parents[3]  # the repository: the template's scripts/
GIT = "git+https://github.com/torchship/torchship@torchship-v0.2.0#subdirectory=torchship"
VALID = {
    "index": ("index", []),
    GIT: ("git", [f"torchship @ {GIT}"]),
    "git+ssh://git@git.example.com/ml/torchship.git@torchship-v0.3.1#subdirectory=torchship":
        ("git", ["torchship @ git+ssh://git@git.example.com/ml/torchship.git@torchship-v0.3.1"
                 "#subdirectory=torchship"]),
    "git+file:///srv/git/template.git@torchship-v0.2.0#subdirectory=torchship":
        ("git", ["torchship @ git+file:///srv/git/template.git@torchship-v0.2.0"
                 "#subdirectory=torchship"]),
    "https://pypi.example.com/simple": ("url", ["--extra-index-url",
                                                "https://pypi.example.com/simple"]),
    "./torchship": ("path", ["-e", "./torchship"]),
}
INVALID = {
    "pypi": "'pypi' is not a tool source",
    "": "'' is not a tool source",
    "git+https://github.com/torchship/torchship#subdirectory=torchship": "names no tag",
    "git+https://github.com/torchship/torchship@torchship-v0.2.0": "does not say where the tool is",
    "git+ftp://example.com/x@v1#subdirectory=torchship": "is not a git URL pip can install",
    "https://me:secret@pypi.example.com/simple": "holds a password",
    "./../torchship": "is not a folder inside the project",
    "/opt/torchship": "'/opt/torchship' is not a tool source",
}


def project(tmp_path: Path, source: object | None) -> Path:
    """A pyproject.toml whose [tool.torchship.tool] source is `source` (None: no table)."""
    table = "" if source is None else f"[tool.torchship.tool]\nsource = {json.dumps(source)}\n"
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "demo"\nversion = "0.1.0"\n' + table)
    return tmp_path


@pytest.mark.parametrize("text", list(VALID))
def test_each_form_is_read_with_the_pip_arguments_that_install_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.delenv("TORCHSHIP_LOCAL_CONFIG", raising=False)
    kind, args = VALID[text]
    source = config.load(project(tmp_path, text)).tool_source
    assert (source.text, source.kind, source.pip_args()) == (text, kind, args)


def test_no_table_means_the_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TORCHSHIP_LOCAL_CONFIG", raising=False)
    source = config.load(project(tmp_path, None)).tool_source
    assert (source.kind, source.pip_args()) == ("index", [])
    assert source.install("-e '.[dev]'") == "pip install -e '.[dev]'"


@pytest.mark.parametrize("text", list(INVALID))
def test_a_bad_source_is_one_line_naming_the_key_and_the_forms(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.delenv("TORCHSHIP_LOCAL_CONFIG", raising=False)
    with pytest.raises(ConfigError) as info:
        config.load(project(tmp_path, text))
    line = info.value.render()
    assert line.startswith(f"tool.torchship.tool.source: {text!r}")
    assert INVALID[text] in line
    assert "\n" not in line


def test_a_source_that_is_no_string_or_an_unknown_key_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TORCHSHIP_LOCAL_CONFIG", raising=False)
    with pytest.raises(ConfigError, match=r"^tool.torchship.tool.source: 3 is not a tool source"):
        config.load(project(tmp_path, 3))
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "demo"\n[tool.torchship.tool]\nsorce = "index"\n')
    with pytest.raises(ConfigError, match=r"^tool.torchship.tool.sorce: unknown key"):
        config.load(tmp_path)


def test_the_default_is_this_repository_at_the_tools_own_tag() -> None:
    source = toolsource.default_for("0.4.1")
    assert source == toolsource.parse(
        "git+https://github.com/torchship/torchship@torchship-v0.4.1#subdirectory=torchship")


@pytest.mark.parametrize("text", list(VALID))
def test_the_projects_script_gives_the_same_arguments(tmp_path: Path, text: str) -> None:
    """scripts/tool_source.py (setup_dev.sh and noxfile.py, before the tool is installed)
    agrees with the tool on every form."""
    root = project(tmp_path, text).resolve()
    # The script reads the pyproject.toml of the project it sits in: a copy of it in this one.
    (root / "scripts").mkdir()
    (root / "scripts" / "tool_source.py").write_bytes(
        (TEMPLATE / "scripts" / "tool_source.py").read_bytes())
    res = subprocess.run([sys.executable, str(root / "scripts" / "tool_source.py")],
                         capture_output=True, text=True, check=True)
    expected = toolsource.parse(text).pip_args()
    if text.startswith("./"):
        expected = ["-e", str(root / "torchship")]
    assert res.stdout.splitlines() == expected
