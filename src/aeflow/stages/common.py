"""What the stages that apply a trained model share: the model on the run-time device."""

from __future__ import annotations

from typing import Any

import torch

from aeflow.device import configure_backends, select_device
from aeflow.models.trained import load_trained
from aeflow.stages import PathLike


def trained_on_device(exp_cfg: dict[str, Any], model_dir: PathLike, threads: int):
    """(model in eval mode, its description, device): the device the experiment's
    ``train.device`` asks for (a GPU when present under ``auto``), ``threads`` CPU threads."""
    torch.set_num_threads(threads)
    device = select_device(exp_cfg["train"]["device"])
    configure_backends(device)
    model, description = load_trained(model_dir, device)
    return model, description, device


def record_header(experiment: str, exp_cfg: dict[str, Any]) -> dict[str, Any]:
    """The first keys of every tracked record of an experiment."""
    return {
        "experiment": experiment,
        "dataset": exp_cfg["dataset"],
        "model": exp_cfg["model"],
    }
