"""Keep a Changelog 1.1.0: parse, promote [Unreleased] to a release, the section for a tag.

Edits are line surgery on the original text, so everything the release does not touch
(manual edits, spacing, line endings) survives byte for byte.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from torchship.errors import TorchshipError

_H2 = re.compile(r"^##(?!#)\s*(?P<rest>.*?)\s*$")
_UNRELEASED = re.compile(r"^\[unreleased\]$", re.IGNORECASE)
_RELEASED = re.compile(
    r"^\[(?P<version>[^\]\s]+)\]\s+-\s+(?P<date>\d{4}-\d{2}-\d{2})(?:\s+\[YANKED\])?$")
_LINK = re.compile(r"^\[(?P<label>[^\]]+)\]:\s*(?P<url>\S+)\s*$")
_ENTRY = re.compile(r"^\s*[-*+]\s+\S")


class ChangelogError(TorchshipError):
    """CHANGELOG.md is missing, malformed, or has nothing to release."""

    def __init__(self, path: str, problem: str, *, hint: str | None = None) -> None:
        super().__init__(f"{path}: {problem}", hint=hint)


@dataclass(frozen=True)
class Section:
    """One `## ...` section: its heading line index and the line range of its body."""

    title: str            # "Unreleased" or the version
    heading: int          # index of the `## ` line
    end: int              # index one past the body's last line
    date: str | None = None


@dataclass(frozen=True)
class Changelog:
    """A parsed CHANGELOG.md: the raw lines (ends kept), its sections and link lines."""

    path: str
    lines: tuple[str, ...]
    sections: tuple[Section, ...]
    links: tuple[tuple[int, str, str], ...]   # (line index, label, url)

    @property
    def newline(self) -> str:
        first = self.lines[0] if self.lines else "\n"
        return "\r\n" if first.endswith("\r\n") else "\n"

    def section(self, title: str) -> Section | None:
        for s in self.sections:
            if s.title.lower() == title.lower():
                return s
        return None

    def body(self, section: Section) -> str:
        """A section's text without its heading, trimmed of blank lines around it."""
        text = "".join(self.lines[section.heading + 1:section.end])
        return text.strip("\r\n").rstrip() + "\n" if text.strip() else ""

    def entries(self, section: Section) -> list[str]:
        return [ln for ln in self.lines[section.heading + 1:section.end] if _ENTRY.match(ln)]

    @property
    def text(self) -> str:
        return "".join(self.lines)


def parse(text: str, *, path: str = "CHANGELOG.md") -> Changelog:
    """Parse `text`; a ChangelogError names the line that does not fit the format."""
    lines = tuple(text.splitlines(keepends=True))
    if not any(ln.startswith("# ") for ln in lines):
        raise ChangelogError(path, "no `# Changelog` title; not a Keep a Changelog file",
                             hint="see https://keepachangelog.com/en/1.1.0/")
    heads: list[tuple[int, str, str | None]] = []
    links: list[tuple[int, str, str]] = []
    for i, line in enumerate(lines):
        link = _LINK.match(line.rstrip("\r\n"))
        if link:
            links.append((i, link["label"], link["url"]))
            continue
        m = _H2.match(line.rstrip("\r\n"))
        if not m:
            continue
        rest = m["rest"]
        if _UNRELEASED.match(rest):
            heads.append((i, "Unreleased", None))
            continue
        rel = _RELEASED.match(rest)
        if not rel:
            raise ChangelogError(path, f"line {i + 1}: heading {line.strip()!r} is neither "
                                       "`## [Unreleased]` nor `## [X.Y.Z] - YYYY-MM-DD`",
                                 hint="fix the heading (Keep a Changelog 1.1.0)")
        heads.append((i, rel["version"], rel["date"]))
    titles = [t.lower() for _, t, _ in heads]
    for t in set(titles):
        if titles.count(t) > 1:
            raise ChangelogError(path, f"section [{t}] appears {titles.count(t)} times",
                                 hint="merge the duplicates into one section")
    if "unreleased" in titles and titles.index("unreleased") != 0:
        raise ChangelogError(path, "[Unreleased] is not the first section",
                             hint="move it above the released versions")
    link_start = links[0][0] if links else len(lines)
    if heads and link_start < heads[-1][0]:
        raise ChangelogError(path, f"line {link_start + 1}: link definitions must come after "
                                   "the last section", hint="move them to the bottom")
    sections = []
    for n, (i, title, day) in enumerate(heads):
        end = heads[n + 1][0] if n + 1 < len(heads) else link_start
        sections.append(Section(title, i, end, day))
    return Changelog(path, lines, tuple(sections), tuple(links))


def unreleased(log: Changelog) -> Section:
    """The [Unreleased] section, which must have at least one entry."""
    sec = log.section("Unreleased")
    if sec is None:
        raise ChangelogError(log.path, "no `## [Unreleased]` section",
                             hint="add one above the released versions and list the changes")
    if not log.entries(sec):
        raise ChangelogError(log.path, "[Unreleased] has no entries; nothing to release",
                             hint="list the changes under ### Added/Changed/Fixed as `- ...`")
    return sec


def _compare_links(log: Changelog, tag: str) -> dict[int, str]:
    """Line index -> replacement text for the [unreleased] link (plus the new version's)."""
    nl = log.newline
    for i, label, url in log.links:
        if label.lower() != "unreleased":
            continue
        if url.endswith("...HEAD") and "/compare/" in url:
            base, prev = url[: -len("...HEAD")].rsplit("/compare/", 1)
            new_link = f"{base}/compare/{prev}...{tag}"
        else:
            m = re.match(r"^(?P<repo>.+?)/(?:commits|tree)/[^/]+/?$", url)
            if not m:
                raise ChangelogError(log.path, f"line {i + 1}: the [{label}] link {url!r} is "
                                               "not a compare link ending in ...HEAD",
                                     hint="use <repo>/compare/<last tag>...HEAD")
            base, new_link = m["repo"], f"{m['repo']}/releases/tag/{tag}"
        return {i: f"[{label}]: {base}/compare/{tag}...HEAD{nl}"
                   f"[{{version}}]: {new_link}{nl}"}
    return {}


def promote(log: Changelog, version: str, *, tag: str, day: date) -> str:
    """The changelog text with [Unreleased] released as `version`; nothing else changes."""
    sec = unreleased(log)
    if log.section(version) is not None:
        raise ChangelogError(log.path, f"already has a section for {version}",
                             hint="pick another version, or remove the stale section")
    nl = log.newline
    heading = log.lines[sec.heading]
    # Keep the user's own spelling of the heading; add the release below it.
    release_heading = f"## [{version}] - {day.isoformat()}{nl}"
    out = list(log.lines)
    links = _compare_links(log, tag)
    for i, text in links.items():
        out[i] = text.replace("{version}", version)
    out[sec.heading] = heading if heading.endswith(("\n", "\r")) else heading + nl
    out.insert(sec.heading + 1, f"{nl}{release_heading}")
    return "".join(out)
