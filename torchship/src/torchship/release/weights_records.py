"""The journal records of the model's release steps (release/steps.py PushModel, SignModel):
what their undo needs, typed and checked like every journal record (release/journal.py)."""

from __future__ import annotations

from torchship.release.journal import Record


class ModelUndo(Record):
    """The artifact's tag: the undo deletes what it names, if its revision is the release's."""

    ref: str


class ModelSignUndo(Record):
    """The signature file the sign step writes (in the lookaside store, not the work tree)."""

    path: str
