"""invoke tasks of the project (`invoke --list`): torchship's collection, configured by
[tool.torchship] in pyproject.toml. Add the project's own tasks to `ns` here."""

from torchship.tasks import ns

__all__ = ["ns"]
