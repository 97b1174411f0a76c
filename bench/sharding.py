"""Store layout for streamed training: 256-sample chunks, unsharded or in shards?

    python bench/sharding.py [--store results/prepared/jets.zarr] [--copies 10]
                             [--shard-chunks 16] [--epochs 3]

Builds a store the size of ``--copies`` times the given prepared store's ``input`` (the
default run's 20,000 jets: 200,000 jet images), written chunk by chunk as ``prepare`` does
(32 MB parts appended along ``sample``), once unsharded and once with shards of
``--shard-chunks`` chunks (Zarr 3 sharding: one file per shard). Prints per layout the time
to write it, its size and number of files, and the time to read an epoch as training
streams it (:func:`aeflow.training.stream.epoch_windows`: windows of 16 chunks in random
order, each chunk read once), median over ``--epochs`` epochs. The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def _write(path: Path, data: np.ndarray, chunk: int, shard: int | None, part: int) -> float:
    import zarr

    start = time.perf_counter()
    shape = (len(data), *data.shape[1:])
    array = zarr.create_array(
        str(path),
        shape=shape,
        chunks=(chunk, *data.shape[1:]),
        shards=None if shard is None else (shard, *data.shape[1:]),
        dtype=data.dtype,
    )
    for begin in range(0, len(data), part):
        array[begin : begin + part] = data[begin : begin + part]
    return time.perf_counter() - start


def _read_epoch(path: Path, chunk: int, epoch: int) -> float:
    import zarr

    from aeflow.training.stream import epoch_windows

    array = zarr.open_array(str(path), mode="r")
    groups = np.arange(array.shape[0]) // chunk
    start = time.perf_counter()
    for window in epoch_windows(groups, seed=0, epoch=epoch):
        for c in np.unique(groups[window]):
            array[c * chunk : (c + 1) * chunk]
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, default=Path("results/prepared/jets.zarr"))
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--shard-chunks", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    import zarr

    from aeflow.data.store import SAMPLE_CHUNK

    base = np.asarray(zarr.open_group(str(args.store), mode="r")["input"][...])
    data = np.concatenate([base] * args.copies)
    part = max(SAMPLE_CHUNK, (32 << 20) // (data[0].nbytes * SAMPLE_CHUNK) * SAMPLE_CHUNK)
    report = {"samples": len(data), "sample_shape": list(data.shape[1:]), "layouts": {}}
    with tempfile.TemporaryDirectory(prefix="aeflow-sharding-") as tmp:
        for name, shard in (("unsharded", None), ("sharded", SAMPLE_CHUNK * args.shard_chunks)):
            path = Path(tmp) / f"{name}.zarr"
            write_s = _write(path, data, SAMPLE_CHUNK, shard, part)
            files = [p for p in path.rglob("*") if p.is_file()]
            reads = [_read_epoch(path, SAMPLE_CHUNK, e) for e in range(args.epochs)]
            figures = {
                "write_s": round(write_s, 2),
                "files": len(files),
                "megabytes": round(sum(p.stat().st_size for p in files) / 1e6, 1),
                "epoch_read_s": round(statistics.median(reads), 2),
                "samples_per_s": round(len(data) / statistics.median(reads)),
            }
            report["layouts"][name] = figures
            print(f"{name:10s} " + "  ".join(f"{k} {v}" for k, v in figures.items()), flush=True)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
