"""The invoke collection: one sub-collection per concept, each a thin layer over the library.

Task modules import only invoke and torchship's light modules at import time; anything
heavy (docker, matplotlib, torch) is imported inside the task body.
"""

from __future__ import annotations

from invoke.collection import Collection

ns = Collection()

from torchship.tasks import ci, env, hooks, model, template  # noqa: E402  (workflow: issue 6)

ns.add_collection(hooks.ns)
ns.add_collection(env.ns)
ns.add_collection(template.ns)
ns.add_collection(ci.ns)
ns.add_collection(model.ns)
