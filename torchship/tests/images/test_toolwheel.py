"""The torchship that drives a build, as a wheel for the devel image (torchship.images.toolwheel).

Origins are read from real dist-info folders as pip writes them (METADATA, direct_url.json);
wheels are built from a real copy of this tool's source.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

from torchship import toolsource
from torchship.images import toolwheel
from torchship.images.spec import ImageError
from torchship.testing.template import GIT_ENV

TOOL = Path(__file__).resolve().parents[2]  # torchship/: its pyproject.toml and src/


def dist_info(tmp: Path, direct_url: dict[str, object] | None, *,
              version: str = "0.2.0") -> metadata.Distribution:
    """An installed distribution's metadata folder, as pip leaves it."""
    info = tmp / f"torchship-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: torchship\nVersion: {version}\n")
    if direct_url is not None:
        (info / "direct_url.json").write_text(json.dumps(direct_url))
    return metadata.PathDistribution(info)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache of the test's own: wheels are really built."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "torchship" / "tool-wheels"


def source_copy(dest: Path) -> Path:
    """This tool's source, as a checkout of it has it."""
    shutil.copytree(TOOL, dest, ignore=shutil.ignore_patterns(
        "tests", "docs", "benchmarks", "*.egg-info", "__pycache__", ".*"))
    return dest


def test_origins_as_pip_records_them(tmp_path: Path) -> None:
    editable = dist_info(tmp_path / "a", {"url": "file:///work/torchship",
                                          "dir_info": {"editable": True}})
    assert toolwheel.origin(dist=editable) == toolwheel.Origin(
        "torchship", "0.2.0", "directory", Path("/work/torchship"))
    wheel = dist_info(tmp_path / "b", {
        "url": "file:///w/torchship-0.2.0-py3-none-any.whl",
        "archive_info": {"hash": "sha256=" + "1" * 64, "hashes": {"sha256": "1" * 64}}})
    assert toolwheel.origin(dist=wheel) == toolwheel.Origin(
        "torchship", "0.2.0", "wheel", Path("/w/torchship-0.2.0-py3-none-any.whl"), "1" * 64)
    sdist = dist_info(tmp_path / "c", {"url": "file:///w/torchship-0.2.0.tar.gz",
                                       "archive_info": {}})
    assert toolwheel.origin(dist=sdist).kind == "archive"
    assert toolwheel.origin(dist=dist_info(tmp_path / "d", None)).kind == "index"
    # Run from a source tree (its src/ on the path): the metadata a build left there.
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / "pyproject.toml").write_text('[project]\nname = "TorchShip"\n')
    in_tree = dist_info(tmp_path / "tree" / "src", None)
    assert toolwheel.origin(dist=in_tree) == toolwheel.Origin(
        "torchship", "0.2.0", "directory", tmp_path / "tree")
    vcs = dist_info(tmp_path / "e", {"url": "https://github.com/x/torchship.git",
                                     "vcs_info": {"vcs": "git", "commit_id": "0" * 40,
                                                  "requested_revision": "torchship-v0.2.0"},
                                     "subdirectory": "torchship"})
    assert toolwheel.origin(dist=vcs) == toolwheel.Origin(
        "torchship", "0.2.0", "git", url="https://github.com/x/torchship.git", commit="0" * 40,
        subdirectory="torchship")
    hg = dist_info(tmp_path / "f", {"url": "https://hg.example.com/torchship",
                                    "vcs_info": {"vcs": "hg", "commit_id": "0" * 40}})
    with pytest.raises(ImageError, match="an image build cannot install"):
        toolwheel.origin(dist=hg)


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True,
                          env={**os.environ, **GIT_ENV}).stdout.strip()


def test_a_git_install_gives_the_wheel_of_the_commit_pip_recorded(tmp_path: Path,
                                                                  cache: Path) -> None:
    """A project whose tool source is a git URL at the tool's tag: the image gets a wheel of
    that very commit, the same bytes as a wheel of the same source from a directory."""
    repo = tmp_path / "repo"
    source_copy(repo / "torchship")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "the tool")
    git(repo, "tag", "torchship-v0.2.0")
    commit = git(repo, "rev-parse", "HEAD")
    module = repo / "torchship" / "src" / "torchship" / "envmatch.py"
    module.write_text(module.read_text() + "\n# after the tag\n")
    git(repo, "commit", "-q", "-am", "after the tag")  # the branch moves on; the commit stays
    org = toolwheel.origin(dist=dist_info(tmp_path / "info", {
        "url": repo.as_uri(), "subdirectory": "torchship",
        "vcs_info": {"vcs": "git", "commit_id": commit, "requested_revision": "torchship-v0.2.0"}}))
    wheel = toolwheel.wheel_for(["torchship~=0.2"], org=org)
    assert wheel is not None
    assert wheel.name == "torchship-0.2.0-py3-none-any.whl"
    assert cache in wheel.parents
    with zipfile.ZipFile(wheel) as zf:
        assert b"# after the tag" not in zf.read("torchship/envmatch.py")
    direct = toolwheel.wheel_of(toolwheel.Origin("torchship", "0.2.0", "directory",
                                                 source_copy(tmp_path / "plain")))
    assert direct is not None
    assert sha256(wheel) == sha256(direct)
    assert toolwheel.wheel_for(["torchship~=0.2"], org=org) == wheel  # cached
    gone = toolwheel.Origin("torchship", "0.2.0", "git", url=repo.as_uri(), commit="f" * 40)
    with pytest.raises(ImageError, match="cannot get that commit again"):
        toolwheel.wheel_of(gone)


@pytest.mark.slow
def test_a_team_index_source_gives_that_versions_wheel_from_there(
        tmp_path: Path, cache: Path, tool_wheels: Path) -> None:
    """The tool installed from the team's index ([tool.torchship.tool] source = its URL):
    this machine's pip fetches that version from there for the build, whose own pip need
    not reach the index (or hold its credentials)."""
    [built] = tool_wheels.glob("torchship-*.whl")
    version = built.name.split("-")[1]
    index = tmp_path / "simple"
    (index / "torchship").mkdir(parents=True)
    shutil.copy2(built, index / "torchship" / built.name)
    # A PEP 503 simple index as files (pip reads a file:// folder's index.html).
    (index / "torchship" / "index.html").write_text(
        f'<!DOCTYPE html><html><body><a href="{built.name}">{built.name}</a></body></html>\n')
    org = toolwheel.Origin("torchship", version, "index")
    assert toolwheel.wheel_for([f"torchship=={version}"], org=org) is None  # the public index
    source = toolsource.parse(index.as_uri())
    staged = toolwheel.stage(tmp_path / "context", [f"torchship=={version}"], org=org,
                             source=source)
    assert [p.name for p in staged] == [built.name]
    assert sha256(staged[0]) == sha256(built)
    missing = toolwheel.Origin("torchship", "9.9.9", "index")
    with pytest.raises(ImageError, match=r"torchship 9\.9\.9 \(installed from index\): not on file://"):
        toolwheel.wheel_of(missing, source)


def test_this_checkout_is_seen_as_a_directory_install() -> None:
    """The repository's own venv installs ./torchship editable (the root noxfile, .ci/run)."""
    org = toolwheel.origin()
    if org.kind != "directory":
        pytest.skip(f"torchship is installed from {org.kind} here")
    assert org.path is not None
    assert (org.path / "src" / "torchship" / "images" / "toolwheel.py").is_file()


def test_a_directory_gives_the_same_wheel_bytes_every_time(tmp_path: Path, cache: Path) -> None:
    org = toolwheel.Origin("torchship", "0.2.0", "directory", source_copy(tmp_path / "src"))
    first = toolwheel.wheel_of(org)
    assert first is not None
    assert first.name == "torchship-0.2.0-py3-none-any.whl"
    digest = sha256(first)
    # Built in a clean copy: nothing of the build lands in the checkout.
    assert not (tmp_path / "src" / "build").exists()
    assert not list((tmp_path / "src" / "src").glob("*.egg-info"))
    # The cache gone, and the checkout touched (new mtimes) and given build debris: the same
    # source still gives the same bytes.
    shutil.rmtree(cache)
    (tmp_path / "src" / "build" / "lib" / "torchship").mkdir(parents=True)
    (tmp_path / "src" / "build" / "lib" / "torchship" / "deleted_module.py").write_text("x = 1\n")
    for path in (tmp_path / "src").rglob("*.py"):
        path.touch()
    again = toolwheel.wheel_of(org)
    assert again is not None
    assert sha256(again) == digest
    # A change to the source is another wheel.
    module = tmp_path / "src" / "src" / "torchship" / "envmatch.py"
    module.write_text(module.read_text() + "\n# changed\n")
    changed = toolwheel.wheel_of(org)
    assert changed is not None
    assert sha256(changed) != digest


def test_a_wheel_install_gives_that_wheel_checked_against_its_hash(tmp_path: Path) -> None:
    wheel = tmp_path / "torchship-0.2.0-py3-none-any.whl"
    wheel.write_bytes(b"not really a wheel, but the bytes pip hashed")
    org = toolwheel.Origin("torchship", "0.2.0", "wheel", wheel, sha256(wheel))
    assert toolwheel.wheel_of(org) == wheel
    wheel.write_bytes(b"replaced since")
    with pytest.raises(ImageError, match="the wheel changed since it was installed"):
        toolwheel.wheel_of(org)
    wheel.unlink()
    with pytest.raises(ImageError, match="the wheel is gone"):
        toolwheel.wheel_of(org)
    assert toolwheel.wheel_of(toolwheel.Origin("torchship", "0.2.0", "index")) is None


def test_the_projects_pin_must_admit_the_tool() -> None:
    org = toolwheel.Origin("torchship", "0.2.3", "index")
    toolwheel.check_pins(org, ["numpy>=1.24", "torchship~=0.2", "torchship[x]>=0.1"])
    with pytest.raises(ImageError) as refused:
        toolwheel.check_pins(org, ["torchship~=0.3"])
    assert refused.value.render() == (
        "the project requires torchship~=0.3, but the torchship building it is 0.2.3 (raise the "
        "pin in pyproject.toml, or build with a torchship it admits)")
    with pytest.raises(ImageError, match=r"requires Torchship==0\.2\.0"):
        toolwheel.check_pins(org, ["Torchship==0.2.0"])


def test_stage_fills_the_context_only_when_needed_and_writes_only_new_bytes(
        tmp_path: Path) -> None:
    wheel = tmp_path / "torchship-0.2.0-py3-none-any.whl"
    wheel.write_bytes(b"wheel bytes")
    org = toolwheel.Origin("torchship", "0.2.0", "wheel", wheel, sha256(wheel))
    context = tmp_path / "project"
    folder = context / toolwheel.WHEELS
    # Lines that do not name the tool: the folder exists (a bind mount needs it), empty.
    assert toolwheel.stage(context, ["numpy"], org=org) == []
    assert folder.is_dir()
    assert list(folder.iterdir()) == []
    (folder / "torchship-0.1.0-py3-none-any.whl").write_bytes(b"an older tool")
    [staged] = toolwheel.stage(context, ["numpy", "torchship~=0.2"], org=org)
    assert staged == folder / wheel.name
    assert [p.name for p in folder.iterdir()] == [wheel.name]  # the older one went
    before = staged.stat()
    toolwheel.stage(context, ["torchship~=0.2"], org=org)
    after = staged.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    # An index serves the tool: nothing staged, the folder emptied.
    assert toolwheel.stage(context, ["torchship~=0.2"],
                           org=toolwheel.Origin("torchship", "0.2.0", "index")) == []
    assert list(folder.iterdir()) == []


def test_an_install_from_a_find_links_folder_gives_that_folders_wheel(
        tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """pip records no direct_url.json for a wheel it found through find-links (a project made
    from the template, here): the folder is out of the build's reach, so the wheel whose files
    are exactly the installed ones is staged; a rebuilt, different wheel is not taken."""
    import subprocess
    import sys

    built = toolwheel.wheel_of(toolwheel.Origin("torchship", "0.2.0", "directory",
                                                source_copy(tmp_path / "src")))
    assert built is not None
    links = tmp_path / "links"
    links.mkdir()
    shutil.copy2(built, links / built.name)
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
                    "--find-links", str(links), "--target", str(target), "torchship"], check=True)
    [info] = target.glob("torchship-*.dist-info")
    dist = metadata.PathDistribution(info)
    assert dist.read_text("direct_url.json") is None

    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    monkeypatch.delenv("UV_FIND_LINKS", raising=False)
    monkeypatch.setenv("PIP_CONFIG_FILE", str(tmp_path / "no-pip.conf"))
    assert toolwheel.origin(dist=dist).kind == "index"  # no folder named: the index serves it

    monkeypatch.setenv("PIP_FIND_LINKS", f"file://{links}")
    found = toolwheel.origin(dist=dist)
    assert (found.kind, found.path) == ("wheel", links / built.name)
    assert toolwheel.wheel_of(found) == links / built.name

    # Same name and version, other files: not the installed distribution.
    other = links / built.name
    source = source_copy(tmp_path / "other")
    module = source / "src" / "torchship" / "envmatch.py"
    module.write_text(module.read_text() + "\n# another build\n")
    rebuilt = toolwheel.wheel_of(toolwheel.Origin("torchship", "0.2.0", "directory", source))
    assert rebuilt is not None
    shutil.copy2(rebuilt, other)
    assert toolwheel.origin(dist=dist).kind == "index"


@pytest.fixture(scope="session")
def uv(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A real uv: the one on PATH, else uv's wheel from the index into a folder of the test's
    own (not into the tests' environment, where nested nox runs would take it up)."""
    import subprocess
    import sys

    found = shutil.which("uv")
    if found:
        return found
    target = tmp_path_factory.mktemp("uv")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--target", str(target),
                    "uv>=0.4"], check=True)
    return str(target / "bin" / "uv")


def test_an_environment_without_pip_builds_the_wheel_with_uv(
        tmp_path: Path, cache: Path, uv: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """nox's `uv|virtualenv` makes environments without pip: the wheel is built by uv ($UV,
    as nox reads it, else PATH's), reproducibly too; with neither, one line says how."""
    with_pip = toolwheel.build_wheel(source_copy(tmp_path / "src"), tmp_path / "pip")
    monkeypatch.setattr(toolwheel, "_has_pip", lambda: False)
    monkeypatch.setenv("UV", uv)
    assert toolwheel.wheel_command(tmp_path, tmp_path)[0] == uv
    assert toolwheel.wheel_command(tmp_path, tmp_path)[1:3] == ["build", "--quiet"]
    first = toolwheel.build_wheel(source_copy(tmp_path / "a"), tmp_path / "uv-a")
    second = toolwheel.build_wheel(source_copy(tmp_path / "b"), tmp_path / "uv-b")
    assert first.name == with_pip.name
    assert sha256(first) == sha256(second)

    monkeypatch.delenv("UV")
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    with pytest.raises(ImageError, match="has no pip and no uv is on PATH"):
        toolwheel.wheel_command(tmp_path, tmp_path)
