"""`torchship new` and `torchship update`; `invoke template.new` and `template.update` call
the same functions (torchship.workflow.template and .update parse the options)."""

from __future__ import annotations

from collections.abc import Sequence


def new(argv: Sequence[str]) -> int:
    from torchship.workflow.template import main as new_main

    return new_main(argv)


def update(argv: Sequence[str]) -> int:
    from torchship.workflow.update import main as update_main

    return update_main(argv)


def main(argv: Sequence[str], *, group: str = "new") -> int:
    return update(argv) if group == "update" else new(argv)
