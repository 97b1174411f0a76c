"""Stage ``compression``: test reconstruction error against code size, one briefly trained
bottleneck autoencoder per size beside PCA with as many components."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch

from aeflow.data.split import SPLITS
from aeflow.data.store import open_store
from aeflow.device import runtime_device
from aeflow.evaluation.baselines import pca_reconstructor
from aeflow.evaluation.metrics import per_sample_mse
from aeflow.models import build_model
from aeflow.models.inference import predict
from aeflow.stages import PathLike
from aeflow.training.loop import Trainer
from aeflow.training.recipe import experiment_tensors
from aeflow.training.tracking import record_run

log = logging.getLogger(__name__)


def code_size_row(cfg: dict[str, Any], k: int, data: dict[str, Any], device) -> dict[str, Any]:
    """Test MSE of the autoencoder with a ``k``-value code and of PCA with ``k`` components."""
    train_x = data["train"]["input"][:, 0].numpy()
    test_x = data["test"]["input"][:, 0].numpy()
    torch.manual_seed(cfg["seed"])
    params = cfg["model_params"] | {"image_size": train_x.shape[1], "code_size": k}
    model = build_model(cfg["model"], params)
    trainer = Trainer(
        model.to(device),
        torch.optim.Adam(model.parameters(), lr=cfg["learning_rate"]),
        device,
        batch_size=cfg["batch_size"],
        seed=cfg["seed"],
        progress=False,
    )
    trainer.fit(data["train"], data["val"], cfg["epochs"])
    ae = predict(trainer.model, test_x, 1024, device)
    pca = pca_reconstructor(train_x, k)(test_x)
    return {
        "code_size": int(k),
        "n_parameters": sum(p.numel() for p in model.parameters()),
        "autoencoder_mse": float(per_sample_mse(ae, test_x).mean()),
        "pca_mse": float(per_sample_mse(pca, test_x).mean()),
    }


def compression(
    cfg: dict[str, Any], mlflow_cfg: dict[str, Any], prepared: PathLike, out: PathLike
) -> dict[str, Any]:
    """The compression study of the ``compression:`` section; writes its JSON record."""
    device = runtime_device("auto", cfg["threads"])
    ds = open_store(prepared)
    data = {s: experiment_tensors(ds, s) for s in SPLITS}
    rows = []
    for k in cfg["code_sizes"]:
        rows.append(code_size_row(cfg, k, data, device))
        log.info("code size %d: %s", k, rows[-1])
    train_x = data["train"]["input"][:, 0]
    result = {
        "dataset": ds.attrs.get("dataset"),
        "model": cfg["model"],
        "model_params": cfg["model_params"],
        "epochs": cfg["epochs"],
        "n_train": len(train_x),
        "n_test": len(data["test"]["input"]),
        "pixels": int(np.prod(train_x.shape[1:])),
        "rows": rows,
    }
    steps = [
        ({"autoencoder_mse": r["autoencoder_mse"], "pca_mse": r["pca_mse"]}, r["code_size"])
        for r in rows
    ]
    record_run(mlflow_cfg, f"compression {result['dataset']}", "compression", steps, result, out)
    return result
