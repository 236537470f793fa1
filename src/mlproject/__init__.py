"""The example PyTorch project the template ships: replace it with yours."""

__version__ = "0.1.0"
