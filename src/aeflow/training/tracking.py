"""MLflow tracking through the explicit client API (no global fluent state).

The store is created once by its own workflow rule (:func:`init_store`) before any training
job: SQLite schema creation races when several processes start on an empty file. Client calls
are retried briefly, since a SQLite store is locked while another job writes.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from aeflow.atomic import read_json, write_json
from aeflow.training.callbacks import Callback

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_PARAM_LENGTH = 6000  # MLflow's limit on a param value


def _client(tracking_uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri)


def _retry(
    fn: Callable[[], T], what: str, attempts: int = 6, transient: tuple[str, ...] = ("locked",)
) -> T:
    """Call ``fn``, again after a growing pause while the store reports a transient error
    (by default SQLite's "database is locked"; an insert-if-absent that lost a race to another
    process also qualifies where the caller says so)."""
    delay = 0.5
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except Exception as exc:  # MlflowException wraps the SQLite error text
            text = str(exc).lower()
            if attempt == attempts or not any(word in text for word in transient):
                raise
            log.warning("%s: store busy (%s); retrying in %.1f s", what, exc, delay)
            time.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")


def sqlite_path(tracking_uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI, else None."""
    prefix = "sqlite:///"
    return Path(tracking_uri[len(prefix) :]) if tracking_uri.startswith(prefix) else None


def artifact_uri(location: str) -> str:
    """A URI for an artifact location given as a path (made absolute) or a URI."""
    if "://" in location:
        return location
    return Path(location).resolve().as_uri()


def default_artifact_location(tracking_uri: str) -> str | None:
    """Where a new experiment keeps artifacts when the config does not say: beside a SQLite
    store (``results/mlartifacts`` for the default ``results/mlflow.db``; a store shared by
    several projects keeps them beside itself, so cleaning one project deletes none of the
    others' artifacts); for a tracking server, the server's own default (it serves and stores
    them, so jobs on other machines can reach them)."""
    db = sqlite_path(tracking_uri)
    if db is not None:
        return str(db.parent / "mlartifacts")
    return None if tracking_uri.startswith(("http://", "https://")) else "results/mlartifacts"


@contextlib.contextmanager
def _store_lock(tracking_uri: str):
    """An exclusive lock on ``<db>.lock`` beside a SQLite store (no-op for other stores):
    MLflow's schema migration fails when two processes create one new database together."""
    db = sqlite_path(tracking_uri)
    if db is None:
        yield
        return
    db.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{db}.lock", "a") as handle:  # closing it releases the lock
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def init_store(tracking_uri: str, experiment: str, artifact_location: str | None) -> str:
    """Create the store (and its schema) and the experiment if missing; return its id.

    Several workflows may start on one new SQLite store at once: creation is serialized by a
    file lock. ``artifact_location`` None means :func:`default_artifact_location`. An
    existing experiment whose artifacts live elsewhere than a configured location is an
    error (MLflow would put every run's artifacts where the experiment's creator said).
    """
    explicit = artifact_location is not None
    if not explicit:
        artifact_location = default_artifact_location(tracking_uri)
    wanted = artifact_uri(artifact_location) if artifact_location else None
    with _store_lock(tracking_uri):
        client = _client(tracking_uri)
        found = _retry(lambda: client.get_experiment_by_name(experiment), "get experiment")
        if found is None:
            return _retry(
                lambda: client.create_experiment(experiment, artifact_location=wanted),
                "create experiment",
            )
    if explicit and wanted != found.artifact_location:
        raise ValueError(
            f"mlflow.artifact_location: experiment {experiment!r} in {tracking_uri} keeps its "
            f"artifacts in {found.artifact_location}, not in {wanted} as configured: set "
            "mlflow.artifact_location to that (or null), or use another mlflow.experiment"
        )
    return found.experiment_id


def flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested config -> {"train.lr_plateau.factor": "0.67", ...}: MLflow params are flat."""
    flat: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, prefix=f"{name}."))
        else:
            flat[name] = str(value)[:MAX_PARAM_LENGTH]
    return flat


class Run:
    """One MLflow run, created or reopened by id (a resumed training continues its run).

    ``reopen=False`` attaches to a finished run without touching its status, e.g. to add
    figures to a training run from the plotting jobs.
    """

    def __init__(
        self,
        tracking_uri: str,
        experiment: str,
        run_name: str,
        *,
        run_id: str | None = None,
        parent_run_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        reopen: bool = True,
    ) -> None:

        self.client = _client(tracking_uri)
        if run_id is not None:
            self.run_id = run_id
            if reopen:
                _retry(lambda: self.client.update_run(run_id, status="RUNNING"), "reopen run")
            return
        exp = _retry(lambda: self.client.get_experiment_by_name(experiment), "get experiment")
        if exp is None:
            raise RuntimeError(
                f"MLflow experiment {experiment!r} does not exist at {tracking_uri}; "
                "the mlflow_init rule (or `aeflow init-mlflow`) creates it"
            )
        all_tags = dict(tags or {})
        if parent_run_id:
            all_tags["mlflow.parentRunId"] = parent_run_id
        run = _retry(
            lambda: self.client.create_run(exp.experiment_id, run_name=run_name, tags=all_tags),
            "create run",
        )
        self.run_id = run.info.run_id

    def log_params(self, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        flat = flatten(params)
        items = [Param(k, v) for k, v in flat.items()]
        for i in range(0, len(items), 100):  # MLflow's batch limit on params
            chunk = items[i : i + 100]
            _retry(
                lambda chunk=chunk: self.client.log_batch(self.run_id, params=chunk), "log params"
            )

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [
            Metric(k, float(v), now, step or 0)
            for k, v in metrics.items()
            if v is not None and v == v  # skip NaN
        ]
        _retry(lambda: self.client.log_batch(self.run_id, metrics=items), "log metrics")

    def log_artifacts(self, paths: Iterable[str | os.PathLike], artifact_path: str | None = None):
        for path in paths:
            path = Path(path)
            log_fn = self.client.log_artifacts if path.is_dir() else self.client.log_artifact
            _retry(lambda f=log_fn, p=path: f(self.run_id, str(p), artifact_path), "log artifact")

    def log_table(self, columns: Mapping[str, list], artifact_file: str) -> None:
        """A table (column -> values) as an MLflow table artifact (the UI shows it)."""
        data = {k: list(v) for k, v in columns.items()}
        _retry(lambda: self.client.log_table(self.run_id, data, artifact_file), "log table")

    def set_tags(self, tags: Mapping[str, str]) -> None:
        for key, value in tags.items():
            _retry(lambda k=key, v=value: self.client.set_tag(self.run_id, k, v), "set tag")

    def finish(self, status: str = "FINISHED") -> None:
        _retry(lambda: self.client.set_terminated(self.run_id, status=status), "finish run")

    def finish_quietly(self, status: str) -> None:
        """Mark the run ended while another error is on its way: never raise from here."""
        try:
            self.finish(status)
        except Exception as exc:
            log.warning("could not mark MLflow run %s %s: %s", self.run_id, status, exc)


class MlflowCallback(Callback):
    """Log train/val loss and LR of each epoch to a run."""

    name = "mlflow"

    def __init__(self, run: Run) -> None:
        self.run = run

    def on_epoch_end(self, trainer, record: dict[str, float]) -> None:
        metrics = {k: v for k, v in record.items() if k != "epoch"}
        self.run.log_metrics(metrics, step=int(record["epoch"]))


def record_run(
    mlflow_cfg: Mapping[str, Any],
    run_name: str,
    stage: str,
    metrics: list[tuple[Mapping[str, float], int | None]],
    record: dict[str, Any],
    out: str | os.PathLike,
    experiment: str | None = None,
    model_dir: str | os.PathLike | None = None,
    tables: Mapping[str, Mapping[str, list]] | None = None,
) -> None:
    """The tracked JSON record of a stage (evaluate, anomaly, generate, compression,
    label_efficiency).

    Log ``metrics`` (value dicts with their step) and ``tables`` (artifact file -> columns)
    to a new MLflow run - a child of the training run in ``model_dir`` if given - then write
    ``record`` with the run id to the JSON file ``out`` (atomically) and attach it. A
    failure marks the run FAILED.
    """
    tags = {"aeflow.stage": stage} | ({"aeflow.experiment": experiment} if experiment else {})
    parent = read_json(Path(model_dir) / "run.json")["run_id"] if model_dir else None
    run = Run(
        mlflow_cfg["tracking_uri"],
        mlflow_cfg["experiment"],
        run_name=run_name,
        parent_run_id=parent,
        tags=tags,
    )
    try:
        for values, step in metrics:
            run.log_metrics(values, step=step)
        for artifact_file, columns in (tables or {}).items():
            run.log_table(columns, artifact_file)
        record["mlflow_run_id"] = run.run_id
        write_json(out, record)
        run.log_artifacts([out])
    except BaseException:
        run.finish_quietly("FAILED")
        raise
    run.finish()


def attach_to_training_run(
    paths: Iterable[str | os.PathLike], model_dir: str | os.PathLike, artifact_path: str
) -> None:
    """Attach files (figures) to the finished training run of the model in ``model_dir``."""
    info = read_json(Path(model_dir) / "run.json")
    run = Run(info["tracking_uri"], info["experiment"], "", run_id=info["run_id"], reopen=False)
    run.log_artifacts(paths, artifact_path)


# ---- models and datasets as MLflow knows them --------------------------------------------
def log_dataset(run: Run, name: str, digest: str, source: str, context: str = "training") -> None:
    """The prepared store as an input of the run (the UI's Datasets panel): its name, the
    first characters of its content digest, and its path."""
    from mlflow.entities import Dataset, DatasetInput, InputTag

    dataset = Dataset(name=name, digest=digest[:32], source_type="local", source=str(source))
    inputs = [DatasetInput(dataset, tags=[InputTag("mlflow.data.context", context)])]
    # Runs started together insert the same dataset row: the loser of that race sees a
    # UNIQUE-constraint error, and its retry finds the row and only links it.
    _retry(
        lambda: run.client.log_inputs(run.run_id, datasets=inputs),
        "log dataset",
        transient=("locked", "unique constraint failed"),
    )


def registered_name(mlflow_experiment: str, experiment: str) -> str:
    """The registry name of an experiment's models: ``<MLflow experiment>.<experiment>``
    (one store may hold several MLflow experiments with equally named experiments)."""
    return f"{mlflow_experiment}.{experiment}"


def log_model(
    run: Run,
    tracking_uri: str,
    model,
    example,
    name: str,
    val_loss: float | None,
    logged_name: str = "pytorch-model",
) -> int:
    """Log ``model`` (an ``nn.Module`` on the CPU, eval mode) to the run as an MLflow PyTorch
    model - signature and input example from ``example`` (a batch of inputs, or None), so
    ``mlflow.pytorch.load_model("models:/<name>@best")`` works - and register it as a new
    version of ``name``. In the run the model is ``logged_name``: a name with a hyphen, which
    no experiment or artifact folder of ours has (a logged model shadows the run's artifact
    folder of its name). ``models:/<name>/latest`` is the newest version (MLflow reserves the
    alias "latest"); the alias ``best`` moves to this version when its ``val_loss`` is the
    lowest so far (a model without one, e.g. a GAN whose critic losses do not compare between
    runs, takes ``best`` as the newest). Returns the version number."""
    import mlflow
    import mlflow.pytorch
    import torch
    from mlflow.models import infer_signature

    signature = input_example = None
    if example is not None:
        with torch.no_grad():
            out = model(example)
        out = out[0] if isinstance(out, tuple) else out
        input_example = example.numpy()
        signature = infer_signature(input_example, out.float().numpy())
    mlflow.set_tracking_uri(tracking_uri)
    with mlflow.start_run(run_id=run.run_id):
        info = _retry(
            lambda: mlflow.pytorch.log_model(
                model,
                name=logged_name,
                signature=signature,
                input_example=input_example,
                serialization_format="pickle",  # any module; torch.export would trace it
                # stated, not inferred: inference imports and scans every package (seconds)
                pip_requirements=[f"torch=={torch.__version__.split('+')[0]}", "aeflow"],
            ),
            "log model",
        )
    version = _retry(
        lambda: run.client.create_model_version(
            name=_registered(run.client, name),
            source=info.model_uri,
            run_id=run.run_id,
            model_id=info.model_id,
            tags={} if val_loss is None else {"val_loss": repr(float(val_loss))},
        ),
        "register model",
    ).version
    if _retry(lambda: _is_best(run.client, name, val_loss), "read alias best"):
        _retry(lambda: run.client.set_registered_model_alias(name, "best", version), "set alias")
    return int(version)


def _registered(client, name: str) -> str:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException:
        with contextlib.suppress(MlflowException):  # another job created it meanwhile
            client.create_registered_model(
                name, description="an aeflow experiment; alias best: the lowest validation loss"
            )
    return name


def _is_best(client, name: str, val_loss: float | None) -> bool:
    from mlflow.exceptions import MlflowException

    if val_loss is None:
        return True
    try:
        best = client.get_model_version_by_alias(name, "best")
    except MlflowException as exc:
        if "locked" in str(exc).lower():  # busy, not absent: for _retry
            raise
        return True  # no version has the alias yet
    previous = best.tags.get("val_loss")
    return previous is None or float(val_loss) <= float(previous)
