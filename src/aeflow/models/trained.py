"""A trained model on disk: ``model.pt`` (weights only) beside ``model.json`` (its
description: architecture config, parameter counts, training facts)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from aeflow.atomic import atomic_path, read_json, write_json
from aeflow.models.registry import model_from_description


def save_trained(model: torch.nn.Module, description: dict[str, Any], out_dir) -> None:
    """Write ``model.pt`` (weights on the CPU) and ``model.json`` atomically into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / "model.pt") as tmp:
        torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, tmp)
    write_json(out_dir / "model.json", description)


def load_trained(model_dir: str | os.PathLike, device=None):
    """Rebuild a trained model from ``model.json`` + ``model.pt`` (weights only, no pickle);
    returns the model in eval mode and its description."""
    model_dir = Path(model_dir)
    description = read_json(model_dir / "model.json")
    model = model_from_description(description)
    load_weights(model, model_dir / "model.pt")
    if device is not None:
        model = model.to(device)
    return model.eval(), description


def load_weights(model: torch.nn.Module, path: Path) -> None:
    """Load the weights file ``path`` into ``model``; a truncated or damaged file, or one of
    another architecture, is a ValueError naming it."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except FileNotFoundError:
        raise
    except (OSError, RuntimeError, EOFError, KeyError, ValueError) as exc:
        raise ValueError(
            f"{path}: cannot load the weights (truncated or damaged, or written for another "
            f"architecture?): {type(exc).__name__}: {str(exc).split('. ')[0][:160]}; delete it "
            "and run the workflow again to retrain"
        ) from exc
