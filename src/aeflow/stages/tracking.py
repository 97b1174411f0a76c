"""Stage ``mlflow_init``: the tracking store and experiment, once, before any training job.

Torch-free, so the job starts in about a second plus MLflow's own import and migrations.
"""

from __future__ import annotations

import logging
from typing import Any

from aeflow.atomic import write_json
from aeflow.stages import PathLike
from aeflow.training.tracking import init_store

log = logging.getLogger(__name__)


def init_mlflow(mlflow_cfg: dict[str, Any], out: PathLike) -> None:
    """Create the MLflow store and experiment; ``out`` records them (with the id)."""
    experiment_id = init_store(
        mlflow_cfg["tracking_uri"], mlflow_cfg["experiment"], mlflow_cfg["artifact_location"]
    )
    write_json(out, {**mlflow_cfg, "experiment_id": experiment_id})
    log.info(
        "MLflow store ready: %s, experiment %s (%s)",
        mlflow_cfg["tracking_uri"],
        mlflow_cfg["experiment"],
        experiment_id,
    )
