"""The train stage on a tiny hand-made store: outputs, the MLflow run, resuming after a
kill from the checkpoint, and checkpoints that do not belong to the run."""

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from aeflow.config import validate_config
from aeflow.data.store import write_store
from aeflow.models import build_model
from aeflow.models.trained import load_trained
from aeflow.stages.train import train
from aeflow.training.callbacks import Checkpoint
from aeflow.training.loop import Trainer
from aeflow.training.tracking import Run, init_store


@pytest.fixture
def prepared_store(tmp_path):
    rng = np.random.default_rng(0)
    n = 48
    target = rng.uniform(0, 1, (n, 16, 16)).astype(np.float32)
    ds = xr.Dataset(
        {
            "input": (
                ("sample", "y", "x"),
                target + rng.normal(0, 0.2, target.shape).astype(np.float32),
            ),
            "target": (("sample", "y", "x"), target),
        },
        coords={
            "split": ("sample", np.array(["train"] * 32 + ["val"] * 8 + ["test"] * 8, dtype=object))
        },
        attrs={
            "dataset": "toy",
            "source": "simulate",
            "raw_sha256": "0" * 64,
            "n_train": 32,
            "n_val": 8,
            "n_test": 8,
            "config": "{}",
        },
    )
    path = tmp_path / "toy.zarr"
    write_store(ds, path)
    return path


def _tracking(tmp_path):
    """A fresh SQLite MLflow store under tmp_path, created as the mlflow_init rule does."""
    _, mlflow_cfg = _exp_cfg(epochs=1)
    mlflow_cfg["tracking_uri"] = f"sqlite:///{tmp_path}/mlflow.db"
    mlflow_cfg["artifact_location"] = str(tmp_path / "artifacts")
    init_store(**mlflow_cfg)
    return mlflow_cfg


def _exp_cfg(epochs):
    cfg = validate_config(
        {
            "datasets": {"toy": {"kind": "saxs", "source": "simulate"}},
            "experiments": {
                "toy_dae": {
                    "dataset": "toy",
                    "model": "skip_dae",
                    "model_params": {"width": 4},
                    "train": {"epochs": epochs, "batch_size": 8},
                }
            },
            "mlflow": {"tracking_uri": "sqlite:///{db}", "experiment": "t"},
        }
    )
    return cfg["experiments"]["toy_dae"], cfg["mlflow"]


def test_train_stage_resumes_after_kill(tmp_path, prepared_store, monkeypatch):
    from mlflow.tracking import MlflowClient

    exp, _ = _exp_cfg(epochs=3)
    mlflow_cfg = _tracking(tmp_path)
    out, ckpt = tmp_path / "model", tmp_path / "ckpt"

    # Kill the job after epoch 2's checkpoint is written.
    original = Checkpoint.on_epoch_end

    def killing(self, trainer, record):
        original(self, trainer, record)
        if record["epoch"] == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(Checkpoint, "on_epoch_end", killing)
    with pytest.raises(KeyboardInterrupt):
        train("toy_dae", exp, mlflow_cfg, prepared_store, out, ckpt)
    assert (ckpt / "last.pt").exists()
    assert not (out / "model.pt").exists()
    monkeypatch.setattr(Checkpoint, "on_epoch_end", original)

    desc = train("toy_dae", exp, mlflow_cfg, prepared_store, out, ckpt)
    assert desc["epochs_run"] == 3
    assert not (ckpt / "last.pt").exists()  # removed once the outputs are complete
    for name in ("model.pt", "model.json", "history.csv", "run.json"):
        assert (out / name).exists()
    history = (out / "history.csv").read_text().strip().splitlines()
    assert len(history) == 1 + 3  # header + epochs 1, 2 (before the kill) and 3 (resumed)

    client = MlflowClient(mlflow_cfg["tracking_uri"])
    runs = client.search_runs([client.get_experiment_by_name("t").experiment_id])
    assert len(runs) == 1  # the resumed job continued the same run
    run = runs[0]
    assert run.info.status == "FINISHED"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "val_loss")] == [1, 2, 3]
    assert run.data.params["train.batch_size"] == "8"
    model, _ = load_trained(out)
    assert sum(p.numel() for p in model.parameters()) == desc["n_parameters"]


def test_checkpoint_of_another_config_is_ignored(tmp_path, prepared_store):
    """A checkpoint left by a kill -9 (its MLflow run still RUNNING), then the config
    changed: training starts afresh, and the orphaned run is ended as KILLED."""
    from mlflow.tracking import MlflowClient

    exp, _ = _exp_cfg(epochs=1)
    mlflow_cfg = _tracking(tmp_path)
    orphan = Run(mlflow_cfg["tracking_uri"], "t", "train toy_dae")  # RUNNING, never ended
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    model = build_model("skip_dae", {"width": 4})
    optimizer = torch.optim.Adam(model.parameters())
    trainer = Trainer(model, optimizer, torch.device("cpu"), batch_size=8, progress=False)
    trainer.epoch = 5
    trainer.extra_state = {"fingerprint": "other", "mlflow_run_id": orphan.run_id}
    torch.save(trainer.state_dict(), ckpt / "last.pt")
    desc = train("toy_dae", exp, mlflow_cfg, prepared_store, tmp_path / "m", ckpt)
    assert desc["epochs_run"] == 1
    client = MlflowClient(mlflow_cfg["tracking_uri"])
    assert client.get_run(orphan.run_id).info.status == "KILLED"


def test_unreadable_checkpoint_is_moved_aside(tmp_path, prepared_store):
    exp, _ = _exp_cfg(epochs=1)
    mlflow_cfg = _tracking(tmp_path)
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "last.pt").write_bytes(b"truncated")
    desc = train("toy_dae", exp, mlflow_cfg, prepared_store, tmp_path / "m", ckpt)
    assert desc["epochs_run"] == 1
    assert (ckpt / "last.pt.stale").read_bytes() == b"truncated"


def test_precision_is_chosen_at_run_time_and_recorded(tmp_path, prepared_store, monkeypatch):
    """On a CPU with native bf16 the networks train under bf16 autocast; the run says so."""
    from mlflow.tracking import MlflowClient

    from aeflow import device

    monkeypatch.setattr(device, "_host_cpu_flags", lambda: frozenset({"avx512_bf16"}))
    seen = []
    original = Trainer.train_epoch

    def spying(self, data, epoch):
        with device.autocast(self.device, self.amp):
            seen.append(torch.is_autocast_enabled("cpu"))
        return original(self, data, epoch)

    monkeypatch.setattr(Trainer, "train_epoch", spying)
    exp, _ = _exp_cfg(epochs=1)
    mlflow_cfg = _tracking(tmp_path)
    desc = train("toy_dae", exp, mlflow_cfg, prepared_store, tmp_path / "m", tmp_path / "c")
    assert seen == [True]
    assert desc["precision"] == "bf16"
    assert np.isfinite(desc["best_val_loss"])
    client = MlflowClient(mlflow_cfg["tracking_uri"])
    run = client.search_runs([client.get_experiment_by_name("t").experiment_id])[0]
    assert run.data.tags["aeflow.precision"] == "bf16"

    exp["train"]["amp"] = False
    desc = train("toy_dae", exp, mlflow_cfg, prepared_store, tmp_path / "m2", tmp_path / "c2")
    assert desc["precision"] == "fp32"


def _model_cfg(model, model_params, epochs):
    exp, _ = _exp_cfg(epochs)
    return {**exp, "model": model, "model_params": model_params, "task": "reconstruct"}


@pytest.mark.parametrize(
    ("model", "params"),
    [
        ("vae", {"architecture": "dense", "hidden": 16, "latent_dim": 2}),  # sampled code
        ("wgan_gp", {"channels": [8, 4], "latent_dim": 4}),  # noise, gradient-penalty mixing
    ],
)
def test_resumed_training_matches_the_uninterrupted_one_exactly(
    tmp_path, prepared_store, monkeypatch, model, params
):
    """Models that draw random numbers while training (a VAE, a GAN) resume bit for bit: the
    checkpoint carries the random streams, so epoch 2 after a kill is epoch 2 without one."""
    exp = _model_cfg(model, params, epochs=2)
    mlflow_cfg = _tracking(tmp_path)
    whole = train(model, exp, mlflow_cfg, prepared_store, tmp_path / "a", tmp_path / "ca")

    original = Checkpoint.on_epoch_end

    def killing(self, trainer, record):
        original(self, trainer, record)
        raise KeyboardInterrupt  # after epoch 1's checkpoint

    monkeypatch.setattr(Checkpoint, "on_epoch_end", killing)
    with pytest.raises(KeyboardInterrupt):
        train(model, exp, mlflow_cfg, prepared_store, tmp_path / "b", tmp_path / "cb")
    monkeypatch.setattr(Checkpoint, "on_epoch_end", original)
    resumed = train(model, exp, mlflow_cfg, prepared_store, tmp_path / "b", tmp_path / "cb")

    assert whole["epochs_run"] == resumed["epochs_run"] == 2
    a = pd.read_csv(tmp_path / "a/history.csv").drop(columns="seconds")
    b = pd.read_csv(tmp_path / "b/history.csv").drop(columns="seconds")
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    weights = [load_trained(tmp_path / run)[0].state_dict() for run in ("a", "b")]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_training_without_a_validation_split_runs_every_epoch(tmp_path, prepared_store):
    """The lecture notebooks' recipe (validation on the test set, no early stopping): with no
    val samples and nothing watching them, training runs all epochs and keeps the last
    weights; a run whose early stopping would watch the empty split is refused."""
    ds = xr.open_zarr(prepared_store).load()
    split = ds["split"].values.astype(object)
    split[split == "val"] = "train"
    no_val = tmp_path / "no_val.zarr"
    write_store(ds.assign_coords(split=("sample", split)), no_val)
    exp, _ = _exp_cfg(epochs=3)
    mlflow_cfg = _tracking(tmp_path)
    with pytest.raises(ValueError, match=r"'val' split of dataset 'toy' is empty \(early_stop"):
        train("toy_dae", exp, mlflow_cfg, no_val, tmp_path / "m0", tmp_path / "c0")
    exp["train"]["early_stopping"]["patience"] = exp["train"]["lr_plateau"]["patience"] = None
    desc = train("toy_dae", exp, mlflow_cfg, no_val, tmp_path / "m", tmp_path / "c")
    assert desc["epochs_run"] == 3
    assert desc["best_epoch"] is None and desc["best_val_loss"] is None
    history = pd.read_csv(tmp_path / "m" / "history.csv")
    assert len(history) == 3 and "val_loss" not in history


def test_fine_tuning_starts_from_the_other_experiments_weights(tmp_path, prepared_store):
    """train.init_from: the first epoch starts where the other model ended (its validation
    loss is already near that model's, far below a fresh start's), model.json names the
    weights, and weights of other layer shapes are refused naming the key."""
    exp, _ = _exp_cfg(epochs=3)
    mlflow_cfg = _tracking(tmp_path)
    base = train("toy_dae", exp, mlflow_cfg, prepared_store, tmp_path / "a", tmp_path / "ca")
    tuned_cfg = {**exp, "train": {**exp["train"], "epochs": 1, "init_from": "toy_dae"}}
    fresh_cfg = {**exp, "train": {**exp["train"], "epochs": 1}}
    weights = tmp_path / "a/model.pt"
    tuned = train(
        "tuned",
        tuned_cfg,
        mlflow_cfg,
        prepared_store,
        tmp_path / "b",
        tmp_path / "cb",
        init_weights=weights,
    )
    fresh = train("fresh", fresh_cfg, mlflow_cfg, prepared_store, tmp_path / "c", tmp_path / "cc")
    assert tuned["best_val_loss"] < fresh["best_val_loss"]
    assert tuned["best_val_loss"] <= 1.05 * base["best_val_loss"]
    assert tuned["initialized_from"]["experiment"] == "toy_dae"
    assert len(tuned["initialized_from"]["sha256"]) == 64
    assert "initialized_from" not in fresh

    wider = {**tuned_cfg, "model_params": {"width": 8}}
    with pytest.raises(ValueError, match=r"experiments\.wide\.train\.init_from: .*model\.pt"):
        train(
            "wide",
            wider,
            mlflow_cfg,
            prepared_store,
            tmp_path / "d",
            tmp_path / "cd",
            init_weights=weights,
        )


def test_trained_model_is_registered_and_loads_by_alias(tmp_path, prepared_store):
    import mlflow
    import mlflow.pytorch
    from mlflow.tracking import MlflowClient

    exp, _ = _exp_cfg(epochs=2)
    mlflow_cfg = _tracking(tmp_path)
    first = train("toy_dae", exp, mlflow_cfg, prepared_store, tmp_path / "m1", tmp_path / "c1")
    worse = dict(exp, train=dict(exp["train"], epochs=1, learning_rate=1e-6))
    second = train("toy_dae", worse, mlflow_cfg, prepared_store, tmp_path / "m2", tmp_path / "c2")
    assert second["best_val_loss"] > first["best_val_loss"]

    client = MlflowClient(mlflow_cfg["tracking_uri"])
    name = "t.toy_dae"  # <MLflow experiment>.<experiment>
    versions = client.search_model_versions(f"name = '{name}'")
    assert sorted(int(v.version) for v in versions) == [1, 2]
    assert int(client.get_model_version_by_alias(name, "best").version) == 1  # lower val loss
    version = client.get_model_version_by_alias(name, "best")
    assert float(version.tags["val_loss"]) == pytest.approx(first["best_val_loss"])

    # the registered model is the trained one: same outputs as model.pt rebuilt by aeflow
    mlflow.set_tracking_uri(mlflow_cfg["tracking_uri"])
    loaded = mlflow.pytorch.load_model(f"models:/{name}@best", map_location="cpu").eval()
    ours, _ = load_trained(tmp_path / "m1")
    x = torch.rand(3, 1, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), ours(x))
    info = mlflow.models.get_model_info(f"models:/{name}@best")
    assert info.signature.inputs.to_dict()[0]["tensor-spec"]["shape"] == (-1, 1, 16, 16)

    # aeflow's own files stay beside the MLflow model in the run's artifacts
    own = {a.path for a in client.list_artifacts(version.run_id, "model")}
    assert {"model/model.pt", "model/model.json", "model/history.csv"} <= own

    # the prepared store is the run's input, with its content digest
    run = client.get_run(version.run_id)
    (dataset,) = [d.dataset for d in run.inputs.dataset_inputs]
    assert dataset.name == "toy" and len(dataset.digest) == 32
