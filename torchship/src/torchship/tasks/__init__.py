"""The invoke collection: one sub-collection per concept, each a thin layer over the library.

Task modules import only invoke and torchship's light modules at import time; anything
heavy (docker, matplotlib, torch) is imported inside the task body.
"""

from __future__ import annotations

from invoke.collection import Collection

from torchship.tasks import ci, dev, env, hooks, images, model, release, template

ns = Collection()
for module in (release, images, hooks, env, model, ci, dev, template):
    ns.add_collection(module.ns)
