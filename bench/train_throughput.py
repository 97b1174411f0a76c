"""Training throughput of a model against the machine's fp32 GEMM rate, and against Keras.

    python bench/train_throughput.py [--model skip_dae] [--steps 10] [--batch-size 128]
    python bench/train_throughput.py --model conv1d_dae --size 500 --batch-size 64
    python bench/train_throughput.py --peer [--rounds 5]    # after `make bench-peer-env`

Trains the model (default: the SAXS book network, 213,025 parameters, on 64x64 images;
``conv1d_dae`` on traces of ``--size`` samples with the default config's channels) on random
batches for a few steps on the current device, exactly as the training loop does
(channels_last for images, Adam, MSE, the Trainer's autocast), and measures an fp32 matrix
product in the same run. The last line printed is one JSON object: samples_per_s,
precision (of the training step: fp32, or bf16/fp16 under autocast), gemm_gflops,
model_gflop_per_sample (forward + backward, counted by torch's FLOP counter), model_gflops
and fraction_of_gemm.

``--peer`` (skip_dae only) also times the same network in Keras/TensorFlow
(bench/peer/keras_saxs.py, run by the peer venv's python in a subprocess, with as many
threads as torch uses), alternating ours, peer, ours, peer ... for ``--rounds`` rounds of
``--warmup`` + ``--steps`` steps each, so a noisy neighbour hits both alike. Each round
gives the median samples/s of its steps; the JSON then has the medians over the rounds
(samples_per_s, peer_samples_per_s), ratio = ours / peer, and the per-round lists.

``--malloc tuned`` (the default) runs with glibc's malloc as the workflow's jobs do
(aeflow.memory.MALLOC_TUNABLES: freed memory stays in the heap; the peer inherits the same
setting); ``--malloc glibc`` with glibc's defaults. The JSON's ``minor_faults_per_step`` and
``system_cpu_fraction`` show the difference.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from aeflow import memory
from aeflow.device import autocast, describe_device, select_device
from aeflow.models import build_model
from aeflow.training.loop import Trainer

BENCH = Path(__file__).resolve().parent
PEER_SCRIPT = BENCH / "peer" / "keras_saxs.py"
PEER_PYTHON = BENCH / "peer" / ".venv" / "bin" / "python"
KERAS_PRECISION = {"float32": "fp32", "mixed_bfloat16": "bf16", "mixed_float16": "fp16"}


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


def active_precision(device: torch.device) -> str:
    """The compute precision in force here: the autocast dtype, else fp32."""
    if not torch.is_autocast_enabled(device.type):
        return "fp32"
    dtype = torch.get_autocast_dtype(device.type)
    return {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(dtype, str(dtype))


def time_steps(
    trainer: Trainer, data: dict[str, torch.Tensor], warmup: int, epoch: int = 1
) -> tuple[list[float], str]:
    """Seconds of each training step over ``data`` after ``warmup`` steps, and the step's
    precision. The step is the Trainer's (its autocast and ``amp`` flag), batches are
    gathered before the clock starts."""
    trainer.model.train()
    times = []
    precision = "fp32"
    for step, batch in enumerate(trainer._batches(data, shuffle=True, epoch=epoch)):
        t0 = time.perf_counter()
        with autocast(trainer.device, trainer.amp):
            precision = active_precision(trainer.device)
            loss = trainer.model.loss(batch)["loss"]
        trainer.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        trainer.optimizer.step()
        sync(trainer.device)
        if step >= warmup:
            times.append(time.perf_counter() - t0)
    return times, precision


def rate(batch_size: int, times: list[float]) -> float:
    """Samples/s of the median step: robust to a noisy neighbour."""
    return batch_size / statistics.median(times)


def summarize(ours: list[float], peer: list[float]) -> dict:
    """Medians over the rounds of both sides' samples/s, their ratio and the rounds."""
    ours_median, peer_median = statistics.median(ours), statistics.median(peer)
    return {
        "samples_per_s": round(ours_median, 2),
        "peer_samples_per_s": round(peer_median, 2),
        "ratio": round(ours_median / peer_median, 3),
        "rounds": len(ours),
        "samples_per_s_rounds": [round(v, 2) for v in ours],
        "peer_samples_per_s_rounds": [round(v, 2) for v in peer],
    }


def peer_command(args: argparse.Namespace, threads: int) -> list[str]:
    return [
        str(args.peer_python),
        str(PEER_SCRIPT),
        f"--steps={args.steps}",
        f"--warmup={args.warmup}",
        f"--batch-size={args.batch_size}",
        f"--size={args.size}",
        f"--threads={threads}",
    ]


def parse_peer_output(stdout: str) -> dict:
    """The peer's result: the JSON object on its last non-empty line."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    if not lines:
        raise ValueError("the peer printed nothing")
    try:
        result = json.loads(lines[-1])
    except json.JSONDecodeError as exc:
        raise ValueError(f"the peer's last line is not JSON: {lines[-1]!r}") from exc
    if not isinstance(result, dict) or "samples_per_s" not in result:
        raise ValueError(f"the peer's JSON has no samples_per_s: {lines[-1]!r}")
    return result


def run_peer(command: list[str]) -> dict:
    env = os.environ | {"TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": "tensorflow"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"peer benchmark failed ({done.returncode}): {' '.join(command)}")
    return parse_peer_output(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="skip_dae", choices=list(MODELS))
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--peer", action="store_true", help="compare with Keras/TensorFlow")
    parser.add_argument("--rounds", type=int, default=5, help="ours/peer rounds with --peer")
    parser.add_argument("--peer-python", type=Path, default=PEER_PYTHON)
    parser.add_argument("--malloc", default="tuned", choices=["tuned", "glibc"])
    args = parser.parse_args()
    if args.malloc == "tuned":
        memory.restart_with_malloc_tunables()
    if args.peer:
        if args.model != "skip_dae":
            parser.error("--peer compares the SAXS network: --model skip_dae")
        if args.rounds < 1:
            parser.error("--rounds must be >= 1")
        if args.device == "cuda":
            parser.error("--peer runs Keras on the CPU: compare on --device cpu")
        if not args.peer_python.exists():
            parser.error(f"no peer python at {args.peer_python}: run `make bench-peer-env`")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = select_device("cpu" if args.peer else args.device)

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
    threads = torch.get_num_threads()
    ours: list[float] = []
    peer: list[float] = []
    peer_result: dict = {}
    kernel = [0.0, 0.0, 0]  # user s, system s, minor page faults of our timed rounds
    for round_ in range(args.rounds if args.peer else 1):
        before = resource.getrusage(resource.RUSAGE_SELF)
        times, precision = time_steps(trainer, data, args.warmup, epoch=round_ + 1)
        after = resource.getrusage(resource.RUSAGE_SELF)
        kernel[0] += after.ru_utime - before.ru_utime
        kernel[1] += after.ru_stime - before.ru_stime
        kernel[2] += after.ru_minflt - before.ru_minflt
        ours.append(rate(args.batch_size, times))
        if args.peer:
            peer_result = run_peer(peer_command(args, threads))
            peer.append(peer_result["samples_per_s"])
            print(
                f"round {round_ + 1}/{args.rounds}: ours {ours[-1]:.2f}, "
                f"keras {peer[-1]:.2f} samples/s",
                file=sys.stderr,
            )
    samples_per_s = statistics.median(ours)
    gemm = gemm_gflops(device)
    model_gflops = samples_per_s * flops / 1e9
    result = {
        "model": args.model,
        "sample_shape": list(shape),
        "device": describe_device(device),
        "precision": precision,
        "batch_size": args.batch_size,
        "steps": len(times),
        "samples_per_s": round(samples_per_s, 2),
        "model_gflop_per_sample": round(flops / 1e9, 4),
        "model_gflops": round(model_gflops, 1),
        "gemm_gflops": round(gemm, 1),
        "fraction_of_gemm": round(model_gflops / gemm, 3),
        "malloc": args.malloc,
        "minor_faults_per_step": round(kernel[2] / (len(ours) * (args.steps + args.warmup))),
        "system_cpu_fraction": round(kernel[1] / max(kernel[0] + kernel[1], 1e-9), 3),
    }
    if args.peer:
        result |= summarize(ours, peer) | {
            "threads": threads,
            "peer": "keras",
            "peer_precision": KERAS_PRECISION.get(
                peer_result["dtype_policy"], peer_result["dtype_policy"]
            ),
            "tensorflow": peer_result["tensorflow"],
            "keras": peer_result["keras"],
        }
        print(
            f"{args.model}: ours {result['samples_per_s']} samples/s ({precision}), "
            f"keras {result['peer_samples_per_s']} samples/s: ratio {result['ratio']}"
        )
    else:
        print(
            f"{args.model}: {result['samples_per_s']} samples/s = {result['model_gflops']} "
            f"GFLOP/s; fp32 GEMM {result['gemm_gflops']} GFLOP/s"
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
