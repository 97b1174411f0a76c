"""Training throughput of a model against the machine's fp32 GEMM rate.

    python bench/train_throughput.py [--model skip_dae] [--steps 10] [--batch-size 128]
    python bench/train_throughput.py --model conv1d_dae --size 500 --batch-size 64

Trains the model (default: the SAXS book network, 213,025 parameters, on 64x64 images;
``conv1d_dae`` on traces of ``--size`` samples with the default config's channels) on random
batches for a few steps on the current device, exactly as the training loop does
(channels_last for images, Adam, MSE, bf16 autocast on CUDA), and measures an fp32 matrix
product in the same run. The last line printed is one JSON object: samples_per_s,
gemm_gflops, model_gflop_per_sample (forward + backward, counted by torch's FLOP counter),
model_gflops and fraction_of_gemm.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from aeflow.device import autocast, describe_device, select_device
from aeflow.models import build_model
from aeflow.training.loop import Trainer


def gemm_gflops(device: torch.device, n: int = 2048, repeats: int = 10) -> float:
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    for _ in range(2):
        a @ b
    sync(device)
    t0 = time.perf_counter()
    for _ in range(repeats):
        a @ b
    sync(device)
    return 2 * n**3 * repeats / (time.perf_counter() - t0) / 1e9


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# Benchmarked configurations: model params and the shape of one sample (channels first).
MODELS = {
    "skip_dae": ({}, lambda size: (1, size, size)),
    "conv1d_dae": ({"channels": [16, 32, 32, 32], "kernel_size": 9}, lambda size: (1, size)),
}


def flop_per_sample(model, shape: tuple[int, ...]) -> float:
    x = torch.rand(2, *shape)
    with FlopCounterMode(display=False) as counter:
        model(x).square().mean().backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops() / 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="skip_dae", choices=list(MODELS))
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = select_device(args.device)

    torch.manual_seed(0)
    params, shape_of = MODELS[args.model]
    shape = shape_of(args.size)
    model = build_model(args.model, params)
    flops = flop_per_sample(model, shape)
    trainer = Trainer(
        model,
        torch.optim.Adam(model.parameters(), 1e-3),
        device,
        batch_size=args.batch_size,
        progress=False,
    )
    n = args.batch_size * (args.steps + args.warmup)
    data = {
        "input": torch.rand(n, *shape),
        "target": torch.rand(n, *shape),
    }
    trainer.model.train()
    batches = trainer._batches(data, shuffle=True, epoch=1)
    times = []
    for step, batch in enumerate(batches):
        t0 = time.perf_counter()
        with autocast(device, True):
            loss = trainer.model.loss(batch)["loss"]
        trainer.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        trainer.optimizer.step()
        sync(device)
        if step >= args.warmup:
            times.append(time.perf_counter() - t0)
    per_step = sorted(times)[len(times) // 2]  # median: robust to a noisy neighbour
    samples_per_s = args.batch_size / per_step
    gemm = gemm_gflops(device)
    model_gflops = samples_per_s * flops / 1e9
    result = {
        "model": args.model,
        "sample_shape": list(shape),
        "device": describe_device(device),
        "batch_size": args.batch_size,
        "steps": len(times),
        "samples_per_s": round(samples_per_s, 2),
        "model_gflop_per_sample": round(flops / 1e9, 4),
        "model_gflops": round(model_gflops, 1),
        "gemm_gflops": round(gemm, 1),
        "fraction_of_gemm": round(model_gflops / gemm, 3),
    }
    print(
        f"{args.model}: {result['samples_per_s']} samples/s = {result['model_gflops']} GFLOP/s; "
        f"fp32 GEMM {result['gemm_gflops']} GFLOP/s"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
