"""The benchmark suite: CPU cases always, CUDA cases when the environment check passes.

Every case marked `gpu` asks the session's environment verdict first: a CPU-only torch or
no GPU skips it (the reason is printed with -ra); a GPU that this torch/driver cannot use
fails it, as does a missing GPU under TORCHSHIP_REQUIRE_GPU=1.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from torchship.gpubench import envcheck, peaks


@pytest.fixture(scope="session")
def gpu_verdict() -> envcheck.Verdict:
    return envcheck.check()


@pytest.fixture(autouse=True)
def _gpu_gate(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("gpu") is None:
        return
    verdict: envcheck.Verdict = request.getfixturevalue("gpu_verdict")
    if verdict.skip:
        pytest.skip(f"GPU case skipped: {verdict.reason}")
    if not verdict.run:
        pytest.fail(f"GPU environment check failed: {verdict.reason}", pytrace=False)


def pytest_benchmark_update_machine_info(config: pytest.Config,
                                        machine_info: dict[str, object]) -> None:
    """The environment fingerprint (torch, CUDA, GPUs, driver, git, image) in the JSON."""
    from torchship import envinfo

    machine_info["torchship"] = envinfo.collect(Path(config.rootpath))


@pytest.fixture(scope="session")
def peak_table(pytestconfig: pytest.Config) -> list[peaks.Peak]:
    """Built-in peaks plus the project's [tool.torchship.gpus]."""
    return peaks.table(Path(pytestconfig.rootpath))
