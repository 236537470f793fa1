"""The pure parts: changelog surgery keeps every other byte; version arithmetic."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from torchship.release import changelog, version
from torchship.release.changelog import ChangelogError
from torchship.release.steps import shown_url
from torchship.release.version import Version, VersionError

LOG = """# Changelog
Hand-written preamble,  with  odd   spacing.\t

## [Unreleased]
### Added
- a thing
<!-- a manual note that must survive -->

## [1.2.3] - 2024-01-02
### Fixed
* something

[Unreleased]: https://example.com/o/r/compare/v1.2.3...HEAD
[1.2.3]: https://example.com/o/r/compare/v1.2.2...v1.2.3
"""


def test_promote_changes_only_the_heading_and_links() -> None:
    log = changelog.parse(LOG)
    out = changelog.promote(log, "1.3.0", tag="v1.3.0", day=date(2025, 5, 6))
    assert out == LOG.replace(
        "## [Unreleased]\n", "## [Unreleased]\n\n## [1.3.0] - 2025-05-06\n").replace(
        "[Unreleased]: https://example.com/o/r/compare/v1.2.3...HEAD\n",
        "[Unreleased]: https://example.com/o/r/compare/v1.3.0...HEAD\n"
        "[1.3.0]: https://example.com/o/r/compare/v1.2.3...v1.3.0\n")


def test_promote_keeps_crlf_line_endings() -> None:
    crlf = LOG.replace("\n", "\r\n")
    out = changelog.promote(changelog.parse(crlf), "1.3.0", tag="v1.3.0", day=date(2025, 5, 6))
    assert "\n" not in out.replace("\r\n", "")
    assert "## [Unreleased]\r\n\r\n## [1.3.0] - 2025-05-06\r\n### Added" in out


def test_first_release_turns_a_commits_link_into_compare_links() -> None:
    text = "# Changelog\n\n## [Unreleased]\n- x\n\n[unreleased]: https://h/o/r/commits/main\n"
    out = changelog.promote(changelog.parse(text), "0.1.1", tag="v0.1.1", day=date(2025, 1, 1))
    assert out.endswith("[unreleased]: https://h/o/r/compare/v0.1.1...HEAD\n"
                        "[0.1.1]: https://h/o/r/releases/tag/v0.1.1\n")


def test_section_body_for_the_tag_message() -> None:
    log = changelog.parse(LOG)
    sec = log.section("Unreleased")
    assert sec is not None
    assert log.body(sec) == ("### Added\n- a thing\n<!-- a manual note that must survive -->\n")


@pytest.mark.parametrize(("text", "says"), [
    ("no title\n## [Unreleased]\n- x\n", "no `# Changelog` title"),
    ("# C\n## [1.0.0] - 2024-01-01\n- a\n## [Unreleased]\n- x\n", "not the first section"),
    ("# C\n## [Unreleased]\n- x\n## [Unreleased]\n", "appears 2 times"),
    ("# C\n## [Unreleased]\n- x\n## 1.0 (today)\n", "line 4: heading"),
    ("# C\n## [Unreleased]\n- x\n\n[unreleased]: https://h/o/r/weird\n", "not a compare link"),
])
def test_malformed(text: str, says: str) -> None:
    with pytest.raises(ChangelogError) as err:
        changelog.promote(changelog.parse(text), "1.0.1", tag="v1.0.1", day=date(2025, 1, 1))
    assert says in err.value.render()


LABELS = ["a", "b", "rc"]


@pytest.mark.parametrize(("current", "kwargs", "expected"), [
    ("1.2.3", {"part": "patch"}, "1.2.4"),
    ("1.2.3", {"part": "minor"}, "1.3.0"),
    ("1.2.3", {"part": "major"}, "2.0.0"),
    ("1.2.3", {"part": "minor", "pre": "rc"}, "1.3.0rc1"),
    ("1.3.0rc1", {"pre": "rc"}, "1.3.0rc2"),
    ("1.3.0a2", {"pre": "rc"}, "1.3.0rc1"),
    ("1.3.0rc2", {"final": True}, "1.3.0"),
    ("1.3.0rc2", {"part": "patch"}, "1.3.1"),
])
def test_next_version(current: str, kwargs: dict[str, object], expected: str) -> None:
    args = {"part": None, "pre": None, "final": False, **kwargs}
    got = version.next_version(version.parse(current), labels=LABELS, **args)  # type: ignore[arg-type]
    assert str(got) == expected


@pytest.mark.parametrize(("current", "kwargs", "says"), [
    ("1.3.0rc1", {"pre": "a"}, "a comes before rc"),
    ("1.2.3", {"final": True}, "not a pre-release"),
    ("1.2.3", {"part": "patch", "final": True}, "--final takes neither"),
])
def test_next_version_refuses(current: str, kwargs: dict[str, object], says: str) -> None:
    args = {"part": None, "pre": None, "final": False, **kwargs}
    with pytest.raises(VersionError) as err:
        version.next_version(version.parse(current), labels=LABELS, **args)  # type: ignore[arg-type]
    assert says in err.value.render()


def test_version_str_roundtrip() -> None:
    assert str(Version(1, 0, 0, "rc", 3)) == "1.0.0rc3"


@pytest.mark.parametrize(("url", "shown"), [
    ("/srv/git/project.git", "/srv/git/project.git"),
    ("git@forge.example:team/project.git", "git@forge.example:team/project.git"),
    ("ssh://git@forge.example/team/project.git", "ssh://git@forge.example/team/project.git"),
    ("https://forge.example/team/project.git", "https://forge.example/team/project.git"),
    ("https://oauth2:s3cret@forge.example/team/project.git",
     "https://forge.example/team/project.git"),
    ("https://token@forge.example/p.git", "https://forge.example/p.git"),
])
def test_a_pushed_remote_is_shown_without_its_credentials(url: str, shown: str) -> None:
    assert shown_url(url) == shown


def test_a_step_removes_again_the_folders_it_made_and_only_empty_ones(tmp_path: Path) -> None:
    """The model card in a new folder, the baseline under a new results/releases/: the
    rollback leaves no empty folder behind, and never one that something else came into."""
    from torchship.release.steps import _missing_dirs, _remove_empty

    card = tmp_path / "docs" / "cards" / "MODEL_CARD.md"
    made = _missing_dirs(card)
    assert made == [str(tmp_path / "docs" / "cards"), str(tmp_path / "docs")]
    card.parent.mkdir(parents=True)
    card.write_text("card\n")
    card.unlink()
    _remove_empty(made)
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    (tmp_path / "docs" / "cards").mkdir(parents=True)
    (tmp_path / "docs" / "notes.md").write_text("someone else's\n")
    _remove_empty(made)
    assert sorted(p.name for p in (tmp_path / "docs").iterdir()) == ["notes.md"]
    assert _missing_dirs(tmp_path / "file") == []


@pytest.mark.parametrize(("item", "expected"), [
    ("127.0.0.1:5000/app@sha256:" + "a" * 64, "127.0.0.1:5000/app@sha256:" + "a" * 64),
    ("127.0.0.1:5000/app:1.0-cpu-runtime@sha256:" + "b" * 64, "127.0.0.1:5000/app@sha256:" + "b" * 64),
    ("ghcr.io/t/app:1.0-cpu-runtime", "ghcr.io/t/app:1.0-cpu-runtime"),
])
def test_a_recorded_image_is_pinned_by_the_one_reference_parser(item: str, expected: str) -> None:
    """A registry port is not a tag (images.reference): 127.0.0.1:5000/app@sha256:... once
    became 127.0.0.1@sha256:..."""
    from torchship.release.lastgood import pinned

    assert pinned(item) == expected
