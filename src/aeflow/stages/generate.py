"""Stage ``generate``: sample a trained generator (GAN, or a VAE's prior) and judge the
samples against the held-out real images (the generative suite)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from aeflow.data import kinds
from aeflow.data.store import open_store
from aeflow.evaluation.suites import GenerativeSamples
from aeflow.stages import PathLike
from aeflow.stages.classifier import class_names, load_classifier
from aeflow.stages.common import publish, record_header, trained_on_device

log = logging.getLogger(__name__)


def generate(
    experiment: str,
    exp_cfg: dict[str, Any],
    mlflow_cfg: dict[str, Any],
    model_dir: PathLike,
    prepared: PathLike,
    classifier_dir: PathLike | None,
    out_dir: PathLike,
    threads: int = 1,
) -> dict[str, Any]:
    """Sample the trained generator and compare with the test set; write ``metrics.json``
    and ``samples.zarr`` (the generated images with requested and predicted classes; the
    baseline's first samples in group ``pca_gaussian``)."""
    model, description, device = trained_on_device(exp_cfg, model_dir, threads)
    ds = open_store(prepared)
    conditional = bool(getattr(model, "conditional", False))
    names = class_names(ds, prepared) if (classifier_dir or conditional) else []
    classifier = load_classifier(classifier_dir) if classifier_dir else None
    suite = GenerativeSamples(
        exp_cfg["generate"], kinds.traits(ds.attrs["kind"]), classifier, names
    )
    block, samples, baseline = suite.evaluate(model, ds, device)
    metrics = record_header(experiment, exp_cfg) | {
        "modality": "generative",
        "n_parameters": description["n_parameters"],
    }
    for key in ("n_parameters_generator", "n_parameters_critic"):
        if key in description:
            metrics[key] = description[key]
    metrics |= block
    samples.attrs["experiment"] = experiment
    out_dir = Path(out_dir)
    store = (out_dir / "samples.zarr", samples, {"pca_gaussian": baseline})
    record = (out_dir / "metrics.json", metrics)
    flat, headline = suite.flat(block), suite.headline(block)
    publish("generate", experiment, mlflow_cfg, model_dir, store, record, flat, headline)
    return metrics
