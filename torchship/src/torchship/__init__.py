"""torchship: the automation behind the template (releases, images, the test matrix).

Nothing here imports torch, docker or matplotlib at module level, so `invoke --list`
and `nox -l` stay fast.
"""

__version__ = "0.2.0"
