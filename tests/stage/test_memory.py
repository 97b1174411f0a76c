"""Pre-flight memory checks: simulate, prepare and train fail at once, naming the setting to
lower, when the job cannot fit the memory this machine has available."""

import pytest

from aeflow import memory
from aeflow.data.store import open_store
from aeflow.plan import training_spec
from aeflow.stages.data import fetch_raw, prepare


def test_available_memory_is_read():
    have = memory.available()
    assert have is None or have > 100e6


def _saxs(n_samples: int, **simulate) -> dict:
    cfg = {"kind": "saxs", "source": "simulate", "n_samples": n_samples, "simulate": simulate}
    from aeflow.config import validate_config

    return validate_config(
        {"datasets": {"big": cfg}, "experiments": {"e": {"dataset": "big", "model": "skip_dae"}}}
    )["datasets"]["big"]


def test_a_simulation_too_large_for_the_disk_fails_before_it_starts(tmp_path, monkeypatch):
    """Simulation runs chunk by chunk, so the number of samples is bounded by the disk."""
    monkeypatch.setattr(memory, "disk_available", lambda path: 100e9)
    with pytest.raises(ValueError, match=r"datasets\.big\.n_samples: simulating 20000000") as e:
        fetch_raw("big", _saxs(20_000_000), tmp_path / "big.npz")
    assert "GB of disk space" in str(e.value)
    assert list(tmp_path.iterdir()) == []  # nothing simulated, nothing written


def test_a_simulation_chunk_too_large_for_memory_fails_before_it_starts(tmp_path, monkeypatch):
    """One block of 512 detector images of 256 x 256 pixels (0.5 MB each, speckle and
    target) does not fit 1 GiB: the error names the simulator's settings."""
    monkeypatch.setattr(memory, "available", lambda: 2**30)
    cfg = _saxs(1000, image_size=256, field_of_view=256.0)
    with pytest.raises(ValueError, match=r"datasets\.big\.simulate .*chunks of 512") as e:
        fetch_raw("big", cfg, tmp_path / "big.npz")
    assert "GB of memory" in str(e.value)
    assert list(tmp_path.iterdir()) == []


def test_prepare_and_train_check_before_loading(tiny_runs, monkeypatch):
    """With 500 MB available (less than the fixed cost), prepare refuses, and so does train
    with its data held in memory, naming the settings; by default (auto) training streams
    the data instead."""
    from aeflow.stages.train import train

    prepared = tiny_runs.prepared("saxs")
    raw = tiny_runs.path("data/raw/saxs.npz")
    monkeypatch.setattr(memory, "available", lambda: 500e6)
    cfg = tiny_runs.config["datasets"]["saxs"]
    with pytest.raises(ValueError, match=r"datasets\.saxs: preparing .* chunk by chunk"):
        prepare("saxs", cfg, raw, tiny_runs.path("again.zarr"))
    exp = tiny_runs.experiment("saxs_dae")
    held = exp | {"train": exp["train"] | {"data_in_memory": True}}
    with pytest.raises(ValueError, match=r"training saxs_dae on \d+ samples.*data_in_memory"):
        train(
            "saxs_dae", held, tiny_runs.mlflow, prepared, tiny_runs.path("m"), tiny_runs.path("c")
        )
    # auto: what does not fit is streamed from the store instead
    from aeflow.models import build_model
    from aeflow.stages.train import _in_memory, data_shape

    ds = open_store(prepared)
    model = build_model(exp["model"], exp["model_params"], **data_shape(ds))
    assert _in_memory("saxs_dae", training_spec(exp), ds, model) is False
    monkeypatch.setattr(memory, "available", lambda: 1e12)
    assert _in_memory("saxs_dae", training_spec(exp), ds, model) is True
