"""The example model: forward pass and one training step, in fp32 and under bf16 autocast.

FLOPs per call are counted once by torch.utils.flop_counter (matrix products only, which
is where a model like this spends its arithmetic), so the cases report TFLOP/s and, on a
GPU, the fraction of the fp32 or bf16 peak. The batch of 512 runs on both devices (bf16 on
a CPU without AMX is slow), the GPU adds a batch large enough to fill it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from pytest_benchmark.fixture import BenchmarkFixture
from torch import nn
from torch.utils.flop_counter import FlopCounterMode
from torchship.gpubench import bench, peaks
from torchship.gpubench.cases import Work

from mlproject.data import make_dataset
from mlproject.model import make_model
from mlproject.train import train_step

BATCHES = {"cpu": (512,), "cuda": (512, 65536)}


@dataclass(frozen=True)
class ModelSpec:
    mode: str      # forward | train
    amp: bool      # bf16 autocast around the forward pass
    batch: int
    device: str

    @property
    def case(self) -> str:
        return f"model-{self.mode}-{'bf16amp' if self.amp else 'fp32'}-b{self.batch}"


class Autocast(nn.Module):
    """Runs the wrapped model's forward under bf16 autocast and returns fp32 logits, so the
    loss and the backward pass run outside autocast, as the AMP recipe prescribes."""

    def __init__(self, model: nn.Module, device_type: str) -> None:
        super().__init__()
        self.model, self.device_type = model, device_type

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(self.device_type, dtype=torch.bfloat16):
            out: torch.Tensor = self.model(x)
        return out.float()


def model_work(spec: ModelSpec) -> Work:
    torch.manual_seed(0)
    dev = torch.device(spec.device)
    x, y = (t.to(dev) for t in make_dataset(spec.batch, seed=0).tensors)
    model: nn.Module = make_model().to(dev)
    if spec.amp:
        model = Autocast(model, dev.type)
    if spec.mode == "forward":
        model.eval()

        def call() -> object:
            with torch.no_grad():
                return model(x)
    else:
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
        loss_fn = nn.CrossEntropyLoss()

        def call() -> object:
            return train_step(model, x, y, optimizer, loss_fn)
    with FlopCounterMode(display=False) as counter:
        call()
    return Work(spec.case, call, "bf16" if spec.amp else "fp32",
                flops=float(counter.get_total_flops()),
                flush=False,  # a training loop keeps weights and activations hot in L2
                info={"batch": spec.batch, "mode": spec.mode, "autocast": spec.amp})


SPECS = [ModelSpec(mode, amp, batch, device) for device, batches in BATCHES.items()
         for batch in batches for mode in ("forward", "train") for amp in (False, True)]


@pytest.mark.parametrize("spec", [pytest.param(s, id=f"{s.device}-{s.case}",
                                               marks=bench.marks(s.device, s.case))
                                  for s in SPECS])
def test_model(benchmark: BenchmarkFixture, spec: ModelSpec,
               peak_table: list[peaks.Peak]) -> None:
    info = bench.run(benchmark, model_work(spec), device=spec.device, peaks=peak_table)
    assert info["tflops"] > 0
