"""Whether two 1-thread training jobs beat one 2-thread job, per model: the question behind
each experiment's ``train.threads``.

    python bench/threads.py [--model dense_ae] [--rounds 3]

For each model (default: the small ones of the default config), trains ``--steps`` batches of
random data as the training loop does, twice: two processes at once with one thread each, and
the same two one after the other with two threads each (how Snakemake runs two jobs of
``threads: 1`` or ``threads: 2`` on 2 cores). Repeated ``--rounds`` times, alternating. The
last line is JSON: per model the median wall seconds of both and ``parallel_speedup``
(sequential / parallel; > 1 means 1-thread jobs fill the cores better).

Random in-cache data over a few steps flatters the 1-thread pair: in a full default run,
1-thread training jobs beside each other and beside 2-thread jobs were slower than 2-thread
jobs one at a time (see ``results/summary/timing.html`` of such a run before changing
``train.threads``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

# Model, its params and the shape of one sample, batch size: as in config/config.yaml.
MODELS = {
    "dense_ae": ("dense_ae", {"code_size": 32}, (1, 28, 28), 128),
    "conv_ae": ("conv_ae", {}, (1, 28, 28), 128),
    "conv_ae_32": ("conv_ae", {"channels": [32, 32]}, (1, 28, 28), 128),
    "conv1d_dae": ("conv1d_dae", {"channels": [16, 32, 32, 32], "kernel_size": 9}, (1, 500), 64),
    "jets_conv_ae": (
        "conv_ae",
        {"channels": [16, 8, 8], "output": "linear", "loss": "mse"},
        (1, 40, 40),
        128,
    ),
    "skip_dae": ("skip_dae", {}, (1, 64, 64), 128),
}


def train_steps(name: str, steps: int, threads: int) -> float:
    """Seconds for ``steps`` training steps of model ``name`` with ``threads`` threads."""
    import torch

    from aeflow.models import build_model
    from aeflow.training.loop import Trainer

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model_name, params, shape, batch = MODELS[name]
    model = build_model(model_name, dict(params), in_channels=shape[0])
    trainer = Trainer(
        model,
        torch.optim.Adam(model.parameters(), 1e-3),
        torch.device("cpu"),
        batch_size=batch,
        progress=False,
    )
    data = {"input": torch.rand(batch * (steps + 2), *shape)}
    data["target"] = data["input"].clone()
    trainer.train_epoch({k: v[: 2 * batch] for k, v in data.items()}, epoch=0)  # warm-up
    t0 = time.perf_counter()
    trainer.train_epoch({k: v[2 * batch :] for k, v in data.items()}, epoch=1)
    return time.perf_counter() - t0


def _job(name: str, steps: int, threads: int) -> subprocess.Popen:
    cmd = [sys.executable, __file__, "--worker", name, str(steps), str(threads)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)


def wall(jobs: list[tuple[str, int, int]], parallel: bool) -> float:
    """Wall seconds for the jobs (model, steps, threads), all at once or one after another.
    Process start-up and imports are excluded: each worker reports its training time, and
    the parallel figure is the longer of the two."""
    if parallel:
        procs = [_job(*job) for job in jobs]
        return max(float(p.communicate()[0].split()[-1]) for p in procs)
    return sum(float(_job(*job).communicate()[0].split()[-1]) for job in jobs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", choices=list(MODELS))
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        name, steps, threads = args.worker
        print(train_steps(name, int(steps), int(threads)))
        return
    results = {}
    for name in args.model or ["dense_ae", "conv_ae", "conv_ae_32", "conv1d_dae", "jets_conv_ae"]:
        par, seq = [], []
        for _ in range(args.rounds):
            par.append(wall([(name, args.steps, 1)] * 2, parallel=True))
            seq.append(wall([(name, args.steps, 2)] * 2, parallel=False))
        p, s = statistics.median(par), statistics.median(seq)
        results[name] = {
            "two_1thread_parallel_s": round(p, 2),
            "two_2thread_sequential_s": round(s, 2),
            "parallel_speedup": round(s / p, 3),
        }
        print(f"{name}: two 1-thread jobs {p:.2f} s, two 2-thread jobs in turn {s:.2f} s")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
