"""Pre-flight memory checks: simulate, prepare and train fail at once, naming the setting to
lower, when the job cannot fit the memory this machine has available."""

import pytest

from aeflow import memory
from aeflow.stages.data import fetch_raw, prepare


def test_available_memory_is_read():
    have = memory.available()
    assert have is None or have > 100e6


def test_a_simulation_too_large_fails_before_it_starts(tmp_path, monkeypatch):
    cfg = {"kind": "saxs", "source": "simulate", "n_samples": 20_000_000, "seed": 0}
    from aeflow.config import validate_config

    cfg = validate_config(
        {"datasets": {"big": cfg}, "experiments": {"e": {"dataset": "big", "model": "skip_dae"}}}
    )["datasets"]["big"]
    monkeypatch.setattr(memory, "available", lambda: 24 * 2**30)  # this machine: 24 GiB
    with pytest.raises(ValueError, match=r"datasets\.big\.n_samples: simulating 20000000") as e:
        fetch_raw("big", cfg, tmp_path / "big.npz")
    assert "GB of memory" in str(e.value)
    assert list(tmp_path.iterdir()) == []  # nothing simulated, nothing written


def test_prepare_and_train_check_before_loading(tiny_runs, monkeypatch):
    """With 500 MB available (less than the fixed cost), prepare and train refuse, naming
    the dataset's size; with the real amount they run (the tiny runs of the stage tier)."""
    from aeflow.stages.train import train

    prepared = tiny_runs.prepared("saxs")
    raw = tiny_runs.path("data/raw/saxs.npz")
    monkeypatch.setattr(memory, "available", lambda: 500e6)
    cfg = tiny_runs.config["datasets"]["saxs"]
    with pytest.raises(ValueError, match=r"datasets\.saxs\.n_samples .*preparing"):
        prepare("saxs", cfg, raw, tiny_runs.path("again.zarr"))
    exp = tiny_runs.experiment("saxs_dae")
    with pytest.raises(ValueError, match=r"training saxs_dae on \d+ samples"):
        train("saxs_dae", exp, tiny_runs.mlflow, prepared, tiny_runs.path("m"), tiny_runs.path("c"))
