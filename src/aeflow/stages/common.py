"""What the stages that judge a trained model share: the model on the run-time device, the
first keys of their records, and writing + tracking their outputs."""

from __future__ import annotations

import logging
from typing import Any

from aeflow.data.store import write_store
from aeflow.device import runtime_device
from aeflow.models.trained import load_trained
from aeflow.stages import PathLike
from aeflow.training.tracking import record_run

log = logging.getLogger(__name__)


def trained_on_device(exp_cfg: dict[str, Any], model_dir: PathLike, threads: int):
    """(model in eval mode, its description, device): the device the experiment's
    ``train.device`` asks for (a GPU when present under ``auto``), ``threads`` CPU threads."""
    device = runtime_device(exp_cfg["train"]["device"], threads)
    model, description = load_trained(model_dir, device)
    return model, description, device


def record_header(experiment: str, exp_cfg: dict[str, Any]) -> dict[str, Any]:
    """The first keys of every tracked record of an experiment."""
    header = {
        "experiment": experiment,
        "dataset": exp_cfg["dataset"],
        "model": exp_cfg["model"],
    }
    if exp_cfg.get("seed_sweep"):  # one of the seeds of `seeds`: the summary gathers them
        header |= {"seed_sweep": exp_cfg["seed_sweep"], "seed": exp_cfg["train"]["seed"]}
    return header


def publish(
    stage: str,
    experiment: str,
    mlflow_cfg: dict[str, Any],
    model_dir: PathLike,
    store: tuple[PathLike, Any, dict[str, Any]] | None,
    record: tuple[PathLike, dict[str, Any]],
    flat: dict[str, float],
    headline: str,
) -> None:
    """The end of every judging stage (evaluate, anomaly, generate): write its per-sample
    store (path, Dataset, groups; None: the stage wrote it block by block), then its JSON
    record (path, dict) tracked as a child run of the experiment's training run with the
    scalars ``flat``; log the headline."""
    if store is not None:
        path, ds, groups = store
        write_store(ds, path, groups=groups)
    record_path, values = record
    run_name = f"{stage} {experiment}"
    record_run(
        mlflow_cfg, run_name, stage, [(flat, None)], values, record_path, experiment, model_dir
    )
    log.info("%s: %s", experiment, headline)
