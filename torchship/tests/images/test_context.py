"""The build context is what git tracks: untracked secrets in subfolders reach no layer."""

from __future__ import annotations

import io
import subprocess
import tarfile
import uuid
from pathlib import Path

import pytest

from torchship import config as tsconfig
from torchship.adapters.docker import Docker
from torchship.errors import ConfigError
from torchship.images.build import build
from torchship.images.context import check_extra, describe_left_out, files, left_out

pytestmark = [pytest.mark.docker, pytest.mark.slow]

# Where a careless developer leaves them: untracked, in subfolders, named so that a
# .dockerignore matching only at the context's root would let them in.
SECRETS = ("config/pip.conf", "secrets/corp.pem", "src/{package}/.netrc", "notes/todo.txt")


def layer_names(engine: Docker, ref: str, tmp_path: Path) -> tuple[set[str], bytes]:
    """Every path in every layer of `ref` and the layers' bytes joined (from `docker save`)."""
    saved = tmp_path / f"{uuid.uuid4().hex}.tar"
    engine("save", "--output", str(saved), ref)
    names: set[str] = set()
    blobs = []
    with tarfile.open(saved) as outer:
        for member in outer.getmembers():
            if not member.name.endswith("layer.tar"):
                continue
            data = outer.extractfile(member)
            assert data is not None
            blob = data.read()
            with tarfile.open(fileobj=io.BytesIO(blob)) as layer:
                names.update(layer.getnames())
            blobs.append(blob)
    saved.unlink()
    return names, b"".join(blobs)


def test_untracked_secrets_in_subfolders_reach_no_layer(
    project: Path, engine: Docker, tmp_path: Path, package: str
) -> None:
    marker = f"ts13-secret-{uuid.uuid4().hex}"
    secrets = [rel.format(package=package) for rel in SECRETS]
    for rel in secrets:
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        (project / rel).write_text(f"{marker}\n")
    # A tracked file is built as the working tree holds it (an uncommitted edit included).
    module = project / "src" / package / "__init__.py"
    module.write_text(module.read_text() + f"\n# uncommitted {marker[-8:]}\n")
    status = subprocess.run(["git", "status", "--porcelain"], cwd=project, check=True,
                            capture_output=True, text=True).stdout
    assert "config/" in status
    assert "secrets/" in status
    built = build(tsconfig.load(project), quiet=True, docker=engine)
    assert {b.spec.variant for b in built} == {"runtime", "devel"}
    for b in built:
        names, blob = layer_names(engine, b.tag, tmp_path)
        for rel in secrets:
            leaf = rel.rsplit("/", 1)[1]
            assert not [n for n in names if n.endswith(rel) or (n.endswith(f"/{leaf}")
                        and "workspace" in n)], (b.spec.variant, rel)
        assert marker.encode() + b"\n" not in blob, b.spec.variant
    devel = next(b for b in built if b.spec.variant == "devel")
    listing = engine("run", "--rm", "--network", "none", "--entrypoint", "sh", devel.tag, "-c",
                     "cd /workspace && find . -type f | sort").stdout.split()
    assert "./pyproject.toml" in listing
    assert f"./src/{package}/__init__.py" in listing
    shown = engine("run", "--rm", "--network", "none", "--entrypoint", "cat", devel.tag,
                   f"/workspace/src/{package}/__init__.py").stdout
    assert f"# uncommitted {marker[-8:]}" in shown
    # The devel image still got the tool's wheel, an extra the build names.
    assert any(p.startswith("torchship==") for p in devel.found.packages)


def test_context_lists_tracked_files_and_named_extras(project: Path) -> None:
    (project / "data").mkdir()
    (project / "data" / "vocab.txt").write_text("a b c\n")
    (project / "secrets").mkdir()
    (project / "secrets" / "corp.pem").write_text("x\n")
    listed = files(project, ["data"])
    assert listed is not None
    assert "pyproject.toml" in listed
    assert "data/vocab.txt" in listed
    assert not any(p.startswith("secrets/") for p in listed)
    assert "torchship.local.toml" not in listed  # untracked (git-ignored) machine settings
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace(
        "[tool.torchship]\n", '[tool.torchship]\ncontext_extras = ["../outside"]\n'))
    with pytest.raises(ConfigError, match=r"context_extras: '\.\./outside' is not a path inside"):
        tsconfig.load(project)


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def test_what_a_build_leaves_out_is_named_and_an_empty_index_is_one_line(tmp_path: Path) -> None:
    """A new module not yet `git add`ed is not built: the build says so (not a silent
    ImportError in the image); a repository that tracks nothing is refused in one line
    (BuildKit's own words were 'failed to compute cache key: not found')."""
    root = tmp_path / "proj"
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "data").mkdir()
    for rel in ("pyproject.toml", "src/pkg/__init__.py", "src/pkg/new.py", "data/v.txt",
                "scratch.log"):
        (root / rel).write_text("x\n")
    (root / ".gitignore").write_text("*.log\n")
    _git(root, "init", "-q")
    with pytest.raises(ConfigError, match=r"git tracks no file in .*proj: an image is built") as exc:
        files(root, [])
    assert exc.value.render().endswith("(`git add` the project's files)")
    _git(root, "add", "pyproject.toml", "src/pkg/__init__.py", ".gitignore")
    # Ignored files are meant to stay out; a named extra is in.
    assert left_out(root, ["data"]) == ["src/pkg/new.py"]
    assert left_out(root, []) == ["data/v.txt", "src/pkg/new.py"]
    assert describe_left_out(["a", "b", "c", "d", "e"]) == (
        "not in the image: 5 file(s) git does not track (a, b, c and 2 more); `git add` what "
        "the image needs, or name it in [tool.torchship] context_extras")
    assert left_out(tmp_path, []) == []  # not a repository: the folder is the context


def test_a_repository_git_refuses_is_an_error_not_the_whole_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """git's "dubious ownership" (a checkout owned by another user, common in containers)
    made the build send the whole folder as if it were no repository: untracked secrets too."""
    import os

    root = tmp_path / "proj"
    root.mkdir()
    (root / "pyproject.toml").write_text("x\n")
    _git(root, "init", "-q")
    _git(root, "add", "pyproject.toml")
    if os.getuid() != 0:
        pytest.skip("handing the folder to another user needs root (CI runs as root)")
    os.chown(root, 4242, os.getgid())  # not ours: git refuses it
    # No safe.directory from this machine's configuration.
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "no-gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    with pytest.raises(ConfigError, match=r"git cannot list the files of .*dubious ownership"):
        files(root, [])
    with pytest.raises(ConfigError, match=r"'\.' is not a path inside the project"):
        check_extra(".")


def test_a_killed_builds_staged_context_is_removed_by_the_next_build(tmp_path: Path) -> None:
    """A build killed before its cleanup left .torchship/context-<pid>-*: the next build
    removes it, never the context of a build still running."""
    import os

    from torchship.images.context import STAGING, staged

    root = tmp_path / "proj"
    root.mkdir()
    (root / "pyproject.toml").write_text("x\n")
    _git(root, "init", "-q")
    _git(root, "add", "pyproject.toml")
    gone = subprocess.run(["sh", "-c", "echo $$"], capture_output=True, text=True,
                          check=True).stdout.strip()  # a pid whose process has ended
    orphan = root / STAGING / f"context-{gone}-abc"
    running = root / STAGING / f"context-{os.getpid()}-def"
    for folder in (orphan, running):
        folder.mkdir(parents=True)
        (folder / "pyproject.toml").write_text("x\n")
    with staged(root) as where:
        assert (where / "pyproject.toml").is_file()
        assert not orphan.exists()
        assert running.exists()
    assert not where.exists()


def test_a_clone_stages_at_the_same_path_each_build_and_beside_a_running_one(
        tmp_path: Path) -> None:
    """A stable path per clone (BuildKit then sends only what changed since its last transfer
    from it; a random folder per build sent everything every time), another one for a build
    running beside it, and nothing left behind."""
    from torchship.images.context import STAGING, staged

    root = tmp_path / "proj"
    root.mkdir()
    (root / "pyproject.toml").write_text("x\n")
    _git(root, "init", "-q")
    _git(root, "add", "pyproject.toml")
    with staged(root) as first:
        assert first == root / STAGING / "context-0"
        with staged(root) as beside:  # a second build of this clone, at the same time
            assert beside == root / STAGING / "context-1"
            assert (beside / "pyproject.toml").is_file()
    with staged(root) as again:
        assert again == first
    assert not first.exists()
    assert not beside.exists()
