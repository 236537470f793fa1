"""invoke tasks for releasing torchship itself (`cd torchship && invoke release --part patch`)."""

from torchship.tasks import ns

__all__ = ["ns"]
