"""Image references: `[host[:port]/]path[:tag][@sha256:<digest>]`, parsed in one place.

The configuration's bases, the tags torchship builds and pushes, and the registry lookups
all go through `Reference.parse`. Only what this project uses is accepted (lower-case
names, a sha256 digest), and a reference that is not one is a ConfigError naming the key
it came from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from torchship.errors import ConfigError

# name[:tag][@sha256:<64 hex>]; the name may start with a registry host with a port.
_REF = re.compile(
    r"^(?P<name>[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
)
_LOCAL_HOST = re.compile(r"^(127\.0\.0\.1|localhost)(:\d+)?$")


@dataclass(frozen=True)
class Reference:
    """A parsed image reference: name (with its registry host, if any), tag, digest."""

    name: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text: str, *, key: str = "image reference") -> Reference:
        """`text` split into its parts; ConfigError under `key` when it is not a reference."""
        m = _REF.match(text.strip())
        if not m:
            raise ConfigError(key, f"{text!r} is not an image reference",
                              hint="expected [host[:port]/]name[:tag][@sha256:<digest>]")
        return cls(m["name"], m["tag"], m["digest"])

    @property
    def host(self) -> str | None:
        """The registry host (with its port), or None for Docker Hub. As docker decides:
        the first component is a host when it has a dot or a port, or is `localhost`."""
        first, _, rest = self.name.partition("/")
        if rest and ("." in first or ":" in first or first == "localhost"):
            return first
        return None

    @property
    def path(self) -> str:
        """The repository path inside its registry."""
        host = self.host
        return self.name[len(host) + 1:] if host else self.name

    @property
    def local_http(self) -> bool:
        """A registry on this machine (plain HTTP: the engine trusts 127.0.0.1)."""
        host = self.host
        return bool(host and _LOCAL_HOST.match(host))

    @property
    def pinned(self) -> str:
        """The reference a build uses: by digest when there is one."""
        return f"{self.name}@{self.digest}" if self.digest else str(self)

    def __str__(self) -> str:
        s = self.name + (f":{self.tag}" if self.tag else "")
        return s + (f"@{self.digest}" if self.digest else "")


_COMMIT = re.compile(r"^[0-9a-f]{12,64}$")
_TAG_PART = re.compile(r"[^A-Za-z0-9_.-]")


def commit_tag(commit: str, env: str, variant: str) -> str:
    """The tag CI gives the image it built of `commit` for `env` and `variant`:
    `sha-<12-hex commit>-<env>-<variant>` (the part after `<image>:`). Every place that makes
    or looks up such a tag calls this. A commit that is not (at least 12) hex digits is a
    ConfigError; characters a tag cannot hold in `env` become `-`."""
    if not _COMMIT.match(commit):
        raise ConfigError("commit", f"{commit!r} is not a commit id",
                          hint="the full (or at least 12-digit) lower-case hex id: "
                               "git rev-parse HEAD")
    tag = f"sha-{commit[:12]}-{_TAG_PART.sub('-', env)}-{variant}"
    if len(tag) > 128:
        raise ConfigError("commit", f"the tag {tag[:40]}... is longer than the 128 characters "
                          "a tag may have", hint="a shorter environment name")
    return tag
