"""Training streamed from the Zarr store: the same batches, so the same weights, as in memory;
read by worker processes started without fork; the whole train stage with it."""

import numpy as np
import pytest
import torch

from aeflow.config import validate_config
from aeflow.data.store import open_store
from aeflow.data.tasks import with_anomaly_labels, with_corrupted_inputs
from aeflow.models import build_model
from aeflow.plan import training_spec
from aeflow.stages.data import fetch_raw, prepare
from aeflow.stages.train import _tensors, data_shape, train
from aeflow.training import stream
from aeflow.training.recipe import build_trainer
from aeflow.training.stream import StreamedSplit, epoch_windows, sequential_windows


def test_an_epoch_is_a_permutation_by_windows_of_chunks():
    groups = np.repeat(np.arange(10), 7)[::2]  # 35 samples in 10 chunks (every other sample)
    windows = epoch_windows(groups, seed=1, epoch=3, window=4)
    order = np.concatenate(windows)
    assert sorted(order) == list(range(35))
    assert [len(np.unique(groups[w])) for w in windows] == [4, 4, 2]  # whole chunks each
    again = np.concatenate(epoch_windows(groups, seed=1, epoch=3, window=4))
    np.testing.assert_array_equal(order, again)  # (seed, epoch) fix the order
    assert not np.array_equal(order, np.concatenate(epoch_windows(groups, 1, 4, window=4)))
    # few chunks: one window, the plain permutation of an in-memory epoch
    one = epoch_windows(groups, seed=1, epoch=3, window=10)
    gen = torch.Generator().manual_seed(1 * 100_003 + 3)
    np.testing.assert_array_equal(one[0], torch.randperm(35, generator=gen).numpy())
    seq = sequential_windows(groups, window=4)
    np.testing.assert_array_equal(np.concatenate(seq), np.arange(35))


def _radio(tmp_path, **train):
    config = validate_config(
        {
            "mlflow": {"tracking_uri": f"sqlite:///{tmp_path}/mlflow.db", "experiment": "s"},
            "datasets": {
                "r": {
                    "kind": "radio",
                    "source": "simulate",
                    "n_samples": 700,
                    "simulate": {"trace_length": 64},
                }
            },
            "experiments": {
                "e": {
                    "dataset": "r",
                    "model": "conv1d_dae",
                    "model_params": {"channels": [4, 8]},
                    "train": {"epochs": 2, "batch_size": 100, "seed": 1, **train},
                }
            },
        }
    )
    raw, prepared = tmp_path / "raw.npz", tmp_path / "r.zarr"
    if not prepared.exists():
        fetch_raw("r", config["datasets"]["r"], raw)
        prepare("r", config["datasets"]["r"], raw, prepared)
    return config, prepared


def _fit(spec, prepared, in_memory: bool):
    ds = with_anomaly_labels(open_store(prepared), spec)
    torch.manual_seed(0)
    model = build_model(spec["model"], spec["model_params"], **data_shape(ds))
    train_data, val_data = _tensors(model, spec, ds, prepared, in_memory)
    trainer = build_trainer(model, spec["train"], torch.device("cpu"))
    trainer.progress = False
    history = trainer.fit(train_data, val_data, spec["train"]["epochs"])
    return model.state_dict(), history, train_data


@pytest.mark.parametrize("workers", [0, 1])
def test_streamed_training_gives_the_in_memory_weights(tmp_path, monkeypatch, workers):
    """700 traces in 3 store chunks, one chunk per shuffling window: the streamed epochs see
    the batches the in-memory ones see (a batch spans two windows), so the weights agree."""
    monkeypatch.setattr(stream, "WINDOW_CHUNKS", 1)
    config, prepared = _radio(tmp_path, stream_workers=workers)
    spec = training_spec(config["experiments"]["e"])
    weights, history, memory_data = _fit(spec, prepared, in_memory=True)
    streamed_weights, streamed_history, streamed = _fit(spec, prepared, in_memory=False)
    assert isinstance(streamed, StreamedSplit) and not isinstance(memory_data, StreamedSplit)
    assert len(streamed) == len(next(iter(memory_data.values())))
    for key in weights:
        torch.testing.assert_close(streamed_weights[key], weights[key], rtol=0, atol=0)
    for a, b in zip(history, streamed_history, strict=True):
        assert a["train_loss"] == b["train_loss"] and a["val_loss"] == b["val_loss"]
    if workers:  # the reader processes were not forked (Zarr 3's loop deadlocks in a fork)
        assert streamed._loader.multiprocessing_context.get_start_method() in (
            "forkserver",
            "spawn",
        )


def test_a_streamed_split_corrupts_its_inputs_as_in_memory(tmp_path):
    _, prepared = _radio(tmp_path)
    ds = open_store(prepared)
    spec = {"corrupt": {"noise_sd": 0.3, "noise_mean": 0.0, "clip": None, "downsample": 0}}
    spec["corrupt"]["seed"] = 4
    positions = np.flatnonzero(ds["split"].values == "train")
    # a trace dataset: the per-sample noise of the stream and of the in-memory path
    split = StreamedSplit(
        prepared,
        positions,
        [("input", "input", False), ("target", "target", False)],
        chunk=256,
        sample_ids=ds["sample"].values[positions],
        corrupt=spec["corrupt"],
        workers=0,
    )
    index = np.array([5, 300, 2, 450])
    got = split.read(index)
    clean = ds["target"].values[positions[index]]
    np.testing.assert_array_equal(got["target"][:, 0].numpy(), clean)
    rng = np.random.default_rng([4, int(ds["sample"].values[positions[5]])])
    expected = clean[0] + rng.normal(0.0, 0.3, size=clean.shape[1:])
    np.testing.assert_allclose(got["input"][0, 0].numpy(), expected, rtol=1e-6)
    # the in-memory path corrupts traces with the same noise; downsampling is for images
    in_memory = with_corrupted_inputs(ds, spec)["input"].values[positions[index]]
    np.testing.assert_array_equal(got["input"][:, 0].numpy(), in_memory)
    spec["corrupt"]["downsample"] = 2
    with pytest.raises(ValueError, match="corrupt applies to images"):
        with_corrupted_inputs(ds, spec)


def test_the_train_stage_streams_when_told_to(tmp_path):
    config, prepared = _radio(tmp_path, data_in_memory=False, stream_workers=1)
    from aeflow.stages.tracking import init_mlflow

    init_mlflow(config["mlflow"], tmp_path / "mlflow.done")
    description = train(
        "e",
        config["experiments"]["e"],
        config["mlflow"],
        prepared,
        tmp_path / "model",
        tmp_path / "ckpt",
    )
    assert description["epochs_run"] == 2
    assert description["n_train"] == len(
        np.flatnonzero(open_store(prepared)["split"].values == "train")
    )
    assert (tmp_path / "model" / "model.pt").exists()
