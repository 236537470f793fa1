"""GPU benchmarks whose numbers can be trusted: timing, cases, peaks, environment, speed-ups.

Imports no torch at module level (torch is imported inside the functions that need it), so
`invoke --list`, `nox -l` and the speed-up table stay cheap.

    timing    one synchronised sample per call: CUDA-event clock, L2 flush, warm-up, threads
    cases     the tensor-operation cases (matmul, conv2d, copy, add) as data -> callable work
    bench     the pytest-benchmark glue: run a case, put rates and device facts in extra_info
    peaks     vendor peak TFLOP/s and GB/s per GPU, extendable from [tool.torchship.gpus]
    device    what one GPU is: name, capability, clocks, driver (torch + nvidia-smi)
    envcheck  is this torch/driver/GPU able to run the GPU cases? (skip or error, with why)
    speedup   CPU-vs-GPU table from pytest-benchmark JSON (pure)
"""
