"""A session fixture: the Slurm cluster the matrix's Slurm runner tests submit to.

    from torchship.testing.slurm import slurm_cluster  # noqa: F401

The cluster is the machine's own (scripts/slurm_cluster.sh, which CI's services script runs:
one node, this host). Without one the tests skip, except under CI=true, where they fail.
"""

from __future__ import annotations

import pytest

from torchship.testing import require


@pytest.fixture(scope="session")
def slurm_cluster() -> None:
    """The Slurm controller answers and its commands are installed."""
    from torchship.adapters.slurm import SlurmError
    from torchship.adapters.slurm import require as answers

    try:
        answers()
    except SlurmError as exc:
        require(False, f"{exc.render()} (scripts/slurm_cluster.sh starts one)")
