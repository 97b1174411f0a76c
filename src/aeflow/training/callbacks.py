"""Callbacks of the training loop: early stopping, LR plateau, checkpoint, MLflow, logging.

Each callback sees the trainer after every epoch and may set ``trainer.stop``; stateful
callbacks expose ``state_dict``/``load_state_dict`` so a resumed run continues exactly.
"""

from __future__ import annotations

import logging
import math
import os
from typing import TYPE_CHECKING, Any

from aeflow.atomic import atomic_path
from aeflow.benchmarks import minutes

if TYPE_CHECKING:
    from aeflow.training.loop import Trainer

log = logging.getLogger(__name__)


class Callback:
    name = "callback"

    def on_train_begin(self, trainer: Trainer) -> None:
        pass

    def on_epoch_end(self, trainer: Trainer, record: dict[str, float]) -> None:
        pass

    def on_train_end(self, trainer: Trainer) -> None:
        pass

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


class _ValLossPatience(Callback):
    """Counts epochs since ``val_loss`` last improved by more than ``min_delta`` (absolute)."""

    def __init__(self, patience: int, min_delta: float) -> None:
        self.patience = patience
        self.min_delta = min_delta
        self.best = math.inf
        self.wait = 0

    def _improved(self, record: dict[str, float]) -> bool:
        if record["val_loss"] < self.best - self.min_delta:
            self.best = record["val_loss"]
            self.wait = 0
            return True
        self.wait += 1
        return False

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "wait": self.wait}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.wait = float(state["best"]), int(state["wait"])


class EarlyStopping(_ValLossPatience):
    """Stop when ``val_loss`` has not improved by ``min_delta`` for ``patience`` epochs."""

    name = "early_stopping"

    def __init__(self, patience: int, min_delta: float = 0.0) -> None:
        super().__init__(patience, min_delta)

    def on_epoch_end(self, trainer: Trainer, record: dict[str, float]) -> None:
        if not self._improved(record) and self.wait >= self.patience:
            log.info("early stopping: no val_loss improvement in %d epochs", self.wait)
            trainer.stop = True


class ReduceLROnPlateau(Callback):
    """Multiply the LR by ``factor`` after ``patience`` epochs without val_loss improvement:
    torch's scheduler, driven once per epoch with the validation loss.

    Keras semantics (the book's): improvement means ``val_loss < best - min_delta``, the wait
    restarts after a reduction, the LR never goes below ``min_lr``, and the reduction comes
    on the ``patience``-th epoch without improvement (torch counts one further: its
    ``patience`` is ours minus one).
    """

    name = "lr_plateau"

    def __init__(self, factor: float, patience: int, min_lr: float, min_delta: float = 1e-4):
        self.factor, self.patience = factor, patience
        self.min_lr, self.min_delta = min_lr, min_delta
        self.scheduler = None
        self._pending: dict[str, Any] | None = None  # a checkpoint's state, until the optimizer

    def on_train_begin(self, trainer: Trainer) -> None:
        from torch.optim.lr_scheduler import ReduceLROnPlateau as TorchPlateau

        self.scheduler = TorchPlateau(
            trainer.optimizer,
            mode="min",
            factor=self.factor,
            patience=self.patience - 1,
            threshold=self.min_delta,
            threshold_mode="abs",
            min_lr=self.min_lr,
        )
        if self._pending is not None:
            self.scheduler.load_state_dict(self._pending)
            self._pending = None

    def on_epoch_end(self, trainer: Trainer, record: dict[str, float]) -> None:
        before = trainer.optimizer.param_groups[0]["lr"]
        self.scheduler.step(record["val_loss"])
        after = trainer.optimizer.param_groups[0]["lr"]
        if after < before:
            log.info("reducing learning rate %.3g -> %.3g", before, after)

    def state_dict(self) -> dict[str, Any]:
        return self.scheduler.state_dict() if self.scheduler is not None else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.scheduler is None:
            self._pending = state
        else:
            self.scheduler.load_state_dict(state)


class Checkpoint(Callback):
    """Save the full trainer state after every epoch (atomically) so a killed job resumes."""

    name = "checkpoint"

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = path

    def on_epoch_end(self, trainer: Trainer, record: dict[str, float]) -> None:
        import torch  # here, so that tracking (which figure jobs use) needs no torch

        with atomic_path(self.path) as tmp:
            torch.save(trainer.state_dict(), tmp)


class EpochLogger(Callback):
    """One human-readable line per epoch in the job log: "epoch k of N", the losses, the
    epoch's time, and the time spent and left (at the mean epoch time so far; early stopping
    may end sooner)."""

    name = "epoch_logger"

    def on_epoch_end(self, trainer: Trainer, record: dict[str, float]) -> None:
        if "train_loss" in record:
            val = f"  val_loss {record['val_loss']:.4g}" if "val_loss" in record else ""
            terms = f"train_loss {record['train_loss']:.4g}{val}  lr {record['lr']:.3g}"
        else:  # the adversarial loop: every term it recorded
            terms = "  ".join(
                f"{k} {v:.4g}" for k, v in record.items() if k not in ("epoch", "seconds")
            )
        spent = sum(h["seconds"] for h in trainer.history)
        left = spent / len(trainer.history) * max(trainer.epochs - record["epoch"], 0)
        log.info(
            "epoch %d of %d: %s  (%.1f s; %s spent, %s left)",
            record["epoch"],
            trainer.epochs,
            terms,
            record["seconds"],
            minutes(spent),
            minutes(left),
        )
