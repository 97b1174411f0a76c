"""Stage ``classifier``: the feature classifier of a labelled dataset, whose features and
predictions the generate stage scores generated images in."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aeflow.atomic import atomic_path, read_json, write_json
from aeflow.data.split import SPLITS, split_images, split_labels
from aeflow.data.store import open_store
from aeflow.evaluation.feature_net import FeatureClassifier, extract, fit_classifier
from aeflow.models.trained import load_weights
from aeflow.stages import PathLike

log = logging.getLogger(__name__)


def class_names(ds, where: PathLike) -> list[str]:
    """The class names of a labelled prepared store (a clear error if it has none)."""
    if "label" not in ds or "class_names" not in ds.attrs:
        raise ValueError(
            f"{where}: dataset {ds.attrs.get('dataset')!r} has no class labels ('label' and "
            "the attribute class_names)"
        )
    return [str(c) for c in ds.attrs["class_names"]]


def test_record(model, x_test, y_test, names, batch_size: int) -> dict[str, Any]:
    """Test accuracy, per class and overall, and the confusion matrix (true x predicted)."""
    _, probs = extract(model, x_test, batch_size, torch.device("cpu"))
    pred = probs.argmax(axis=1)
    confusion = np.zeros((len(names), len(names)), dtype=int)
    np.add.at(confusion, (y_test, pred), 1)
    per_class = confusion.diagonal() / np.maximum(confusion.sum(axis=1), 1)
    return {
        "test_accuracy": float((pred == y_test).mean()),
        "per_class_accuracy": dict(zip(names, per_class.round(4).tolist(), strict=True)),
        "confusion": confusion.tolist(),
    }


def train_classifier(
    dataset: str,
    clf_cfg: dict[str, Any],
    prepared: PathLike,
    out_dir: PathLike,
    threads: int = 1,
) -> dict[str, Any]:
    """Train the feature classifier of a labelled dataset; write ``model.pt`` and
    ``classifier.json`` (architecture, test accuracy per class, confusion, history)."""
    torch.set_num_threads(threads)
    ds = open_store(prepared)
    names = class_names(ds, prepared)
    x = {s: split_images(ds, s) for s in SPLITS}
    y = {s: split_labels(ds, s) for s in SPLITS}
    for split in SPLITS:
        if len(x[split]) == 0:
            raise ValueError(f"{prepared}: the {split!r} split of dataset {dataset!r} is empty")
    model, history = fit_classifier(
        x["train"],
        y["train"],
        x["val"],
        y["val"],
        n_classes=len(names),
        epochs=clf_cfg["epochs"],
        batch_size=clf_cfg["batch_size"],
        lr=clf_cfg["learning_rate"],
        seed=clf_cfg["seed"],
        device=torch.device("cpu"),
        augment=clf_cfg["augment"],
        widths=tuple(clf_cfg["widths"]),
        feature_dim=clf_cfg["feature_dim"],
    )
    record = {"dataset": dataset, "class_names": names, "architecture": dict(model.config)}
    record |= test_record(model, x["test"], y["test"], names, clf_cfg["batch_size"])
    record |= {"n_train": len(y["train"]), "n_test": len(y["test"]), "history": history}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / "model.pt") as tmp:
        torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, tmp)
    write_json(out_dir / "classifier.json", record)
    log.info("classifier of %s: test accuracy %.3f", dataset, record["test_accuracy"])
    return record


def load_classifier(clf_dir: PathLike):
    """The trained feature classifier (eval mode) and its record."""
    clf_dir = Path(clf_dir)
    record = read_json(clf_dir / "classifier.json")
    model = FeatureClassifier(**record["architecture"])
    load_weights(model, clf_dir / "model.pt")
    return model.eval(), record
