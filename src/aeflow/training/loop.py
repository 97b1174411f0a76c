"""The training loop shared by every model. A model supplies its loss; callbacks do the rest.

Data are dicts of CPU tensors with the sample on dim 0; a batch is an ``index_select`` of
them (no per-sample Python), moved to the device with ``non_blocking`` from pinned memory.
A split too large for memory is a :class:`aeflow.training.stream.StreamedSplit`, read from
its Zarr store in the same order.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from aeflow.device import autocast
from aeflow.models.base import Autoencoder
from aeflow.training.callbacks import Callback
from aeflow.training.stream import StreamedSplit, epoch_windows

log = logging.getLogger(__name__)

TensorData = dict[str, torch.Tensor]


def n_samples(data: TensorData | StreamedSplit) -> int:
    if isinstance(data, StreamedSplit):
        return len(data)
    sizes = {v.shape[0] for v in data.values()}
    if len(sizes) != 1:
        raise ValueError(f"tensors disagree on the number of samples: {sizes}")
    return sizes.pop()


class Trainer:
    """Minimizes ``model.loss(batch)["loss"]`` with the given optimizer.

    ``fit`` runs epochs until ``epochs`` or a callback sets ``stop``. The best weights by the
    ``monitor`` value of the epoch record (validation loss by default; ``maximize`` for
    accuracies) are kept and restored at the end when ``restore_best``. Terms of the loss
    dict named in the model's ``tracked_terms`` (e.g. ``accuracy``) are averaged per sample
    into the record as ``train_<term>`` and ``val_<term>``. ``schedule`` is a learning-rate
    scheduler stepped after every optimizer step. Without validation data (``val=None``)
    the record has training values only and the last weights are kept. ``max_grad_norm``
    clips the gradients' joint norm before each step.
    """

    def __init__(
        self,
        model: Autoencoder,
        optimizer: torch.optim.Optimizer,
        device: torch.device,
        *,
        batch_size: int,
        seed: int = 0,
        amp: bool = True,
        channels_last: bool = True,
        restore_best: bool = True,
        callbacks: Sequence[Callback] = (),
        progress: bool = True,
        schedule: torch.optim.lr_scheduler.LRScheduler | None = None,
        monitor: str = "val_loss",
        maximize: bool = False,
        max_grad_norm: float | None = None,
    ) -> None:
        self.device = device
        self.max_grad_norm = max_grad_norm
        self.channels_last = channels_last
        self.model = model.to(device)
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.optimizer = optimizer
        self.batch_size = batch_size
        self.seed = seed
        self.amp = amp
        self.restore_best = restore_best
        self.callbacks = list(callbacks)
        self.progress = progress
        self.schedule = schedule
        self.monitor, self.maximize = monitor, maximize
        self.epoch = 0  # completed epochs
        self.epochs = 0  # the epochs asked of fit
        self.history: list[dict[str, float]] = []
        self.best_val = -math.inf if maximize else math.inf
        self.best_epoch = 0
        self.best_state: dict[str, torch.Tensor] | None = None
        self.stop = False
        self.extra_state: dict[str, Any] = {}  # e.g. the MLflow run id, saved with checkpoints

    # ---- batches -------------------------------------------------------------------------
    def _to_device(self, batch: TensorData) -> TensorData:
        out = {}
        for key, value in batch.items():
            value = value.to(self.device, non_blocking=True)
            if self.channels_last and value.dim() == 4:
                value = value.contiguous(memory_format=torch.channels_last)
            out[key] = value
        return out

    def _batches(self, data: TensorData | StreamedSplit, shuffle: bool, epoch: int):
        pin = self.device.type == "cuda"
        if isinstance(data, StreamedSplit):
            for batch in data.batches(self.batch_size, shuffle, self.seed, epoch, pin):
                yield self._to_device(batch)
            return
        n = n_samples(data)
        if shuffle:
            # The order depends on (seed, epoch) only, so a resumed run sees the same order;
            # by store chunks as a streamed split is read (one window: a plain permutation).
            groups = getattr(data, "groups", None)
            groups = np.zeros(n, np.int64) if groups is None else groups
            order = torch.from_numpy(np.concatenate(epoch_windows(groups, self.seed, epoch)))
        else:
            order = None
        for start in range(0, n, self.batch_size):
            if order is None:
                batch = {k: v[start : start + self.batch_size] for k, v in data.items()}
                if pin:
                    batch = {k: v.pin_memory() for k, v in batch.items()}
            else:
                idx = order[start : start + self.batch_size]
                # Gather straight into (pinned, on CUDA) memory: one host copy per batch.
                batch = {
                    k: torch.index_select(
                        v,
                        0,
                        idx,
                        out=torch.empty((len(idx), *v.shape[1:]), dtype=v.dtype, pin_memory=pin),
                    )
                    for k, v in data.items()
                }
            yield self._to_device(batch)

    # ---- epochs --------------------------------------------------------------------------
    def _tracked(self) -> tuple[str, ...]:
        return tuple(getattr(self.model, "tracked_terms", ()))

    def train_epoch(self, data: TensorData, epoch: int) -> dict[str, float]:
        """One pass over ``data``: the mean loss (``train_loss``) and tracked terms."""
        self.model.train()
        total = torch.zeros((), device=self.device)
        sums = {name: torch.zeros((), device=self.device) for name in self._tracked()}
        seen = 0
        n = n_samples(data)
        bar = tqdm(
            total=n,
            desc=f"epoch {epoch}",
            unit="sample",
            file=sys.stderr,
            ascii=True,
            mininterval=2.0,
            disable=not self.progress,
            dynamic_ncols=False,
            ncols=100,
        )
        for step, batch in enumerate(self._batches(data, shuffle=True, epoch=epoch)):
            with autocast(self.device, self.amp):
                terms = self.model.loss(batch)
            loss = terms["loss"]
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if self.max_grad_norm is not None:  # one bad batch does not throw the net away
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.max_grad_norm)
            self.optimizer.step()
            if self.schedule is not None:
                self.schedule.step()
            b = n_samples(batch)
            total += loss.detach().float() * b
            for name in sums:
                sums[name] += terms[name].detach().float() * b
            seen += b
            bar.update(b)
            if step % 10 == 0:
                bar.set_postfix(loss=f"{loss.item():.4g}", refresh=False)
        bar.close()
        value = (total / max(seen, 1)).item()
        if not math.isfinite(value):
            raise FloatingPointError(f"training loss became {value} in epoch {epoch}")
        n = max(seen, 1)
        return {"train_loss": value} | {f"train_{k}": (v / n).item() for k, v in sums.items()}

    @torch.no_grad()
    def evaluate(self, data: TensorData) -> dict[str, float]:
        """Mean loss (``val_loss``) and tracked terms per sample over ``data``, eval mode."""
        self.model.eval()
        total = torch.zeros((), device=self.device)
        sums = {name: torch.zeros((), device=self.device) for name in self._tracked()}
        seen = 0
        for batch in self._batches(data, shuffle=False, epoch=0):
            with autocast(self.device, self.amp):
                terms = self.model.loss(batch)
            b = n_samples(batch)
            total += terms["loss"].float() * b
            for name in sums:
                sums[name] += terms[name].float() * b
            seen += b
        n = max(seen, 1)
        tracked = {f"val_{k}": (v / n).item() for k, v in sums.items()}
        return {"val_loss": (total / n).item()} | tracked

    def run_epoch(self, train: TensorData, val: TensorData | None, epoch: int) -> dict[str, float]:
        """One epoch of training and its validation: the epoch's record (without timing)."""
        lr = self.optimizer.param_groups[0]["lr"]
        record = self.train_epoch(train, epoch)
        if val is not None:
            record |= self.evaluate(val)
        return record | {"lr": lr}

    def track_best(self, record: dict[str, float], epoch: int) -> None:
        """Keep the weights of the best ``monitor`` value (lowest, or highest with
        ``maximize``); nothing to keep without validation."""
        if self.monitor not in record:
            return
        value = record[self.monitor]
        if (value > self.best_val) if self.maximize else (value < self.best_val):
            self.best_val, self.best_epoch = value, epoch
            self.best_state = {
                k: v.detach().to("cpu", copy=True) for k, v in self.model.state_dict().items()
            }

    def fit(self, train: TensorData, val: TensorData | None, epochs: int) -> list[dict[str, float]]:
        self.epochs = epochs
        for cb in self.callbacks:
            cb.on_train_begin(self)
        if self.epoch:
            log.info("resuming after epoch %d of %d", self.epoch, epochs)
        while self.epoch < epochs and not self.stop:
            epoch = self.epoch + 1
            t0 = time.perf_counter()
            record = {"epoch": epoch} | self.run_epoch(train, val, epoch)
            record["seconds"] = time.perf_counter() - t0
            self.history.append(record)
            self.track_best(record, epoch)
            self.epoch = epoch
            for cb in self.callbacks:
                cb.on_epoch_end(self, record)
        if self.restore_best and self.best_state is not None:
            self.model.load_state_dict(self.best_state)
            log.info(
                "restored best weights of epoch %d (%s %.4g)",
                self.best_epoch,
                self.monitor,
                self.best_val,
            )
        for cb in self.callbacks:
            cb.on_train_end(self)
        return self.history

    # ---- checkpoints ---------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume: tensors, numbers, strings (loadable weights_only)."""
        return {
            "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "callbacks": {cb.name: cb.state_dict() for cb in self.callbacks},
            "schedule": self.schedule.state_dict() if self.schedule is not None else {},
            "epoch": self.epoch,
            "history": self.history,
            "best_val": self.best_val,
            "best_epoch": self.best_epoch,
            "best_model": self.best_state,
            "stop": self.stop,
            "extra": self.extra_state,
            "rng": _rng_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.schedule is not None and state.get("schedule"):
            self.schedule.load_state_dict(state["schedule"])
        for cb in self.callbacks:
            if cb.name in state["callbacks"]:
                cb.load_state_dict(state["callbacks"][cb.name])
        self.epoch = int(state["epoch"])
        self.history = list(state["history"])
        self.best_val = float(state["best_val"])
        self.best_epoch = int(state["best_epoch"])
        self.best_state = state["best_model"]
        self.stop = bool(state["stop"])
        self.extra_state = dict(state["extra"])
        if "rng" in state:  # older checkpoints had none: they resume, not bit for bit
            _set_rng_state(state["rng"])


def _rng_state() -> dict[str, Any]:
    """The global random streams a training step draws from (dropout, a VAE's sampled code,
    GAN noise and gradient-penalty mixing): torch's CPU generator and every CUDA device's."""
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    """Restore :func:`_rng_state`, so a resumed run draws what the uninterrupted one drew."""
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda")
    if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
