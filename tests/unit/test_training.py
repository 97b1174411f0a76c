import math

import numpy as np
import pytest
import torch
import xarray as xr

from aeflow import plan
from aeflow.config import validate_config
from aeflow.data.store import write_store
from aeflow.models import build_model
from aeflow.models.trained import load_trained
from aeflow.stages.train import train
from aeflow.training.callbacks import Callback, Checkpoint, EarlyStopping, ReduceLROnPlateau
from aeflow.training.loop import Trainer
from aeflow.training.tracking import flatten, init_store


def _data(n, seed=0, size=16):
    g = torch.Generator().manual_seed(seed)
    target = torch.rand(n, 1, size, size, generator=g)
    noisy = target + 0.3 * torch.randn(n, 1, size, size, generator=g)
    return {"input": noisy, "target": target}


def _trainer(callbacks=(), seed=0, lr=3e-3):
    torch.manual_seed(seed)
    model = build_model("skip_dae", {"width": 4})
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    return Trainer(
        model,
        opt,
        torch.device("cpu"),
        batch_size=8,
        seed=seed,
        callbacks=callbacks,
        progress=False,
    )


def test_loss_falls():
    trainer = _trainer()
    history = trainer.fit(_data(64), _data(16, seed=1), epochs=4)
    assert len(history) == 4
    assert history[-1]["train_loss"] < 0.7 * history[0]["train_loss"]
    assert history[-1]["val_loss"] < history[0]["val_loss"]
    assert all(math.isfinite(h["val_loss"]) for h in history)


class _ScriptedVal(Callback):
    """Replace val_loss by a script, to test the plateau logic deterministically."""

    def __init__(self, values):
        self.values = list(values)

    def on_epoch_end(self, trainer, record):
        record["val_loss"] = self.values[record["epoch"] - 1]


def test_early_stopping_and_lr_plateau():
    script = _ScriptedVal([1.0, 0.5, 0.6, 0.6, 0.6, 0.6, 0.6])
    stopper = EarlyStopping(patience=3)
    plateau = ReduceLROnPlateau(factor=0.5, patience=2, min_lr=1e-3, min_delta=0.0)
    trainer = _trainer([script, stopper, plateau], lr=4e-3)
    history = trainer.fit(_data(16), _data(8), epochs=7)
    assert len(history) == 5  # best at epoch 2, three epochs without improvement
    assert trainer.stop
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(2e-3)  # reduced once after 2
    # min_lr bounds the reduction
    plateau = ReduceLROnPlateau(factor=0.1, patience=1, min_lr=1e-3, min_delta=0.0)
    trainer = _trainer([_ScriptedVal([1.0, 1.0, 1.0, 1.0]), plateau], lr=4e-3)
    trainer.fit(_data(16), _data(8), epochs=4)
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(1e-3)


def test_resume_from_checkpoint_reproduces_an_uninterrupted_run(tmp_path):
    train, val = _data(40), _data(8, seed=1)
    full = _trainer([ReduceLROnPlateau(0.5, 1, 1e-5)])
    full.fit(train, val, epochs=3)

    ckpt = tmp_path / "last.pt"
    first = _trainer([ReduceLROnPlateau(0.5, 1, 1e-5), Checkpoint(ckpt)])
    first.restore_best = False
    first.fit(train, val, epochs=2)  # "killed" after two epochs
    state = torch.load(ckpt, weights_only=True)
    assert state["epoch"] == 2
    resumed = _trainer([ReduceLROnPlateau(0.5, 1, 1e-5)], seed=0)
    resumed.load_state_dict(state)
    resumed.fit(train, val, epochs=3)
    assert [h["val_loss"] for h in resumed.history] == pytest.approx(
        [h["val_loss"] for h in full.history]
    )
    for a, b in zip(
        full.model.state_dict().values(), resumed.model.state_dict().values(), strict=True
    ):
        torch.testing.assert_close(a, b)


def test_non_finite_loss_is_an_error():
    data = _data(16)
    data["target"][0, 0, 0, 0] = float("nan")
    with pytest.raises(FloatingPointError, match="epoch 1"):
        _trainer().fit(data, _data(8), epochs=1)


def test_flatten_params():
    assert flatten({"a": {"b": 1, "c": {"d": None}}, "e": [1, 2]}) == {
        "a.b": "1",
        "a.c.d": "None",
        "e": "[1, 2]",
    }


# ---- the train stage: MLflow, outputs, resume after a kill ---------------------------------
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
    exp, _ = _exp_cfg(epochs=1)
    mlflow_cfg = _tracking(tmp_path)
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    trainer = _trainer()
    trainer.epoch = 5
    trainer.extra_state = {"fingerprint": "other"}
    torch.save(trainer.state_dict(), ckpt / "last.pt")
    desc = train("toy_dae", exp, mlflow_cfg, prepared_store, tmp_path / "m", ckpt)
    assert desc["epochs_run"] == 1


def test_training_spec_ignores_evaluation_and_threads():
    cfg = validate_config(
        {
            "datasets": {"d": {"kind": "saxs", "source": "simulate"}},
            "experiments": {"e": {"dataset": "d", "model": "skip_dae"}},
        }
    )["experiments"]["e"]
    spec = plan.training_spec(cfg)
    assert "evaluate" not in spec and "threads" not in spec["train"]
    changed = {**cfg, "evaluate": {**cfg["evaluate"], "n_examples": 3}}
    changed["train"] = {**cfg["train"], "threads": 7}
    assert plan.training_spec(changed) == spec


def test_unreadable_checkpoint_is_moved_aside(tmp_path, prepared_store):
    exp, _ = _exp_cfg(epochs=1)
    mlflow_cfg = _tracking(tmp_path)
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "last.pt").write_bytes(b"truncated")
    desc = train("toy_dae", exp, mlflow_cfg, prepared_store, tmp_path / "m", ckpt)
    assert desc["epochs_run"] == 1
    assert (ckpt / "last.pt.stale").read_bytes() == b"truncated"
