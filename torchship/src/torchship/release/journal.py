"""The release journal's contents as typed records (pydantic), validated whenever it is read.

A journal decides what `--resume` deletes, restores and pushes, so one the tool did not write
(hand-edited, from another version, crafted) is refused in one line before anything acts on
it. The records say which fields exist and their types; `steps.Journal.load` adds what a
type cannot say: every path stays inside the work tree and outside `.git`.
"""

from __future__ import annotations

import base64
import binascii
import builtins
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator


class Record(BaseModel):
    """Strict: no coercion, no field the tool does not write."""

    model_config = ConfigDict(extra="forbid", strict=True)

    def paths(self) -> list[str]:
        """The files and folders this record makes the rollback write or remove."""
        return []


class SavedFile(Record):
    """A file's exact bytes (base64) and mode, as they were before the step wrote it."""

    mode: int
    bytes: str

    @field_validator("bytes")
    @classmethod
    def _base64(cls, value: str) -> str:
        try:
            base64.b64decode(value, validate=True)
        except binascii.Error as exc:
            raise ValueError("is not base64") from exc
        return value

    def data(self) -> builtins.bytes:  # (the field `bytes` hides the type here)
        return base64.b64decode(self.bytes)


class NoUndo(Record):
    """A step whose undo needs nothing journaled before it acts."""


class FilesUndo(Record):
    """Files a step rewrites (their bytes before), one it creates, the folders it makes."""

    files: dict[str, SavedFile] = {}
    created: str | None = None
    dirs: list[str] = []

    def paths(self) -> list[str]:
        return [*self.files, *([self.created] if self.created else []), *self.dirs]


class CommitUndo(Record):
    """What the release commit is made on, and how it is recognised (parent and subject)."""

    ref: str
    head: str
    index: bool
    subject: str
    editmsg: bool = False


class TagUndo(Record):
    name: str
    subject: str


class BaselineUndo(Record):
    folder: str
    dirs: list[str] = []

    def paths(self) -> list[str]:
        return [self.folder, *self.dirs]


class ImagesUndo(Record):
    planned: list[str] = []


class Entry(Record):
    """One step that started: what its undo needs (its step's record), whether it finished,
    its result, and whether it raised (it cleaned up after itself where it could)."""

    step: str
    undo: dict[str, Any] = {}
    done: bool = False
    result: dict[str, Any] = {}
    failed: bool = False


class Contents(Record):
    """The header names the release and what it made; `steps` lists each step that started.

    `planned` is every step the run was going to do, in order: what `--resume` finishes.
    """

    version: str
    tag: str
    branch: str
    remote: str
    project: str = ""
    head: str
    commit: str
    tag_oid: str
    tree: str = ""
    images: list[str]
    published: list[str]
    digests: dict[str, str] = {}
    signatures: list[str] = []
    planned: list[str] = []
    rolling_back: bool = False
    steps: list[Entry] = []


def parse(data: object) -> Contents:
    """The journal's contents, or ValueError with the one thing that is wrong."""
    if not isinstance(data, dict):
        raise ValueError("is not a release journal (a JSON object)")
    for entry in data.get("steps", []) if isinstance(data.get("steps"), list) else []:
        if not (isinstance(entry, dict) and isinstance(entry.get("step"), str)):
            raise ValueError(f"is not a journal this torchship can use: a step entry is "
                             f"{json.dumps(entry)[:60]}")
    try:
        return Contents.model_validate(data)
    except ValidationError as exc:
        raise ValueError(f"is not a journal this torchship can use: {first_error(exc)}") from None


def first_error(exc: ValidationError) -> str:
    """pydantic's first complaint, in the words a person reads: `'version' is missing`."""
    err = exc.errors()[0]
    where = ".".join(str(part) for part in err["loc"])
    if err["type"] == "missing":
        return f"{where!r} is missing"
    if err["type"] == "extra_forbidden":
        return f"{where!r} is not a field it knows"
    if err["type"].endswith("_type"):
        return f"{where!r} has the wrong type"
    return f"{where!r} {err['msg'].removeprefix('Value error, ')}"
