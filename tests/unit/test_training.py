import math

import pytest
import torch

from aeflow import plan
from aeflow.config import validate_config
from aeflow.models import build_model
from aeflow.training.callbacks import (
    Callback,
    Checkpoint,
    EarlyStopping,
    EpochLogger,
    ReduceLROnPlateau,
)
from aeflow.training.loop import Trainer
from aeflow.training.tracking import _retry, flatten


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


def test_gradients_are_clipped_to_max_grad_norm():
    """With SGD at learning rate 1 a step moves the weights by the gradient: clipped to the
    norm asked for, not without."""
    moved = {}
    for clip in (None, 0.01):
        torch.manual_seed(0)
        model = build_model("skip_dae", {"width": 4})
        before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
        trainer = Trainer(
            model,
            torch.optim.SGD(model.parameters(), lr=1.0),
            torch.device("cpu"),
            batch_size=8,
            amp=False,
            progress=False,
            max_grad_norm=clip,
        )
        data = _data(8)
        data["target"] = data["target"] * 100  # a huge loss, a huge gradient
        trainer.train_epoch(data, 1)
        after = torch.cat([p.detach().flatten() for p in trainer.model.parameters()])
        moved[clip] = float((after - before).norm())
    assert moved[0.01] == pytest.approx(0.01, rel=1e-3)
    assert moved[None] > 100 * moved[0.01]


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


def test_epoch_log_says_how_far_and_how_long(caplog):
    trainer = _trainer([EpochLogger()])
    with caplog.at_level("INFO", logger="aeflow.training.callbacks"):
        trainer.fit(_data(16), _data(8), epochs=3)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("epoch")]
    assert [line.split(":")[0] for line in lines] == [
        "epoch 1 of 3",
        "epoch 2 of 3",
        "epoch 3 of 3",
    ]
    assert "val_loss" in lines[0] and lines[0].endswith("left)") and "0 s left" in lines[-1]


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
    # an option added later leaves earlier specs alone while unset, and retrains when set
    assert cfg["train"]["max_grad_norm"] is None and "max_grad_norm" not in spec["train"]
    clipped = {**cfg, "train": {**cfg["train"], "max_grad_norm": 1.0}}
    assert plan.training_spec(clipped)["train"]["max_grad_norm"] == 1.0


def test_store_calls_are_retried_only_on_the_errors_named_transient(monkeypatch):
    """A dataset insert that lost a race (UNIQUE constraint) is retried where the caller says
    so; elsewhere it, like any other error, is raised at once."""
    monkeypatch.setattr("aeflow.training.tracking.time.sleep", lambda s: None)
    calls = []

    def lose_the_race_once():
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("(sqlite3.IntegrityError) UNIQUE constraint failed: datasets.name")
        return "linked"

    with pytest.raises(RuntimeError, match="UNIQUE"):
        _retry(lose_the_race_once, "log dataset")
    calls.clear()
    assert _retry(lose_the_race_once, "log dataset", transient=("unique constraint",)) == "linked"
    assert len(calls) == 2
