"""Shared fixtures and helpers of every tier: a tiny valid config, hand-made raw SAXS files,
IDX image sets, a local HTTP server, tiny real runs of the stages, and the Snakemake command.

Tests live in one directory per tier, and each test is marked with its tier:

- ``tests/unit`` (marker ``unit``): pure functions, models, configs, small arrays; seconds;
- ``tests/stage`` (marker ``stage``): one stage function on tiny data in a temporary store
  (fetch_raw, prepare, train, evaluate, anomaly, generate, figures ...), and models trained
  for many steps;
- ``tests/e2e`` (marker ``e2e``): the Snakemake workflow end to end.

Workers: ``make test`` runs one pytest-xdist worker per core, each test file on one worker
(``--dist loadfile``, so a module fixture, one workflow run, runs once). Beside another
worker, every workflow job runs one thread (:func:`snakemake_command`).

This directory is on ``sys.path`` (``pythonpath`` in pyproject.toml), so tests import the
helpers here as ``from conftest import ...``.
"""

from __future__ import annotations

import copy
import functools
import http.server
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
TIERS = ("unit", "stage", "e2e")


# The longest modules first (measured with --durations), so that with one pytest-xdist
# worker per core and a file per worker (make test) no worker is left with a long module at
# the end while the other idles: the longest-first rule of scheduling. (pytest-xdist would
# otherwise reorder files by their number of tests: the Makefile passes
# --no-loadscope-reorder.)
LONGEST_FIRST = (
    "e2e/test_cluster.py",
    "e2e/test_workflow.py",
    "e2e/test_tracking_concurrency.py",
    "e2e/test_generative_workflow.py",
    "e2e/test_sources_workflow.py",
    "e2e/test_anomaly_workflow.py",
    "e2e/test_image_family_workflow.py",
    "stage/test_saxs_statistics.py",
    "stage/test_tracking_store.py",
    "stage/test_learning.py",
    "stage/test_cli.py",
)


def _schedule_rank(item) -> int:
    path = Path(item.path).resolve()
    rel = path.relative_to(TESTS).as_posix() if path.is_relative_to(TESTS) else ""
    return LONGEST_FIRST.index(rel) if rel in LONGEST_FIRST else len(LONGEST_FIRST)


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects by these markers
def pytest_collection_modifyitems(config, items):
    """Mark every test with its tier, the directory it is in (``-m "not e2e"`` etc.), and
    put the longest modules first (:data:`LONGEST_FIRST`; a stable sort keeps the order
    within a module)."""
    items.sort(key=_schedule_rank)
    for item in items:
        path = Path(item.path).resolve()
        if not path.is_relative_to(TESTS):
            continue
        tier = path.relative_to(TESTS).parts[0]
        if tier not in TIERS:
            raise pytest.UsageError(
                f"{path}: a test belongs in a tier directory, tests/{{{','.join(TIERS)}}}"
            )
        item.add_marker(tier)


@pytest.fixture(autouse=True)
def one_torch_thread():
    """One torch thread in the test process, as the stages default to (``threads=1``): the
    tensors of the tests are tiny, and with two threads on a machine whose other core is busy
    (another test run, a Snakemake job) torch spin-waits: a unit test of the GAN loop took
    22 s instead of 0.3 s. (Without this, the thread count depended on the test order.)"""
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)


TINY_CONFIG = {
    "mlflow": {
        "tracking_uri": "sqlite:///results/mlflow.db",
        "experiment": "aeflow-test",
        "artifact_location": "results/mlartifacts",
    },
    "datasets": {
        "saxs": {
            "kind": "saxs",
            "source": "simulate",
            "n_samples": 320,
            "seed": 3,
            "split": {"test_fraction": 0.2, "val_fraction": 0.15, "seed": 0},
        },
        "saxs_partial": {
            "kind": "saxs",
            "source": "simulate",
            "n_samples": 40,
            "seed": 4,
            "simulate": {"coherence_length": 5.0},
            "split": {"test_fraction": 1.0, "val_fraction": 0.0},
        },
    },
    "experiments": {
        "saxs_dae": {
            "dataset": "saxs",
            "model": "skip_dae",
            "train": {"epochs": 2, "batch_size": 16, "threads": 2},
            "evaluate": {"also_on": ["saxs_partial"], "n_examples": 4},
        }
    },
    "reproduction": {"book_saxs_val_loss": "saxs_dae"},
}


@pytest.fixture
def tiny_config() -> dict:
    return copy.deepcopy(TINY_CONFIG)


@pytest.fixture
def raw_saxs() -> dict[str, np.ndarray]:
    """Hand-made raw arrays in the book's layout (N, 64, 64, 1), counts >= 0."""
    rng = np.random.default_rng(0)
    target = rng.uniform(0, 1000, size=(6, 64, 64, 1)).astype(np.float32)
    speckle = rng.poisson(target).astype(np.float32)
    return {"speckle_images": speckle, "target_images": target}


def write_idx_set(directory: Path, n_train=40, n_test=20, size=28, seed=0):
    """Four gzip IDX files in the MNIST layout; returns their arrays."""
    from aeflow.data import idx

    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train": (
            rng.integers(0, 256, (n_train, size, size), dtype=np.uint8),
            np.arange(n_train, dtype=np.uint8) % 10,
        ),
        "test": (
            rng.integers(0, 256, (n_test, size, size), dtype=np.uint8),
            np.arange(n_test, dtype=np.uint8) % 10,
        ),
    }
    for split, (x, y) in arrays.items():
        images_name, labels_name = idx.SPLIT_FILES[split]
        idx.write_idx(directory / images_name, x)
        idx.write_idx(directory / labels_name, y)
    return arrays


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory):
    """Tiny real runs of the stages (see :mod:`tiny_runs`), built on first use and shared
    by every test of the session."""
    from tiny_runs import TinyRuns

    return TinyRuns(tmp_path_factory.mktemp("tiny_runs"))


def _sharing_cores() -> bool:
    """Whether other pytest-xdist workers run beside this one (``make test``: one per core)."""
    return int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1


def snakemake_command(workdir: Path, configfile: Path, *args: str) -> list[str]:
    """The command running the workflow of this checkout in ``workdir`` with ``configfile``.

    Beside other test workers every job runs one thread (``--max-threads 1``): a two-thread
    torch job spin-waits whenever another process holds the second core, and took minutes.
    """
    one_thread = ["--max-threads", "1"] if _sharing_cores() else []
    return [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(configfile),
        *one_thread,
        *args,
    ]


def run_snakemake(
    workdir: Path, configfile: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    cmd = snakemake_command(workdir, configfile, *args)
    return subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=900, env=env)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def http_server(tmp_path):
    """A static HTTP server on 127.0.0.1: (directory it serves, base URL)."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


# ---- shared hand-made data -----------------------------------------------------------------
GALAXIES = {
    "kind": "galaxies",
    "source": "simulate",
    "n_samples": 1200,
    "seed": 5,
    "simulate": {"image_size": 32},
    "preprocess": {"image_size": 16},
}


def bars(n=256, size=28, seed=0):
    """Images of horizontal bars at random rows: structured, learnable by a small code."""
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, 1, size, size)
    for i, r in enumerate(torch.randint(4, size - 4, (n,), generator=g)):
        x[i, 0, r - 2 : r + 2, 4 : size - 4] = 1.0
    return x


@pytest.fixture
def raw_radio():
    """Book layout: traces and signals (N, 500), 180 MHz; two noise-only traces."""
    rng = np.random.default_rng(0)
    signals = np.zeros((10, 500), np.float32)
    signals[:8, 200:210] = np.hanning(10) * 3
    traces = signals + rng.normal(0, 1, size=signals.shape).astype(np.float32)
    return {"traces": traces, "signals": signals}


def write_arrays(folder: Path, fmt: str, arrays: dict, stem: str = "mine") -> Path:
    """Arrays as a user's own file: ``<stem>.npz``, ``.h5`` (strings as bytes, as h5py
    stores them) or a ``.zarr`` store; its path."""
    import h5py
    import numpy as np

    if fmt == "npz":
        path = folder / f"{stem}.npz"
        np.savez(path, **arrays)
    elif fmt == "h5":
        path = folder / f"{stem}.h5"
        with h5py.File(path, "w") as f:
            for k, v in arrays.items():
                f[k] = v.astype("S5") if v.dtype.kind == "U" else v
    else:
        import zarr

        path = folder / f"{stem}.zarr"
        group = zarr.open_group(str(path), mode="w")
        for k, v in arrays.items():
            group.create_array(k, data=v if v.dtype.kind != "U" else v.astype("U5"))
    return path
