"""Training throughput of the SAXS skip DAE against the machine's fp32 GEMM rate.

    python bench/train_throughput.py [--steps 10] [--batch-size 128] [--threads N]

Trains the book's network (213,025 parameters) on random 64x64 batches for a few steps on
the current device, exactly as the training loop does (channels_last, Adam, MSE, bf16
autocast on CUDA), and measures an fp32 matrix product in the same run. The last line printed
is one JSON object: images_per_s, gemm_gflops, model_gflop_per_image (forward + backward,
counted by torch's FLOP counter), model_gflops and fraction_of_gemm.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from aeflow.models import build_model
from aeflow.training.device import autocast, describe_device, select_device
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


def flop_per_image(model, size: int) -> float:
    x = torch.rand(2, 1, size, size)
    with FlopCounterMode(display=False) as counter:
        model(x).square().mean().backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops() / 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
    model = build_model("skip_dae")
    flops = flop_per_image(model, args.size)
    trainer = Trainer(
        model,
        torch.optim.Adam(model.parameters(), 1e-3),
        device,
        batch_size=args.batch_size,
        progress=False,
    )
    n = args.batch_size * (args.steps + args.warmup)
    data = {
        "input": torch.rand(n, 1, args.size, args.size),
        "target": torch.rand(n, 1, args.size, args.size),
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
    images_per_s = args.batch_size / per_step
    gemm = gemm_gflops(device)
    model_gflops = images_per_s * flops / 1e9
    result = {
        "device": describe_device(device),
        "batch_size": args.batch_size,
        "steps": len(times),
        "images_per_s": round(images_per_s, 2),
        "model_gflop_per_image": round(flops / 1e9, 3),
        "model_gflops": round(model_gflops, 1),
        "gemm_gflops": round(gemm, 1),
        "fraction_of_gemm": round(model_gflops / gemm, 3),
    }
    print(
        f"{result['images_per_s']} images/s = {result['model_gflops']} GFLOP/s; "
        f"fp32 GEMM {result['gemm_gflops']} GFLOP/s"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
