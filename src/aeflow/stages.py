"""The workflow's stages. Each reads only its declared inputs and writes only its outputs.

Rules (workflow/scripts/*.py) and the ``aeflow`` CLI both call these functions; they take
plain config dicts (already validated) and paths.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

import aeflow
from aeflow.atomic import atomic_path, read_json, write_json
from aeflow.data import kinds, sources
from aeflow.data.split import SPLITS, assign_split
from aeflow.data.tasks import with_task_inputs

log = logging.getLogger(__name__)

PathLike = str | os.PathLike


# ---- data ---------------------------------------------------------------------------------
def fetch_raw(name: str, dataset_cfg: dict[str, Any], out: PathLike) -> str:
    """Produce ``data/raw/<name>.*`` by simulation, download or copy; returns its sha256.

    The file is checked against the kind's raw format before it is renamed into place, so a
    wrong download (say an HTML error page) never sits in ``data/raw`` looking whole.
    """
    source = dataset_cfg["source"]
    kind = kinds.get(dataset_cfg["kind"])
    with atomic_path(out) as tmp:
        own_fetch = getattr(kind, "fetch", None)  # sources of the kind's own (IDX sets ...)
        digest = own_fetch(dataset_cfg, tmp) if own_fetch is not None else None
        converted = digest is not None
        if converted:
            log.info("fetched %s from %s", name, source)
        elif source == "simulate":
            t0 = time.perf_counter()
            arrays = kind.simulate(dataset_cfg)
            digest = sources.write_npz(tmp, arrays)
            log.info(
                "simulated %s: %d samples in %.1f s",
                name,
                dataset_cfg["n_samples"],
                time.perf_counter() - t0,
            )
        elif source == "download":
            dl = dataset_cfg["download"]
            digest = sources.download(
                tmp,
                url=dl["url"],
                gdrive_id=dl["gdrive_id"],
                sha256=dataset_cfg["sha256"],
                timeout_s=dl["timeout_s"],
            )
        else:
            digest = sources.copy_local(source, tmp, dataset_cfg["sha256"])
        generated = converted or source in ("simulate", "download")
        what = f"{out} ({source})" if generated else source
        kind.check_raw(kinds.read(kind, tmp, name=what), what)
    log.info("raw %s -> %s (sha256 %s)", name, out, digest)
    return digest


def prepare(name: str, dataset_cfg: dict[str, Any], raw_path: PathLike, out: PathLike) -> None:
    """Preprocess raw data into ``results/prepared/<name>.zarr`` with provenance attrs."""
    from aeflow.data.store import write_store

    kind = kinds.get(dataset_cfg["kind"])
    # checked once, first: errors name file and key before anything else
    checked = kind.check_raw(kinds.read(kind, raw_path), str(raw_path))
    sp = dataset_cfg["split"]
    try:
        if hasattr(kind, "select_split"):  # the data's own split (official test set), subsets
            checked, split = kind.select_split(checked, dataset_cfg)
        else:
            split = assign_split(
                len(checked[0]),
                n_train=sp["n_train"],
                test_fraction=sp["test_fraction"],
                val_fraction=sp["val_fraction"],
                seed=sp["seed"],
            )
    except ValueError as exc:
        raise sources.RawDataError(f"{raw_path}: datasets.{name}.{exc}") from None
    ds = kind.prepare(checked, dataset_cfg, str(raw_path), split)
    ds = ds.assign_coords(split=("sample", split.astype(object)))
    ds["split"].attrs = {"long_name": "train / val / test assignment"}
    ds.attrs.update(
        {
            "title": f"aeflow prepared dataset {name!r} (kind {dataset_cfg['kind']})",
            "dataset": name,
            "kind": dataset_cfg["kind"],
            "source": dataset_cfg["source"],
            "raw_file": str(raw_path),
            "raw_sha256": sources.sha256_file(raw_path),
            "aeflow_version": aeflow.__version__,
            "config": json.dumps(dataset_cfg, sort_keys=True),
        }
    )
    for key, value in dataset_cfg["preprocess"].items():
        ds.attrs[f"preprocess_{key}"] = value
    for key, value in sp.items():
        ds.attrs[f"split_{key}"] = "none" if value is None else value
    counts = {s: int((split == s).sum()) for s in SPLITS}
    ds.attrs.update({f"n_{s}": c for s, c in counts.items()})
    write_store(ds, out)
    log.info("prepared %s: %s -> %s", name, counts, out)


# ---- tracking -----------------------------------------------------------------------------
def init_mlflow(mlflow_cfg: dict[str, Any], out: PathLike) -> None:
    from aeflow.training.tracking import init_store

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


def _tracked_record(
    mlflow_cfg: dict[str, Any],
    run_name: str,
    stage: str,
    metrics: list[tuple[dict[str, float], int | None]],
    record: dict[str, Any],
    out: PathLike,
    experiment: str | None = None,
    model_dir: PathLike | None = None,
) -> None:
    """Log ``metrics`` (value dicts with their step) to a new MLflow run - a child of the
    training run in ``model_dir`` if given - then write ``record`` with the run id to the
    JSON file ``out`` and attach it. A failure marks the run FAILED."""
    from aeflow.training.tracking import Run

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
        record["mlflow_run_id"] = run.run_id
        write_json(out, record)
        run.log_artifacts([out])
    except BaseException:
        run.finish_quietly("FAILED")
        raise
    run.finish()


# ---- training -----------------------------------------------------------------------------
def _split_samples(ds, split: str, normal_only: bool = False, where: PathLike = "") -> np.ndarray:
    """Indices of a split's samples; with ``normal_only`` those not marked ``is_anomaly``."""
    mask = np.asarray(ds["split"].values == split)
    if normal_only:
        if "is_anomaly" not in ds:
            raise ValueError(
                f"{where}: dataset {ds.attrs.get('dataset')!r} has no 'is_anomaly' labels to "
                "train on normal samples only (anomaly.train_on: normal)"
            )
        mask &= ~ds["is_anomaly"].values.astype(bool)
    return np.flatnonzero(mask)


def _tensor_split(
    ds,
    split: str,
    variables=("input", "target"),
    limit: int | None = None,
    normal_only: bool = False,
):
    import torch

    index = _split_samples(ds, split, normal_only)[:limit]
    out = {}
    for var in variables:
        values = ds[var].isel(sample=index).values
        tensor = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))
        # (N, C, H, W) as stored with a channel dim, else one channel: (N, 1, H, W) / (N, 1, T)
        out[var] = tensor if "channel" in ds[var].dims else tensor.unsqueeze(1)
    return out


def _data_shape(ds) -> dict[str, int]:
    """What a model's config can take from the data: image size, channels, classes."""
    shape = {"in_channels": int(ds.sizes.get("channel", 1))}
    if "y" in ds["input"].dims:
        shape["image_size"] = int(ds.sizes["y"])
    if "label" in ds and "class_names" in ds.attrs:
        shape["n_classes"] = len(ds.attrs["class_names"])
    return shape


def _adversarial_data(ds, split: str, limit: int | None = None) -> dict[str, Any]:
    """Real images (the targets: the clean data) and, when labelled, their classes."""

    variables = ("target", "label") if "label" in ds else ("target",)
    data = _tensor_split(ds, split, variables, limit)
    out = {"image": data["target"]}
    if "label" in data:  # (N, 1) float from the shared reader: back to class indices
        out["label"] = data["label"][:, 0].long()
    return out


def _fingerprint(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


# Keys of train: that do not change the trained model, so they neither rerun training nor
# invalidate a checkpoint.
NON_MODEL_TRAIN_KEYS = ("threads",)


def training_spec(exp_cfg: dict[str, Any]) -> dict[str, Any]:
    """The part of an experiment that determines its trained model (the train rule's params).

    Evaluation and plotting options are left out, so changing them does not retrain.
    """
    train_cfg = {k: v for k, v in exp_cfg["train"].items() if k not in NON_MODEL_TRAIN_KEYS}
    spec = {key: exp_cfg[key] for key in ("dataset", "model", "model_params", "task")} | {
        "train": train_cfg
    }
    if exp_cfg.get("corrupt"):
        spec["corrupt"] = exp_cfg["corrupt"]
    anomaly = exp_cfg.get("anomaly") or spec.get("anomaly")
    if anomaly and anomaly["train_on"] == "normal":
        spec["anomaly"] = {"train_on": "normal"}  # the anomalies are kept out of training
    return spec


def _trainer(model, tc: dict[str, Any], device):
    """The loop for ``model``: the adversarial one for GANs (their optimizers and n_critic
    come with the model), else minimizing its loss with Adam and the train: callbacks."""
    import torch

    from aeflow.training.adversarial import AdversarialTrainer
    from aeflow.training.callbacks import EarlyStopping, EpochLogger, ReduceLROnPlateau
    from aeflow.training.loop import Trainer

    common = {
        "batch_size": tc["batch_size"],
        "seed": tc["seed"],
        "amp": tc["amp"],
        "channels_last": tc["channels_last"],
    }
    if model.adversarial:
        return AdversarialTrainer(model, device, callbacks=[EpochLogger()], **common)
    optimizer = torch.optim.Adam(
        model.parameters(), lr=tc["learning_rate"], weight_decay=tc["weight_decay"]
    )
    callbacks = []
    es, lp = tc["early_stopping"], tc["lr_plateau"]
    if es["patience"] is not None:
        callbacks.append(EarlyStopping(es["patience"], es["min_delta"]))
    if lp["patience"] is not None:
        callbacks.append(
            ReduceLROnPlateau(lp["factor"], lp["patience"], lp["min_lr"], lp["min_delta"])
        )
    callbacks.append(EpochLogger())
    return Trainer(
        model,
        optimizer,
        device,
        restore_best=es["restore_best"],
        callbacks=callbacks,
        **common,
    )


def _load_checkpoint(path: Path, fingerprint: str) -> dict[str, Any] | None:
    """The checkpoint at ``path`` if it is readable and belongs to this training, else None.

    An unreadable or foreign checkpoint is moved aside (``*.stale``) so it never blocks.
    """
    import torch

    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if state["extra"].get("fingerprint") == fingerprint:
            return state
        reason = "it belongs to another configuration or data"
    except Exception as exc:  # truncated file, old format, ...
        reason = f"it cannot be read ({type(exc).__name__}: {exc})"
    stale = path.with_name(path.name + ".stale")
    path.replace(stale)
    log.warning("not resuming from %s: %s; moved to %s", path, reason, stale)
    return None


def _open_run(mlflow_cfg, experiment: str, run_id: str | None):
    """The training run: the checkpoint's (a resumed job continues it) or a new one."""
    from aeflow.training.tracking import Run

    tags = {"aeflow.experiment": experiment, "aeflow.stage": "train"}
    uri, name = mlflow_cfg["tracking_uri"], mlflow_cfg["experiment"]
    if run_id is not None:
        try:
            return Run(uri, name, f"train {experiment}", run_id=run_id, tags=tags), True
        except Exception as exc:
            log.warning(
                "MLflow run %s of the checkpoint is gone (%s); starting a new run", run_id, exc
            )
    return Run(uri, name, f"train {experiment}", tags=tags), False


def train(
    experiment: str,
    spec: dict[str, Any],
    mlflow_cfg: dict[str, Any],
    prepared: PathLike,
    out_dir: PathLike,
    checkpoint_dir: PathLike,
    threads: int = 1,
) -> dict[str, Any]:
    """Train one experiment; write model.pt, model.json, history.csv and run.json to out_dir.

    ``spec`` is :func:`training_spec` of the experiment (a full experiment config works too).
    A checkpoint is saved after every epoch in ``checkpoint_dir``; if one from the same
    configuration, data and tracking store exists, training resumes after its last epoch.
    """
    import pandas as pd
    import torch

    from aeflow.data.store import open_store
    from aeflow.models import build_model
    from aeflow.training.callbacks import Checkpoint
    from aeflow.training.device import configure_backends, describe_device, select_device
    from aeflow.training.tracking import MlflowCallback

    spec = training_spec(spec)
    tc = spec["train"]
    torch.set_num_threads(threads)
    device = select_device(tc["device"])
    configure_backends(device)
    ds = with_task_inputs(open_store(prepared), spec)
    for split in SPLITS:
        if int((ds["split"].values == split).sum()) == 0:
            raise ValueError(
                f"{prepared}: the {split!r} split of dataset {spec['dataset']!r} is empty "
                f"(see datasets.{spec['dataset']}.split)"
            )
    torch.manual_seed(tc["seed"])
    shape = _data_shape(ds)
    model = build_model(spec["model"], spec["model_params"], **shape)
    for key, value in spec["model_params"].items():
        if key in shape and value != shape[key]:
            raise ValueError(
                f"{prepared}: experiments.{experiment}.model_params.{key} is {value}, but "
                f"dataset {spec['dataset']!r} has {key} {shape[key]} (leave it unset to take "
                "the data's)"
            )
    if model.adversarial:
        train_data = _adversarial_data(ds, "train", tc["max_train_samples"])
        val_data = _adversarial_data(ds, "val")
        if model.conditional and "label" not in train_data:
            raise ValueError(
                f"{prepared}: {spec['model']} is class-conditional, but dataset "
                f"{spec['dataset']!r} has no 'label' variable"
            )
    else:
        normal_only = "anomaly" in spec
        if normal_only:
            _split_samples(ds, "train", normal_only, prepared)  # a clear error without labels
        train_data = _tensor_split(
            ds, "train", limit=tc["max_train_samples"], normal_only=normal_only
        )
        val_data = _tensor_split(ds, "val", normal_only=normal_only)
    # Move before building the optimizer, so its state lives beside the parameters.
    model = model.to(device)
    if tc["channels_last"]:
        model = model.to(memory_format=torch.channels_last)
    fingerprint = _fingerprint(
        spec,
        model.describe(),
        ds.attrs.get("raw_sha256"),
        ds.attrs.get("config"),
        aeflow.__version__,
        mlflow_cfg["tracking_uri"],
        mlflow_cfg["experiment"],
    )
    trainer = _trainer(model, tc, device)

    ckpt_path = Path(checkpoint_dir) / "last.pt"
    state = _load_checkpoint(ckpt_path, fingerprint)
    if state is not None:
        trainer.load_state_dict(state)
        log.info("resuming %s from %s (epoch %d)", experiment, ckpt_path, trainer.epoch)
    run, reopened = _open_run(
        mlflow_cfg, experiment, state["extra"].get("mlflow_run_id") if state else None
    )
    try:
        trainer.extra_state.update({"fingerprint": fingerprint, "mlflow_run_id": run.run_id})
        device_name = describe_device(device)
        log.info(
            "training %s (%s, %d parameters) on %s; %d train / %d val samples",
            experiment,
            spec["model"],
            sum(p.numel() for p in model.parameters()),
            device_name,
            len(next(iter(train_data.values()))),
            len(next(iter(val_data.values()))),
        )
        if not reopened:
            data_keys = ("dataset", "source", "raw_sha256", "n_train", "n_val", "n_test")
            run.log_params(
                {"experiment": experiment, **spec, "data": {k: ds.attrs.get(k) for k in data_keys}}
            )
        run.set_tags({"aeflow.device": device_name})
        pretraining: list[dict[str, float]] = []
        if state is None and hasattr(model, "init_from_data"):  # GANs: the data's mean colour
            model.init_from_data(train_data["image"])
        if state is None and hasattr(model, "pretrain"):  # greedy layer-wise (stacked_ae)
            pretraining = model.pretrain(
                train_data["input"], device, tc["batch_size"], seed=tc["seed"]
            )
            for i, rec in enumerate(pretraining):
                run.log_metrics({f"pretrain_loss_layer{int(rec['layer'])}": rec["loss"]}, step=i)
        trainer.callbacks += [MlflowCallback(run), Checkpoint(ckpt_path)]

        t0 = time.perf_counter()
        history = trainer.fit(train_data, val_data, tc["epochs"])
        seconds = time.perf_counter() - t0

        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        description = trainer.model.describe()
        description.update(
            {
                "experiment": experiment,
                "dataset": spec["dataset"],
                "task": spec["task"],
                "best_epoch": trainer.best_epoch,
                "best_val_loss": trainer.best_val,
                "epochs_run": trainer.epoch,
                "device": device_name,
                "fingerprint": fingerprint,
                "aeflow_version": aeflow.__version__,
            }
        )
        if pretraining:
            description["pretraining"] = pretraining
        with atomic_path(out_dir / "model.pt") as tmp:
            torch.save({k: v.detach().cpu() for k, v in trainer.model.state_dict().items()}, tmp)
        write_json(out_dir / "model.json", description)
        with atomic_path(out_dir / "history.csv") as tmp:
            pd.DataFrame(history).to_csv(tmp, index=False)
        run.log_metrics(
            {
                "best_val_loss": trainer.best_val,
                "best_epoch": trainer.best_epoch,
                "train_seconds": seconds,
            }
        )
        run.log_artifacts(
            [out_dir / "model.pt", out_dir / "model.json", out_dir / "history.csv"], "model"
        )
    except BaseException as exc:
        run.finish_quietly("KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
        raise
    run.finish("FINISHED")
    write_json(
        out_dir / "run.json",
        {
            "run_id": run.run_id,
            "tracking_uri": mlflow_cfg["tracking_uri"],
            "experiment": mlflow_cfg["experiment"],
        },
    )
    ckpt_path.unlink(missing_ok=True)
    return description


def load_trained(model_dir: PathLike, device=None):
    """Rebuild a trained model from ``model.json`` + ``model.pt`` (weights only, no pickle)."""
    import torch

    from aeflow.models import model_from_description

    model_dir = Path(model_dir)
    description = read_json(model_dir / "model.json")
    model = model_from_description(description)
    state = torch.load(model_dir / "model.pt", map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    if device is not None:
        model = model.to(device)
    return model.eval(), description


def predict(model, inputs: np.ndarray, batch_size: int, device, amp: bool = True) -> np.ndarray:
    """Apply ``model`` to single-channel (N, H, W) / (N, T) inputs in batches; same shape out."""
    import torch

    from aeflow.training.device import autocast

    x_all = torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float32)).unsqueeze(1)
    images = x_all.dim() == 4
    model = model.to(device).eval()
    if images:
        model = model.to(memory_format=torch.channels_last)
    outs = []
    with torch.no_grad():
        for start in range(0, len(x_all), batch_size):
            x = x_all[start : start + batch_size].to(device)
            if images:
                x = x.contiguous(memory_format=torch.channels_last)
            with autocast(device, amp):
                y = model(x)
            outs.append(y.float().cpu())
    out = torch.cat(outs).numpy() if outs else np.empty_like(x_all.numpy())
    return out[:, 0]


# ---- evaluation ---------------------------------------------------------------------------
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
    """Test metrics of a trained model beside classical baselines (the dataset kind's suite).

    Writes ``metrics.json`` and ``predictions.zarr`` (the main test set at the root, each
    ``also_on`` dataset as a group of that name).
    """
    import torch

    from aeflow.data.store import open_store, write_store
    from aeflow.evaluation import suites
    from aeflow.training.device import configure_backends, select_device

    torch.set_num_threads(threads)
    ec = exp_cfg["evaluate"]
    device = select_device(exp_cfg["train"]["device"])
    configure_backends(device)
    amp = exp_cfg["train"]["amp"]
    model, description = load_trained(model_dir, device)
    ds = with_task_inputs(open_store(prepared), exp_cfg)
    modality = kinds.MODALITY[ds.attrs["kind"]]
    code_size = _code_size(model, ds["input"].isel(sample=[0]).values)
    suite = suites.build(modality, ds, ec, code_size, exp_cfg.get("corrupt"))

    def run_model(inputs: np.ndarray) -> np.ndarray:
        return predict(model, inputs, ec["batch_size"], device, amp)

    metrics: dict[str, Any] = {
        "experiment": experiment,
        "dataset": exp_cfg["dataset"],
        "model": exp_cfg["model"],
        "modality": modality,
        "n_parameters": description["n_parameters"],
        "units": suite.units,
    }
    block, pred = suite.evaluate(run_model, ds, "test")
    metrics.update(block)
    metrics["baseline_tuning"] = suite.tuning
    groups: dict[str, Any] = {}
    metrics["also_on"] = {}
    for name, path in also_on.items():
        other = with_task_inputs(open_store(path), exp_cfg)
        metrics["also_on"][name], groups[name] = suite.evaluate(run_model, other, "test")
    out_dir = Path(out_dir)
    write_store(pred, out_dir / "predictions.zarr", groups=groups)

    if hasattr(model, "encode") and "label" in ds:
        metrics["downstream"] = _downstream(model, ds, ec["batch_size"], device)
    flat = suite.flat(block)
    if "downstream" in metrics:
        d = metrics["downstream"]
        flat |= {
            "knn_accuracy_codes": d["accuracy_codes"],
            "knn_accuracy_pixels": d["accuracy_pixels"],
        }
    for name, other_block in metrics["also_on"].items():
        flat |= {f"{name}.{k}": v for k, v in suite.flat(other_block).items()}
    _tracked_record(
        mlflow_cfg,
        f"evaluate {experiment}",
        "evaluate",
        [(flat, None)],
        metrics,
        out_dir / "metrics.json",
        experiment,
        model_dir,
    )
    log.info("%s: %s", experiment, suite.headline(block))
    return metrics


def _downstream(model, ds, batch_size: int, device, k: int = 5, max_train: int = 10000):
    """k-NN classification of the test labels from the codes vs from the raw pixels, both
    fitted on (up to ``max_train``) training samples: what the code keeps of the class."""
    from aeflow.evaluation.latent import encode_all, knn_accuracy

    train = _split_samples(ds, "train")[:max_train]
    test = _split_samples(ds, "test")
    x_train, x_test = ds["input"].isel(sample=train).values, ds["input"].isel(sample=test).values
    y_train, y_test = ds["label"].values[train], ds["label"].values[test]
    c_train = encode_all(model, x_train, batch_size, device)
    c_test = encode_all(model, x_test, batch_size, device)
    return {
        "method": f"{k}-nearest neighbours (Euclidean), fitted on {len(train)} training samples",
        "code_size": int(c_train.shape[1]),
        "accuracy_codes": knn_accuracy(c_train, y_train, c_test, y_test, k),
        "accuracy_pixels": knn_accuracy(x_train, y_train, x_test, y_test, k),
    }


def spectra(predictions: PathLike, also_on: list[str], out: PathLike) -> None:
    """``spectra.zarr`` of a trace experiment: mean amplitude spectra of true, noisy and
    denoised test traces (main test set at the root, ``also_on`` datasets as groups)."""
    from aeflow.data.store import open_store, write_store
    from aeflow.evaluation.suites import trace_spectra

    main = trace_spectra(open_store(predictions))
    groups = {name: trace_spectra(open_store(predictions, group=name)) for name in also_on}
    write_store(main, out, groups=groups)
    log.info("spectra of %s -> %s", predictions, out)


# ---- compression study ------------------------------------------------------------------------
def compression(
    cfg: dict[str, Any], mlflow_cfg: dict[str, Any], prepared: PathLike, out: PathLike
) -> dict[str, Any]:
    """Test reconstruction MSE against code size: one bottleneck autoencoder per size
    (trained briefly by the common loop) beside PCA with as many components."""
    import torch

    from aeflow.data.store import open_store
    from aeflow.evaluation.baselines import pca_reconstructor
    from aeflow.evaluation.metrics import per_sample_mse
    from aeflow.models import build_model
    from aeflow.training.device import configure_backends, select_device
    from aeflow.training.loop import Trainer

    torch.set_num_threads(cfg["threads"])
    device = select_device("auto")
    configure_backends(device)
    ds = open_store(prepared)
    data = {s: _tensor_split(ds, s) for s in SPLITS}
    train_x = data["train"]["input"][:, 0].numpy()
    test_x = data["test"]["input"][:, 0].numpy()
    size = train_x.shape[1]
    rows = []
    for k in cfg["code_sizes"]:
        torch.manual_seed(cfg["seed"])
        model = build_model(cfg["model"], {"image_size": size, "code_size": k}).to(device)
        trainer = Trainer(
            model,
            torch.optim.Adam(model.parameters(), lr=cfg["learning_rate"]),
            device,
            batch_size=cfg["batch_size"],
            seed=cfg["seed"],
            progress=False,
        )
        trainer.fit(data["train"], data["val"], cfg["epochs"])
        ae = predict(trainer.model, test_x, 1024, device)
        pca = pca_reconstructor(train_x, k)(test_x)
        rows.append(
            {
                "code_size": int(k),
                "autoencoder_mse": float(per_sample_mse(ae, test_x).mean()),
                "pca_mse": float(per_sample_mse(pca, test_x).mean()),
            }
        )
        log.info("code size %d: %s", k, rows[-1])
    result = {
        "dataset": ds.attrs.get("dataset"),
        "model": cfg["model"],
        "epochs": cfg["epochs"],
        "n_train": len(train_x),
        "n_test": len(test_x),
        "pixels": int(np.prod(train_x.shape[1:])),
        "rows": rows,
    }
    steps = [
        ({"autoencoder_mse": r["autoencoder_mse"], "pca_mse": r["pca_mse"]}, r["code_size"])
        for r in rows
    ]
    _tracked_record(
        mlflow_cfg, f"compression {result['dataset']}", "compression", steps, result, out
    )
    return result


def plot_compression(result_json: PathLike, out: PathLike) -> None:
    from aeflow.plotting import save
    from aeflow.plotting.latent import compression_curve

    r = read_json(result_json)
    fig = compression_curve(
        [row["code_size"] for row in r["rows"]],
        {
            f"{r['model']} ({r['epochs']} epochs)": [row["autoencoder_mse"] for row in r["rows"]],
            "PCA": [row["pca_mse"] for row in r["rows"]],
        },
        title=f"{r['dataset']}: test reconstruction error vs code size ({r['pixels']} pixels)",
    )
    save(fig, out)


# ---- anomaly detection ----------------------------------------------------------------------
def _code_size(model, sample: np.ndarray) -> int | None:
    """Number of code values per sample (the latent size), or None if the model has none."""
    import torch

    if not hasattr(model, "encode"):
        return None
    device = next(model.parameters()).device
    x = torch.from_numpy(np.ascontiguousarray(sample[:1], dtype=np.float32)).unsqueeze(1)
    with torch.no_grad():
        return int(model.encode(x.to(device))[0].numel())


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
    import torch
    import xarray as xr

    from aeflow.data.store import open_store, write_store
    from aeflow.evaluation import anomaly as am
    from aeflow.evaluation.anomaly_scores import (
        isolation_forest_scores,
        pca_scores,
        reconstruction_score,
    )
    from aeflow.training.device import configure_backends, select_device

    cfg = exp_cfg["anomaly"]
    if not cfg:
        raise ValueError(f"experiments.{experiment}: no anomaly section")
    torch.set_num_threads(threads)
    device = select_device(exp_cfg["train"]["device"])
    configure_backends(device)
    model, _ = load_trained(model_dir, device)
    ds = with_task_inputs(open_store(prepared), exp_cfg)
    if "is_anomaly" not in ds:
        raise ValueError(f"{prepared}: no 'is_anomaly' labels (experiments.{experiment}.anomaly)")
    index = {s: _split_samples(ds, s) for s in ("val", "test")}
    sub = ds.isel(sample=np.concatenate([index["val"], index["test"]]))
    inputs = sub["input"].values
    outputs = predict(
        model, inputs, exp_cfg["evaluate"]["batch_size"], device, exp_cfg["train"]["amp"]
    )
    split = np.where(sub["split"].values == "test", "test", "val")
    is_anomaly = sub["is_anomaly"].values.astype(bool)
    for s in ("val", "test"):
        in_split = split == s
        if not (in_split & ~is_anomaly).any() or (
            s == "test" and not (in_split & is_anomaly).any()
        ):
            raise ValueError(
                f"{prepared}: the {s} split needs normal{' and anomalous' if s == 'test' else ''} "
                f"samples for experiments.{experiment}.anomaly"
            )

    scores = {"autoencoder": reconstruction_score(inputs, outputs, cfg["score"])}
    bl = cfg["baselines"]
    train_normal = ds["input"].isel(sample=_split_samples(ds, "train", normal_only=True)).values
    n_components = bl["pca_components"] or _code_size(model, inputs) or 32
    if bl["pca"]:
        scores["pca"] = pca_scores(train_normal, inputs, n_components)
    if bl["isolation_forest"]:
        scores["isolation_forest"] = isolation_forest_scores(
            train_normal, inputs, bl["n_estimators"], seed=exp_cfg["train"]["seed"]
        )
    if bl["jet_mass"] and "jet_mass" in sub:
        scores["jet_mass"] = sub["jet_mass"].values.astype(np.float64)

    def blocks(score: np.ndarray) -> dict[str, Any]:
        val, test = split == "val", split == "test"
        val_anomalous = score[val & is_anomaly]
        thresholds = am.thresholds_from(
            {
                k: v
                for k, v in cfg["thresholds"].items()
                if not (k == "f1" and not val_anomalous.size)
            },
            score[val & ~is_anomaly],
            val_anomalous,
        )
        block = am.anomaly_metrics(
            score[test & ~is_anomaly],
            score[test & is_anomaly],
            thresholds,
            fprs=cfg["fprs"],
            signal_efficiency=cfg["signal_efficiency"],
        )
        return {"thresholds": thresholds, **block}

    results = {name: blocks(score) for name, score in scores.items()}
    ae = results.pop("autoencoder")
    summary = {
        "experiment": experiment,
        "dataset": exp_cfg["dataset"],
        "model": exp_cfg["model"],
        "score": cfg["score"],
        "trained_on": cfg["train_on"],
        "n_val_normal": int(((split == "val") & ~is_anomaly).sum()),
        "n_val_anomalous": int(((split == "val") & is_anomaly).sum()),
        "pca_components": int(n_components),
        **ae,
        "baselines": results,
    }
    if "jet_mass" in sub:  # does the cut sculpt the QCD mass? (test QCD jets)
        qcd = (split == "test") & ~is_anomaly
        summary["mass_sculpting"] = am.mass_sculpting(
            sub["jet_mass"].values[qcd], scores["autoencoder"][qcd], ae["thresholds"]
        )

    coords = {"sample": sub["sample"].values, "split": ("sample", split.astype(object))}
    data = {
        "score": ("sample", scores["autoencoder"]),
        "is_anomaly": ("sample", is_anomaly),
        **{f"baseline_{k}": ("sample", v) for k, v in scores.items() if k != "autoencoder"},
    }
    for extra in ("label", "jet_mass", "jet_pt"):
        if extra in sub:
            data[extra] = ("sample", sub[extra].values)
    out_ds = xr.Dataset(data, coords=coords)
    out_ds["score"].attrs = {"long_name": f"reconstruction error ({cfg['score']})"}
    out_ds.attrs.update({"experiment": experiment, "dataset": exp_cfg["dataset"]})
    test_idx = np.flatnonzero(split == "test")
    order = test_idx[np.argsort(scores["autoencoder"][test_idx], kind="stable")]
    k = min(cfg["n_examples"], len(order) // 2)
    picks = np.r_[order[::-1][:k], order[:k]]
    examples = xr.Dataset(
        {
            "input": (("example", *sub["input"].dims[1:]), inputs[picks]),
            "output": (("example", *sub["input"].dims[1:]), outputs[picks]),
            "score": ("example", scores["autoencoder"][picks]),
            "is_anomaly": ("example", is_anomaly[picks]),
            "rank": ("example", np.array(["most"] * k + ["least"] * k, dtype=object)),
        }
    )
    out_dir = Path(out_dir)
    write_store(out_ds, out_dir / "scores.zarr", groups={"examples": examples})

    flat = {k: v for k, v in ae.items() if isinstance(v, int | float) and np.isfinite(v)}
    for name, b in results.items():
        flat |= {
            f"{name}.{k}": v for k, v in b.items() if isinstance(v, int | float) and np.isfinite(v)
        }
    _tracked_record(
        mlflow_cfg,
        f"anomaly {experiment}",
        "anomaly",
        [(flat, None)],
        summary,
        out_dir / "thresholds.json",
        experiment,
        model_dir,
    )
    log.info(
        "%s: AUROC %.3f (%s)",
        experiment,
        ae["auroc"],
        ", ".join(f"{k} {v['auroc']:.3f}" for k, v in results.items()),
    )
    return summary


# ---- figures ------------------------------------------------------------------------------
def _save_logged(fig, out: PathLike, model_dir: PathLike) -> None:
    """Save a figure and attach it to the experiment's training run."""
    from aeflow.plotting import save
    from aeflow.training.tracking import Run

    save(fig, out)
    info = read_json(Path(model_dir) / "run.json")
    run = Run(info["tracking_uri"], info["experiment"], "", run_id=info["run_id"], reopen=False)
    run.log_artifacts([out], "figures")


def _per_denoiser(var, skip: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """The values of a (denoiser, ...) variable, by denoiser name."""
    return {str(d): var.sel(denoiser=d).values for d in var["denoiser"].values if d not in skip}


def _example_rows(pred, n_examples: int, prefix: str = "") -> dict[str, np.ndarray]:
    """Noisy / denoised / true images of the first test samples of a predictions store."""
    sel = pred.isel(sample=slice(0, min(n_examples, pred.sizes["sample"])))
    return {
        f"{prefix}noisy": sel["input"].values,
        f"{prefix}denoised": sel["prediction"].values,
        f"{prefix}true": sel["target"].values,
    }


def plot_examples(
    experiment: str,
    exp_cfg: dict[str, Any],
    predictions: PathLike,
    out: PathLike,
    model_dir: PathLike,
) -> None:
    from aeflow.data.store import open_store
    from aeflow.plotting.figures import denoising_rows

    pred = open_store(predictions)
    rows = _example_rows(pred, exp_cfg["evaluate"]["n_examples"])
    title = f"{experiment}: test images of {pred.attrs.get('dataset', '')}"
    _save_logged(denoising_rows(rows, title=title), out, model_dir)


def plot_also_on_examples(
    experiment: str,
    exp_cfg: dict[str, Any],
    predictions: PathLike,
    out: PathLike,
    model_dir: PathLike,
) -> None:
    """Noisy / denoised / true rows for each further dataset the model was evaluated on."""
    from aeflow.data.store import open_store
    from aeflow.plotting.figures import denoising_rows

    rows = {}
    for name in exp_cfg["evaluate"]["also_on"]:
        pred = open_store(predictions, group=name)
        rows |= _example_rows(pred, exp_cfg["evaluate"]["n_examples"], prefix=f"{name}\n")
    n = min(len(v) for v in rows.values())
    rows = {k: v[:n] for k, v in rows.items()}
    title = f"{experiment} applied to other datasets"
    _save_logged(denoising_rows(rows, residual_of=None, title=title), out, model_dir)


def plot_history(
    experiment: str, history_csv: PathLike, out: PathLike, model_dir: PathLike
) -> None:
    import pandas as pd

    from aeflow.plotting.figures import training_history
    from aeflow.plotting.generative import adversarial_history

    history = pd.read_csv(history_csv)
    plot = adversarial_history if "critic_loss" in history else training_history
    _save_logged(plot(history, title=f"{experiment}: training"), out, model_dir)


def plot_error_distribution(
    experiment: str, predictions: PathLike, out: PathLike, model_dir: PathLike
) -> None:
    from aeflow.data.store import open_store
    from aeflow.plotting.figures import error_distributions

    pred = open_store(predictions)
    mse = pred["per_sample_mse"]
    per = {("DAE" if k == "model" else k): v for k, v in _per_denoiser(mse).items()}
    unit = "trace" if "time" in pred.dims else "image"
    fig = error_distributions(
        per, xlabel=f"per-{unit} MSE", ylabel=f"{unit}s", title=f"{experiment}: per-{unit} test MSE"
    )
    _save_logged(fig, out, model_dir)


def plot_anomaly(
    experiment: str, figure: str, scores: PathLike, thresholds: PathLike, out: PathLike, model_dir
) -> None:
    """One anomaly figure: ``anomaly_scores``, ``roc``, ``anomaly_examples`` or
    ``mass_sculpting`` (jets), from ``scores.zarr`` and ``thresholds.json``."""
    from aeflow.data.store import open_store
    from aeflow.plotting import anomaly as plots

    ds = open_store(scores)
    summary = read_json(thresholds)
    test = ds.isel(sample=np.flatnonzero(ds["split"].values == "test"))
    anomalous = test["is_anomaly"].values.astype(bool)
    jets = "jet_mass" in test
    names = ("QCD jets", "top jets") if jets else ("normal classes", "held-out classes")
    score = test["score"].values
    if figure == "anomaly_scores":
        fig = plots.score_histograms(
            score[~anomalous],
            score[anomalous],
            summary["thresholds"],
            normal_label=names[0],
            anomalous_label=names[1],
            xlabel=ds["score"].attrs.get("long_name", "anomaly score"),
            title=f"{experiment}: test scores (AUROC {summary['auroc']:.3f})",
        )
    elif figure == "roc":
        curves = {"autoencoder": (score[~anomalous], score[anomalous])}
        for name in summary["baselines"]:
            s = test[f"baseline_{name}"].values
            curves[name.replace("_", " ")] = (s[~anomalous], s[anomalous])
        fig = plots.roc_curves(curves, title=f"{experiment}: {names[1]} vs {names[0]} (test)")
    elif figure == "anomaly_examples":
        ex = open_store(scores, group="examples")
        fig = plots.ranked_examples(
            ex["input"].values,
            ex["output"].values,
            ex["score"].values,
            ex["is_anomaly"].values.astype(bool),
            [str(r) for r in ex["rank"].values],
            log_scale=jets,
            title=f"{experiment}: most and least anomalous test samples",
        )
    elif figure == "mass_sculpting":
        mass = test["jet_mass"].values
        fig = plots.mass_sculpting(
            mass[~anomalous],
            score[~anomalous],
            mass[anomalous],
            summary["thresholds"],
            title=f"{experiment}: QCD jet mass before and after the cut",
        )
    else:
        raise ValueError(f"unknown anomaly figure {figure!r}")
    _save_logged(fig, out, model_dir)


def plot_latent(
    experiment: str,
    exp_cfg: dict[str, Any],
    model_dir: PathLike,
    prepared: PathLike,
    out_space: PathLike,
    out_walks: PathLike,
    n_points: int = 5000,
) -> None:
    """The code space of a bottleneck model on test images: codes by class (+ decoded grid
    for 2-D codes), and rows of interpolation, class arithmetic, noisy and random codes."""
    import torch

    from aeflow.data.store import open_store
    from aeflow.evaluation import latent
    from aeflow.plotting.latent import image_rows, latent_space

    model, description = load_trained(model_dir, "cpu")
    ds = with_task_inputs(open_store(prepared), exp_cfg)
    test = _split_samples(ds, "test")[:n_points]
    x = ds["input"].isel(sample=test).values
    labels = ds["label"].values[test]
    names = list(ds["label"].attrs.get("class_names", []))
    size = x.shape[1:]
    with torch.no_grad():
        code_shape = tuple(model.encode(torch.from_numpy(x[:1]).unsqueeze(1)).shape[1:])
    codes = latent.encode_all(model, x, 512, "cpu")

    def decode(z: np.ndarray) -> np.ndarray:
        return latent.decode_all(model, z, code_shape, size, "cpu")

    points, axis_label = latent.project_2d(codes)
    grid = latent.latent_grid(decode, codes)[0] if codes.shape[1] == 2 else None
    kind = "VAE posterior means" if description["model"] == "vae" else "codes"
    fig = latent_space(
        points,
        labels,
        names,
        axis_label,
        grid,
        title=f"{experiment}: {kind} of {len(x)} test images ({codes.shape[1]}-D)",
    )
    _save_logged(fig, out_space, model_dir)

    classes = np.unique(labels)
    a, b = int(classes[0]), int(classes[min(1, len(classes) - 1)])
    i, j = int(np.flatnonzero(labels == a)[0]), int(np.flatnonzero(labels == b)[0])
    rng = np.random.default_rng(0)
    n = 10
    picks = np.arange(min(n, len(x)))
    c = int(classes[min(2, len(classes) - 1)])
    arithmetic = latent.class_arithmetic(codes, labels, a, b, c)
    name = {k: names[k] if k < len(names) else str(k) for k in classes}
    rows = {
        f"interpolate\n{name[a]} -> {name[b]}": decode(latent.interpolate(codes[i], codes[j], n)),
        f"mean {name[a]}, {name[b]}, {name[c]},\n{name[a]} - {name[b]} + {name[c]}": decode(
            arithmetic
        ),
        "test images": x[picks],
        "decoded": decode(codes[picks]),
    }
    for sigma in (0.1, 1.0):
        noisy = codes[picks] + rng.normal(0, sigma, codes[picks].shape).astype(np.float32)
        rows[f"code + N(0, {sigma:g})"] = decode(noisy)
    noise = rng.normal(0, 1, (n, codes.shape[1])).astype(np.float32)
    prior = "samples of the prior N(0, 1)" if description["model"] == "vae" else "codes ~ N(0, 1)"
    rows[prior] = decode(noise)
    rows = {k: np.clip(v, 0, 1) for k, v in rows.items()}
    _save_logged(image_rows(rows, title=f"{experiment}: latent operations"), out_walks, model_dir)


def plot_dataset(name: str, prepared: PathLike, out: PathLike, n_examples: int = 3) -> None:
    """Example traces of a trace dataset with the true signal overlaid (in raw units)."""
    from aeflow.data.store import open_store
    from aeflow.plotting import save
    from aeflow.plotting.traces import dataset_examples

    ds = open_store(prepared)
    test = np.flatnonzero(ds["split"].values == "test")[:1000]
    sub = ds.isel(sample=test)
    title = f"{name}: {ds.attrs.get('noise_model')} noise, test traces (normalized)"
    fig = dataset_examples(
        ds["time"].values,
        sub["input"].values,
        sub["target"].values,
        sub["snr"].values,
        n=n_examples,
        title=title,
    )
    save(fig, out)


def plot_trace_examples(
    experiment: str,
    exp_cfg: dict[str, Any],
    predictions: PathLike,
    out: PathLike,
    model_dir: PathLike,
) -> None:
    """Test traces spread over SNR: noisy, true, DAE and the baselines."""
    from aeflow.data.store import open_store
    from aeflow.plotting.traces import pick_signal_traces, reconstructions

    pred = open_store(predictions)
    picks = pick_signal_traces(
        pred["has_signal"].values, pred["snr"].values, exp_cfg["evaluate"]["n_examples"]
    )
    sub = pred.isel(sample=picks)
    denoised = _per_denoiser(sub["denoised"], skip=("identity",))
    fig = reconstructions(
        pred["time"].values,
        sub["input"].values,
        sub["target"].values,
        denoised,
        sub["snr"].values,
        title=f"{experiment}: test traces of {pred.attrs.get('dataset', '')}",
    )
    _save_logged(fig, out, model_dir)


def plot_spectra(
    experiment: str,
    exp_cfg: dict[str, Any],
    spectra_store: PathLike,
    out: PathLike,
    model_dir: PathLike,
) -> None:
    from aeflow.data.store import open_store
    from aeflow.plotting.traces import spectra

    sp = open_store(spectra_store)
    curves = {str(c): sp["signal_traces"].sel(curve=c).values for c in sp["curve"].values}
    title = f"{experiment}: mean spectra of {sp.attrs['n_signal']} test signal traces"
    band = exp_cfg["evaluate"]["baselines"]["bandpass_mhz"]
    _save_logged(
        spectra(sp["frequency"].values, curves, band_mhz=band, title=title), out, model_dir
    )


def plot_peak_accuracy(
    experiment: str,
    exp_cfg: dict[str, Any],
    predictions: PathLike,
    out: PathLike,
    model_dir: PathLike,
) -> None:
    from aeflow.data.store import open_store
    from aeflow.evaluation.traces import BLOG_PEAK_ACCURACY, binned_fraction
    from aeflow.plotting.traces import accuracy_vs_snr

    pred = open_store(predictions)
    sig = pred["has_signal"].values.astype(bool)
    snr = pred["snr"].values[sig]
    edges = exp_cfg["evaluate"]["traces"]["snr_bins"]
    bins = {
        name: binned_fraction(hits[sig], snr, edges)
        for name, hits in _per_denoiser(pred["peak_hit"]).items()
    }
    noise = pred.attrs.get("noise_model", "")
    fig = accuracy_vs_snr(
        bins,
        reference=BLOG_PEAK_ACCURACY.get(noise),
        reference_label=f"blog, {noise} noise (all SNR)",
        title=f"{experiment}: peak within {pred.attrs['tolerance']} samples",
    )
    _save_logged(fig, out, model_dir)


def plot_energy_ratio(experiment: str, predictions: PathLike, out: PathLike, model_dir) -> None:
    from aeflow.data.store import open_store
    from aeflow.plotting.traces import energy_ratio_histogram

    pred = open_store(predictions)
    ratios = _per_denoiser(pred["energy_ratio"], skip=("identity",))
    window = 2 * pred.attrs["half_width"] + 1
    title = f"{experiment}: pulse energy in {window} samples around the true peak"
    _save_logged(energy_ratio_histogram(ratios, title=title), out, model_dir)


def _image_rows(experiment: str, dataset: str, block: dict[str, Any]) -> dict[str, Any]:
    row = {
        "experiment": experiment,
        "evaluated on": dataset,
        "n_test": block["n_test"],
        "model MSE": block["test_loss"],
        "model PSNR [dB]": block["psnr_db"]["mean"],
        "model SSIM": block.get("ssim", {}).get("mean"),  # (absent in metrics before SSIM)
        "model BCE": block.get("bce"),
    }
    for name, b in block["baselines"].items():
        row[f"{name} MSE"] = b["test_loss"]
        row[f"{name} SSIM"] = b.get("ssim", {}).get("mean")
    if "downstream" in block:
        row["k-NN acc. codes"] = block["downstream"]["accuracy_codes"]
        row["k-NN acc. pixels"] = block["downstream"]["accuracy_pixels"]
    return row


def _trace_rows(experiment: str, dataset: str, block: dict[str, Any]) -> dict[str, Any]:
    from aeflow.evaluation.traces import BLOG_PEAK_ACCURACY

    methods = {"DAE": block, **block["baselines"]}
    row = {
        "experiment": experiment,
        "evaluated on": dataset,
        "noise": block["noise_model"],
        "signal / noise-only traces": f"{block['n_signal']} / {block['n_noise_only']}",
    }
    for name, b in methods.items():
        row[f"{name} peak acc."] = b["peak_location_accuracy"]
    row["blog peak acc."] = BLOG_PEAK_ACCURACY.get(block["noise_model"])
    for name, b in methods.items():
        row[f"{name} MSE"] = b["test_loss"]
    e = block["energy_ratio"]
    row["DAE energy ratio median"] = e["median"]
    row["DAE energy 68% half width"] = e["resolution_68"]
    row["DAE false pulses"] = block["pulse_detection"]["false_pulse_rate"]
    return row


def _generative_row(experiment: str, dataset: str, m: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {"experiment": experiment, "dataset": dataset, "model": m["model"]}
    for name, label in (("generator", "model"), ("pca_gaussian", "PCA"), ("real_train", "real")):
        row[f"{label} FD"] = m[name]["frechet_distance"]
    for name, label in (("generator", "model"), ("pca_gaussian", "PCA")):
        row[f"{label} precision"] = m[name]["precision"]
        row[f"{label} recall"] = m[name]["recall"]
    row["model diversity / real"] = m["generator"]["diversity"] / m["real_test_diversity"]
    if "mode_coverage" in m["generator"]:
        row["min class share / real"] = m["generator"]["mode_coverage"]["min_ratio"]
    row["requested-class acc."] = m["generator"].get("requested_class_accuracy")
    if "observables" in m:
        w = [o["standardized_wasserstein"] for o in m["observables"]["generator"].values()]
        defined = [v for v in w if v is not None]  # None: undefined (e.g. no lateral slope)
        row["mean W1/sigma of observables"] = float(np.mean(defined)) if defined else None
        row["observables undefined"] = len(w) - len(defined)
    row["test loss"] = m.get("test_loss")
    return row


def _anomaly_row(experiment: str, t: dict[str, Any]) -> dict[str, Any]:
    eff = next(k for k in t if k.startswith("background_rejection_at_eff_"))
    row = {
        "experiment": experiment,
        "dataset": t["dataset"],
        "normal / anomalous test": f"{t['n_normal']} / {t['n_anomalous']}",
        "AE AUROC": t["auroc"],
    }
    for name, b in t["baselines"].items():
        row[f"{name} AUROC"] = b["auroc"]
    row["AE AUPR"] = t["aupr"]
    row["AE TPR @ 1% FPR"] = t.get("tpr_at_fpr_0.01")
    row[f"AE 1/eps_B @ eps_S={eff.rsplit('_', 1)[1]}"] = t[eff]
    for name, b in t["baselines"].items():
        row[f"{name} 1/eps_B"] = b[eff]
    return row


def summary_table(
    metrics_files: dict[str, PathLike],
    out: PathLike,
    anomaly_files: dict[str, PathLike] | None = None,
) -> None:
    """One HTML page: per modality a table of every experiment (and evaluated dataset)
    beside its baselines; anomaly detection (AUROC and background rejection of the
    autoencoder and its baselines) in a table of its own."""
    from aeflow.plotting.figures import summary_table_html

    titles = {
        "images": "Images: test MSE, PSNR, SSIM and BCE of each model beside its baselines "
        "(denoising: identity, Gaussian, median; super-resolution: pixel repetition, bicubic; "
        "reconstruction: PCA of the same code size), and k-NN accuracy on codes vs pixels",
        "traces": "Radio traces: peak-location accuracy (peak within the configured tolerance, "
        "2 % of the trace by default), test "
        "MSE and energy reconstruction of the DAE beside the band-pass and Wiener baselines "
        "and the blog's accuracy",
    }
    titles["generative"] = (
        "Generative models: Fréchet distance (FD), precision and recall of generated samples "
        "against the real test set in the feature classifier's space (pixels for unlabelled "
        "data), beside the PCA Gaussian baseline and real training images (the floor); the "
        "smallest class share relative to the real one (mode coverage) and acGAN's "
        "requested-class accuracy"
    )
    make_row = {"images": _image_rows, "traces": _trace_rows, "generative": _generative_row}
    sections: dict[str, list] = {}
    for experiment, path in metrics_files.items():
        m = read_json(path)
        modality = m.get("modality", "images")
        for dataset, block in {m["dataset"]: m, **m.get("also_on", {})}.items():
            sections.setdefault(titles[modality], []).append(
                make_row[modality](experiment, dataset, block)
            )
    for experiment, path in (anomaly_files or {}).items():
        title = (
            "Anomaly detection: test AUROC and background rejection 1/eps_B of the "
            "autoencoder's reconstruction error beside the baselines"
        )
        sections.setdefault(title, []).append(_anomaly_row(experiment, read_json(path)))
    with atomic_path(out) as tmp:
        tmp.write_text(summary_table_html(sections))
