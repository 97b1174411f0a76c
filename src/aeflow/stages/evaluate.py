"""Stages ``evaluate`` and ``spectra``: test metrics of a trained model beside classical
baselines, by the suite of its data's modality (a signal detector's: the detection suite)."""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

from aeflow.data import kinds
from aeflow.data.store import StoreWriter, open_store, write_store
from aeflow.data.tasks import with_task_inputs
from aeflow.evaluation import suites
from aeflow.evaluation.latent import knn_downstream
from aeflow.evaluation.suites.common import split_blocks
from aeflow.models import catalog
from aeflow.models.inference import (
    batched,
    code_size,
    mean_loss_blocks,
    predict,
    with_channel,
)
from aeflow.stages import PathLike
from aeflow.stages.common import publish, record_header, trained_on_device

log = logging.getLogger(__name__)


def evaluate(
    experiment: str,
    exp_cfg: dict[str, Any],
    mlflow_cfg: dict[str, Any],
    model_dir: PathLike,
    prepared: PathLike,
    also_on: dict[str, PathLike],
    out_dir: PathLike,
    threads: int = 1,
) -> dict[str, Any]:
    """Test metrics of a trained model beside classical baselines (the modality's suite).

    Writes ``metrics.json`` and ``predictions.zarr`` (the main test set at the root, each
    ``also_on`` dataset as a group of that name).
    """
    model, description, device = trained_on_device(exp_cfg, model_dir, threads)
    ec, out_dir = exp_cfg["evaluate"], Path(out_dir)
    ds = with_task_inputs(open_store(prepared), exp_cfg)
    modality = kinds.traits(ds.attrs["kind"]).modality
    detector = catalog.traits(exp_cfg["model"]).detector
    amp = exp_cfg["train"]["amp"]
    if detector:  # a signal/noise classifier: its logit per trace
        suite, mode = suites.suite("detection")(ds, ec), "detection"

        def run_model(inputs):
            return batched(model, inputs[:, None], ec["batch_size"], device, amp=amp)

    else:
        code = code_size(model, ds["input"].isel(sample=[0]).values)
        suite = suites.build(modality, ds, ec, code, exp_cfg.get("corrupt"), exp_cfg.get("task"))
        mode = modality

        def run_model(inputs):
            return predict(model, inputs, ec["batch_size"], device, amp)

    metrics = record_header(experiment, exp_cfg) | {
        "modality": modality,
        "mode": mode,
        "n_parameters": description["n_parameters"],
        "units": suite.units,
    }
    blocks = ec["block_samples"]
    with StoreWriter(out_dir / "predictions.zarr") as store:
        block = suite.evaluate(run_model, ds, "test", store.append)
        metrics |= block | {"baseline_tuning": suite.tuning, "also_on": {}}
        metrics["test_objective"] = _test_objective(
            model, ds, "has_signal" if detector else "target", ec, device
        )
        for name, path in also_on.items():
            other = with_task_inputs(open_store(path), exp_cfg)
            write = functools.partial(store.append, group=name)
            metrics["also_on"][name] = suite.evaluate(run_model, other, "test", write)
        flat = suite.flat(block) | {"test_objective": metrics["test_objective"]}
        if hasattr(model, "encode") and "label" in ds:
            d = metrics["downstream"] = knn_downstream(model, ds, ec["batch_size"], device, blocks)
            flat |= {
                "knn_accuracy_codes": d["accuracy_codes"],
                "knn_accuracy_pixels": d["accuracy_pixels"],
            }
    for name, other_block in metrics["also_on"].items():
        flat |= {f"{name}.{k}": v for k, v in suite.flat(other_block).items()}
    record = (out_dir / "metrics.json", metrics)
    publish(
        "evaluate", experiment, mlflow_cfg, model_dir, None, record, flat, suite.headline(block)
    )
    return metrics


def _test_objective(model, ds, target: str, ec: dict[str, Any], device) -> float:
    """The training loss on the test inputs and ``target`` (mean per sample), read
    ``evaluate.block_samples`` at a time: what a Keras notebook reports as its val_loss when
    it validates on the test set (the VAE's 784 MSE + KL, a BCE ...)."""
    pairs = (
        (with_channel(part["input"].values), with_channel(part[target].values.astype("float32")))
        for part in split_blocks(ds, "test", ec["block_samples"])
    )
    return mean_loss_blocks(model, pairs, ec["batch_size"], device)


def spectra(predictions: PathLike, also_on: list[str], out: PathLike) -> None:
    """``spectra.zarr`` of a trace experiment: mean amplitude spectra of true, noisy and
    denoised test traces (main test set at the root, ``also_on`` datasets as groups)."""
    main = suites.trace_spectra(open_store(predictions))
    groups = {name: suites.trace_spectra(open_store(predictions, group=name)) for name in also_on}
    write_store(main, out, groups=groups)
    log.info("spectra of %s -> %s", predictions, out)
