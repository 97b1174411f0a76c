"""Stage ``anomaly``: a trained autoencoder's reconstruction errors as anomaly scores, with
thresholds and test metrics beside the baselines (the anomaly suite)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from aeflow.data import kinds
from aeflow.data.store import open_store
from aeflow.data.tasks import with_task_inputs
from aeflow.evaluation.suites import AnomalyDetection
from aeflow.models.inference import code_size, encode_all, predict
from aeflow.stages import PathLike
from aeflow.stages.common import publish, record_header, trained_on_device

log = logging.getLogger(__name__)


def anomaly(
    experiment: str,
    exp_cfg: dict[str, Any],
    mlflow_cfg: dict[str, Any],
    model_dir: PathLike,
    prepared: PathLike,
    out_dir: PathLike,
    threads: int = 1,
) -> dict[str, Any]:
    """Anomaly scores of validation and test samples, thresholds by each configured strategy
    (from validation scores), and test metrics of the autoencoder beside the baselines.

    Writes ``scores.zarr`` (per-sample scores of every method, labels, split; group
    ``examples`` with the most and least anomalous test samples and their reconstructions)
    and ``thresholds.json``.
    """
    cfg = exp_cfg["anomaly"]
    if not cfg:
        raise ValueError(f"experiments.{experiment}: no anomaly section")
    model, _, device = trained_on_device(exp_cfg, model_dir, threads)
    ds = with_task_inputs(open_store(prepared), exp_cfg)
    kind = kinds.traits(ds.attrs["kind"])
    suite = AnomalyDetection(cfg, kind, exp_cfg["train"]["seed"], where=str(prepared))

    def run_model(inputs):
        amp = exp_cfg["train"]["amp"]
        return predict(model, inputs, exp_cfg["evaluate"]["batch_size"], device, amp)

    def codes(inputs):
        return encode_all(model, inputs, exp_cfg["evaluate"]["batch_size"], device)

    code = code_size(model, ds["input"].isel(sample=[0]).values)
    block, scores, examples = suite.evaluate(
        run_model,
        ds,
        code,
        context=f"experiments.{experiment}.anomaly",
        encode=codes if hasattr(model, "encode") else None,
        block_samples=exp_cfg["evaluate"]["block_samples"],
    )
    summary = record_header(experiment, exp_cfg) | block
    scores.attrs.update({"experiment": experiment, "dataset": exp_cfg["dataset"]})
    out_dir = Path(out_dir)
    store = (out_dir / "scores.zarr", scores, {"examples": examples})
    record = (out_dir / "thresholds.json", summary)
    flat, headline = suite.flat(block), suite.headline(block)
    publish("anomaly", experiment, mlflow_cfg, model_dir, store, record, flat, headline)
    return summary
