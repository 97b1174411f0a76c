"""Greedy layer-wise pretraining (Bengio et al. 2007, Hinton & Salakhutdinov 2006), by the
shared training loop: each encoder layer of a stacked model is trained as a shallow
autoencoder of the codes of the layers below (which stay frozen), from the pixels up.

A model offers it through ``layer_autoencoder(k)`` (a module whose ``loss(batch)`` trains
only layer ``k`` and its mirrored decoder on ``batch["input"]``), ``codes(inputs, depth,
device)``, ``config.pretrain_epochs`` and ``config.pretrain_learning_rate``.
"""

from __future__ import annotations

import logging

import torch

from aeflow.training.loop import Trainer

log = logging.getLogger(__name__)


def pretrain_layer(
    model, k: int, codes: torch.Tensor, device, batch_size: int, seed: int = 0
) -> list[float]:
    """Train layer ``k`` of ``model`` on ``codes`` (the fixed outputs of the layers below)
    for ``config.pretrain_epochs``; the other layers are untouched. Mean loss per epoch."""
    layer = model.layer_autoencoder(k)
    optimizer = torch.optim.Adam(layer.parameters(), lr=model.config.pretrain_learning_rate)
    trainer = Trainer(
        layer,
        optimizer,
        torch.device(device),
        batch_size=batch_size,
        seed=seed * 1009 + k,  # every layer its own shuffling
        amp=False,
        channels_last=False,
        restore_best=False,
        progress=False,
    )
    history = trainer.fit({"input": codes}, None, model.config.pretrain_epochs)
    return [record["train_loss"] for record in history]


def greedy_layerwise(model, inputs: torch.Tensor, device, batch_size: int, seed: int = 0):
    """Pretrain every layer of ``model`` on ``inputs`` (N, C, H, W), from the pixels up;
    returns per layer and epoch the mean loss (``layer``, ``epoch``, ``loss``)."""
    history: list[dict[str, float]] = []
    for k in range(len(model.enc) if model.config.pretrain_epochs else 0):
        codes = model.codes(inputs, k, device)
        for epoch, loss in enumerate(pretrain_layer(model, k, codes, device, batch_size, seed), 1):
            history.append({"layer": k, "epoch": epoch, "loss": loss})
            log.info("pretraining layer %d epoch %d: loss %.4g", k, epoch, loss)
    return history
