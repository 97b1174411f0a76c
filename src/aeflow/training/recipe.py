"""What an experiment's ``train:`` section asks for: the loop, its optimizer and callbacks,
the training tensors of its data, and resuming from a checkpoint of the same training."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aeflow.data.split import split_index
from aeflow.training.adversarial import AdversarialTrainer
from aeflow.training.callbacks import EarlyStopping, EpochLogger, ReduceLROnPlateau
from aeflow.training.loop import Trainer

log = logging.getLogger(__name__)


def make_optimizer(parameters, tc: dict[str, Any]) -> torch.optim.Optimizer:
    """``train.optimizer``: Adam, or RMSprop with Keras' defaults (rho 0.9, epsilon 1e-7,
    where torch's own are 0.99 and 1e-8), so that a Keras recipe trains the same way."""
    lr, wd = tc["learning_rate"], tc["weight_decay"]
    if tc.get("optimizer", "adam") == "rmsprop":
        return torch.optim.RMSprop(parameters, lr=lr, alpha=0.9, eps=1e-7, weight_decay=wd)
    return torch.optim.Adam(parameters, lr=lr, weight_decay=wd)


def build_trainer(model, tc: dict[str, Any], device) -> Trainer:
    """The loop for ``model``: the adversarial one for GANs (their optimizers and n_critic
    come with the model), else minimizing its loss with ``train.optimizer`` and the train:
    callbacks."""
    common = {
        "batch_size": tc["batch_size"],
        "seed": tc["seed"],
        "amp": tc["amp"],
        "channels_last": tc["channels_last"],
    }
    if model.adversarial:
        return AdversarialTrainer(model, device, callbacks=[EpochLogger()], **common)
    optimizer = make_optimizer(model.parameters(), tc)
    callbacks = []
    es, lp = tc["early_stopping"], tc["lr_plateau"]
    if es["patience"] is not None:
        callbacks.append(EarlyStopping(es["patience"], es["min_delta"]))
    if lp["patience"] is not None:
        callbacks.append(
            ReduceLROnPlateau(lp["factor"], lp["patience"], lp["min_lr"], lp["min_delta"])
        )
    callbacks.append(EpochLogger())
    return Trainer(
        model,
        optimizer,
        device,
        restore_best=es["restore_best"],
        callbacks=callbacks,
        max_grad_norm=tc.get("max_grad_norm"),  # (absent from specs while unset)
        **common,
    )


def experiment_tensors(
    ds,
    split: str,
    *,
    adversarial: bool = False,
    limit: int | None = None,
    normal_only: bool = False,
    target: str = "target",
    where: str = "",
) -> dict[str, torch.Tensor]:
    """The tensors an experiment trains on from one split of its prepared store.

    Autoencoders: ``input`` and ``target`` as float32 (N, C, ...) (one channel added when the
    store has none). Adversarial models: ``image`` (the clean targets) and, when labelled,
    ``label`` (N,) int64. ``normal_only`` keeps the samples not marked ``is_anomaly``;
    ``limit`` the first samples of the split; ``target`` the store variable trained towards
    (a detector's: ``has_signal``, as float32 (N, 1)).
    """
    index = split_index(ds, split, normal_only=normal_only, where=where)[:limit]
    if adversarial:
        variables = ("target", "label") if "label" in ds else ("target",)
    else:
        variables = ("input", target)
    out = {}
    for var in variables:
        values = ds[var].isel(sample=index).values
        tensor = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))
        # (N, C, H, W) as stored with a channel dim, else one channel: (N, 1, H, W) / (N, 1, T)
        name = "target" if var == target else var
        out[name] = tensor if "channel" in ds[var].dims else tensor.unsqueeze(1)
    if not adversarial:
        return out
    real = {"image": out["target"]}
    if "label" in out:  # (N, 1) float from the shared reader: back to class indices
        real["label"] = out["label"][:, 0].long()
    return real


def load_checkpoint(
    path: Path, fingerprint: str, on_discard: Callable[[dict[str, Any]], None] | None = None
) -> dict[str, Any] | None:
    """The checkpoint at ``path`` if it is readable and belongs to this training, else None.

    An unreadable or foreign checkpoint is moved aside (``*.stale``) so it never blocks; a
    readable foreign one's ``extra`` state (its MLflow run) is passed to ``on_discard``.
    """
    if not path.exists():
        return None
    state = None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if state["extra"].get("fingerprint") == fingerprint:
            return state
        reason = "it belongs to another configuration or data"
    except Exception as exc:  # truncated file, old format, ...
        reason = f"it cannot be read ({type(exc).__name__}: {exc})"
    stale = path.with_name(path.name + ".stale")
    path.replace(stale)
    log.warning("not resuming from %s: %s; moved to %s", path, reason, stale)
    if on_discard is not None and isinstance(state, dict) and "extra" in state:
        on_discard(state["extra"])
    return None
