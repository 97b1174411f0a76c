"""Stage ``train``: one experiment's model, checkpointed every epoch and tracked."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

import aeflow
from aeflow import memory, plan
from aeflow.atomic import atomic_path, write_json
from aeflow.config import watches_validation
from aeflow.data.sources import sha256_file
from aeflow.data.split import SPLITS, split_index
from aeflow.data.store import SAMPLE_CHUNK, open_store
from aeflow.data.tasks import with_anomaly_labels, with_corrupted_inputs, with_luminance_inputs
from aeflow.device import describe_device, precision, runtime_device
from aeflow.models import build_model, catalog
from aeflow.models.trained import load_weights, save_trained
from aeflow.plan import training_spec
from aeflow.stages import PathLike
from aeflow.training import tracking
from aeflow.training.callbacks import Checkpoint
from aeflow.training.loop import n_samples
from aeflow.training.pretrain import greedy_layerwise
from aeflow.training.recipe import build_trainer, experiment_tensors, load_checkpoint
from aeflow.training.stream import ChunkedTensors, StreamedSplit
from aeflow.training.tracking import MlflowCallback, Run

log = logging.getLogger(__name__)
MEAN_SAMPLES = 4096  # streamed training samples an output bias's data mean is taken from


def data_shape(ds) -> dict[str, int]:
    """What a model's config can take from the data: image size, channels (in, and out when
    the target has others: a colorization's grey input and colour output), classes."""
    shape = {"in_channels": int(ds["input"].sizes.get("channel", 1))}
    if "target" in ds and ds["target"].sizes.get("channel", 1) != shape["in_channels"]:
        shape["out_channels"] = int(ds["target"].sizes.get("channel", 1))
    if "y" in ds["input"].dims:
        shape["image_size"] = int(ds.sizes["y"])
        if ds.sizes["x"] != ds.sizes["y"]:  # (models that take non-square images)
            shape["image_width"] = int(ds.sizes["x"])
    if "label" in ds and "class_names" in ds.attrs:
        shape["n_classes"] = len(ds.attrs["class_names"])
    return shape


def _fingerprint(
    spec: dict[str, Any], model, ds, mlflow_cfg: dict[str, Any], init: dict[str, str] | None
) -> str:
    """What a checkpoint must match to be resumed: the training spec, the architecture, the
    data (raw file and preparation), the starting weights, the aeflow version and the
    tracking store."""
    parts = (
        spec,
        init,
        model.describe(),
        ds.attrs.get("raw_sha256"),
        ds.attrs.get("config"),
        aeflow.__version__,
        mlflow_cfg["tracking_uri"],
        mlflow_cfg["experiment"],
    )
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _open_data(experiment: str, spec: dict[str, Any], prepared: PathLike):
    """The prepared store with the task's inputs, checked: every split has samples (the
    val split may be empty when nothing watches it: training then runs all its epochs)."""
    ds = with_anomaly_labels(open_store(prepared), spec)  # task inputs: once in memory
    if spec["task"] == "colorize":  # (lazy: the grey inputs are computed as read)
        try:
            ds = with_luminance_inputs(ds)
        except ValueError as exc:
            raise ValueError(f"{prepared}: experiments.{experiment}.task: {exc}") from None
    optional = () if watches_validation(spec) else ("val",)
    for split in SPLITS:
        if len(split_index(ds, split)) == 0 and split not in optional:
            why = " (early_stopping or lr_plateau watches it)" if split == "val" else ""
            raise ValueError(
                f"{prepared}: the {split!r} split of dataset {spec['dataset']!r} is empty"
                f"{why} (see datasets.{spec['dataset']}.split)"
            )
    return ds


def _build(experiment: str, spec: dict[str, Any], ds, prepared: PathLike):
    """The untrained model, sized by the data; config keys that contradict the data fail."""
    shape = data_shape(ds)
    model = build_model(spec["model"], spec["model_params"], **shape)
    for key, value in spec["model_params"].items():
        if key in shape and value != shape[key]:
            raise ValueError(
                f"{prepared}: experiments.{experiment}.model_params.{key} is {value}, but "
                f"dataset {spec['dataset']!r} has {key} {shape[key]} (leave it unset to take "
                "the data's)"
            )
    if model.adversarial and model.conditional and "label" not in ds:
        raise ValueError(
            f"{prepared}: {spec['model']} is class-conditional, but dataset "
            f"{spec['dataset']!r} has no 'label' variable"
        )
    return model


def _in_memory(experiment: str, spec: dict[str, Any], ds, model) -> bool:
    """Whether the training and validation tensors are held in memory (else streamed from
    the store): ``train.data_in_memory``, ``auto`` by whether float32 input and target fit
    the memory available. GANs and layer-wise pretraining need them in memory."""
    setting = spec["train"]["data_in_memory"]
    n = len(split_index(ds, "train"))
    limit = spec["train"]["max_train_samples"]
    n = (min(n, limit) if limit else n) + len(split_index(ds, "val"))
    per_sample = 4 * int(np.prod(ds["target"].shape[1:])) * (1 if model.adversarial else 2)
    key = f"experiments.{experiment}.train.data_in_memory"
    streamable = not catalog.traits(spec["model"]).in_memory
    if setting is False and not streamable:  # (the config check says so first)
        raise ValueError(f"{key}: {spec['model']} trains on data held in memory")
    if setting is False or (
        setting == "auto" and streamable and not memory.fits(n * per_sample, memory.TRAIN_FACTOR)
    ):
        log.info("%s: streaming %d samples from the store (%s)", experiment, n, key)
        return False
    memory.require(
        n * per_sample,
        memory.TRAIN_FACTOR,
        f"training {experiment} on {n} samples",
        f"datasets.{spec['dataset']}.n_samples (or experiments.{experiment}.train."
        "max_train_samples"
        + (", or stream it: train.data_in_memory: false)" if streamable else ")"),
    )
    return True


def _tensors(model, spec: dict[str, Any], ds, prepared: PathLike, in_memory: bool):
    """Training and validation data (anomaly experiments: normal samples only), in memory
    or streamed from the store, batched in the same order either way."""
    adversarial, where = model.adversarial, str(prepared)
    normal_only = not adversarial and "anomaly" in spec
    # trained to tell signal from noise alone: a detector's target is the flag
    target = "has_signal" if catalog.traits(spec["model"]).detector else "target"
    chunk = int(ds["target"].encoding.get("chunks", (SAMPLE_CHUNK,))[0])
    limits = {"train": spec["train"]["max_train_samples"], "val": None}
    full = with_corrupted_inputs(ds, spec) if in_memory else None
    out = []
    for split in ("train", "val"):
        index = split_index(ds, split, normal_only=normal_only, where=where)[: limits[split]]
        if in_memory:
            tensors = experiment_tensors(
                full, split, adversarial=adversarial, limit=limits[split],
                normal_only=normal_only, target=target, where=where,
            )  # fmt: skip
            out.append(ChunkedTensors(tensors, index // chunk))
        else:
            variables = [
                (name, var, "channel" in ds[var].dims)
                for name, var in (("input", "input"), ("target", target))
            ]
            out.append(
                StreamedSplit(
                    prepared, index, variables, chunk=chunk,
                    sample_ids=ds["sample"].values[index], corrupt=spec.get("corrupt"),
                    luminance=spec["task"] == "colorize",
                    workers=spec["train"]["stream_workers"],
                )
            )  # fmt: skip
    train, val = out
    # no validation samples: trained for train.epochs, the last weights kept
    return train, (val if n_samples(val) else None)


def _open_run(mlflow_cfg, experiment: str, run_id: str | None):
    """The training run: the checkpoint's (a resumed job continues it) or a new one."""
    tags = {"aeflow.experiment": experiment, "aeflow.stage": "train"}
    uri, name = mlflow_cfg["tracking_uri"], mlflow_cfg["experiment"]
    if run_id is not None:
        try:
            return Run(uri, name, f"train {experiment}", run_id=run_id, tags=tags)
        except Exception as exc:
            log.warning(
                "MLflow run %s of the checkpoint is gone (%s); starting a new run", run_id, exc
            )
    return Run(uri, name, f"train {experiment}", tags=tags)


def _end_stale_run(mlflow_cfg, extra: dict[str, Any]) -> None:
    """End the MLflow run of a discarded checkpoint (its job was killed, then the config or
    data changed) as KILLED, so that it does not stay RUNNING for ever."""
    run_id = extra.get("mlflow_run_id")
    if run_id is None:
        return
    uri = extra.get("mlflow_tracking_uri", mlflow_cfg["tracking_uri"])
    log.info("ending MLflow run %s of the discarded checkpoint as KILLED", run_id)
    Run(uri, mlflow_cfg["experiment"], "", run_id=run_id, reopen=False).finish_quietly("KILLED")


def _init_from(experiment: str, spec: dict[str, Any], model, weights: PathLike | None):
    """Load the weights of ``train.init_from`` into ``model``: what it started from (the
    experiment and the file's SHA-256), or None for a fresh start."""
    other = spec["train"]["init_from"]
    if other is None:
        return None
    if weights is None:
        raise ValueError(
            f"experiments.{experiment}.train.init_from is {other!r}, but no weights were given"
        )
    try:
        load_weights(model, Path(weights))
    except ValueError as exc:
        raise ValueError(
            f"experiments.{experiment}.train.init_from: {exc} (the two experiments must "
            "build the same layers)"
        ) from None
    log.info("%s starts from the weights of %s (%s)", experiment, other, weights)
    return {"experiment": other, "sha256": sha256_file(weights)}


def _pretrain(model, train_data, tc, device, run) -> list[dict[str, float]]:
    """What a model does with the data before the first epoch of a fresh training: GANs
    (and autoencoders with ``output_bias: data_mean``) take the data's mean colour, the
    stacked autoencoder pretrains layer by layer."""
    if model.adversarial and hasattr(model, "init_from_data"):
        model.init_from_data(train_data["image"])
    elif getattr(model.config, "output_bias", "zero") == "data_mean":
        model.init_from_data(_first_targets(train_data))
    if not hasattr(model, "layer_autoencoder"):
        return []
    pretraining = greedy_layerwise(model, train_data["input"], device, tc["batch_size"], tc["seed"])
    for i, rec in enumerate(pretraining):
        run.log_metrics({f"pretrain_loss_layer{int(rec['layer'])}": rec["loss"]}, step=i)
    return pretraining


def _first_targets(train_data, block: int = 512) -> torch.Tensor:
    """The first :data:`MEAN_SAMPLES` training targets (in memory or streamed, the same
    ones), read ``block`` at a time: what an output bias's data mean is taken from."""
    n = min(MEAN_SAMPLES, n_samples(train_data))
    if not isinstance(train_data, StreamedSplit):
        return train_data["target"][:n]
    parts = [train_data.read(np.arange(a, min(a + block, n)))["target"] for a in range(0, n, block)]
    return torch.cat(parts)


def _write_outputs(trainer, description, history, out_dir: Path, run) -> None:
    """model.pt, model.json and history.csv, attached to the run."""
    save_trained(trainer.model, description, out_dir)
    with atomic_path(out_dir / "history.csv") as tmp:
        pd.DataFrame(history).to_csv(tmp, index=False)
    run.log_artifacts(
        [out_dir / "model.pt", out_dir / "model.json", out_dir / "history.csv"], "model"
    )


def _register(experiment, model, train_data, description, mlflow_cfg, run) -> None:
    """The trained model as an MLflow model in the registry (alias best): the autoencoder
    with two training inputs as its example, a GAN's sampling generator with two latent
    vectors (a conditional one, which also needs labels, without an example)."""
    model = model.cpu().eval()
    if model.adversarial:
        net = model.generator_ema if model.generator_ema is not None else model.generator
        example = None if model.conditional else model.noise(2, "cpu")
    else:
        first = train_data.head(2) if isinstance(train_data, StreamedSplit) else train_data
        net, example = model, first["input"][:2].cpu()
    name = tracking.registered_name(mlflow_cfg["experiment"], experiment)
    version = tracking.log_model(
        run,
        mlflow_cfg["tracking_uri"],
        net,
        example,
        name,
        description["best_val_loss"] if not model.adversarial else None,
        logged_name=f"{experiment}-pytorch",
    )
    log.info("MLflow model registered: %s version %d", name, version)


def train(
    experiment: str,
    spec: dict[str, Any],
    mlflow_cfg: dict[str, Any],
    prepared: PathLike,
    out_dir: PathLike,
    checkpoint_dir: PathLike,
    threads: int = 1,
    init_weights: PathLike | None = None,
) -> dict[str, Any]:
    """Train one experiment; write model.pt, model.json, history.csv and run.json to out_dir.

    ``spec`` is :func:`aeflow.plan.training_spec` of the experiment (a full experiment config
    works too). A checkpoint is saved after every epoch in ``checkpoint_dir``; if one from the
    same configuration, data and tracking store exists, training resumes after its last epoch.
    ``init_weights``: the trained ``model.pt`` of ``train.init_from``, the starting weights.
    """
    spec, out_dir = training_spec(spec), Path(out_dir)
    tc = spec["train"]
    log.info("glibc malloc tunables: %s", os.environ.get("GLIBC_TUNABLES", "none (defaults)"))
    device = runtime_device(tc["device"], threads)
    ds = _open_data(experiment, spec, prepared)
    torch.manual_seed(tc["seed"])
    model = _build(experiment, spec, ds, prepared)
    init = _init_from(experiment, spec, model, init_weights)
    in_memory = _in_memory(experiment, spec, ds, model)
    train_data, val_data = _tensors(model, spec, ds, prepared, in_memory)
    # Move before building the optimizer, so its state lives beside the parameters.
    model = model.to(device)
    if tc["channels_last"]:
        model = model.to(memory_format=torch.channels_last)
    fingerprint = _fingerprint(spec, model, ds, mlflow_cfg, init)
    trainer = build_trainer(model, tc, device)
    ckpt_path = Path(checkpoint_dir) / "last.pt"
    state = load_checkpoint(ckpt_path, fingerprint, lambda extra: _end_stale_run(mlflow_cfg, extra))
    if state is not None:
        trainer.load_state_dict(state)
        log.info("resuming %s from %s (epoch %d)", experiment, ckpt_path, trainer.epoch)
    run = _open_run(mlflow_cfg, experiment, state["extra"].get("mlflow_run_id") if state else None)
    try:
        trainer.extra_state.update(
            {
                "fingerprint": fingerprint,
                "initialized_from": init,
                "mlflow_run_id": run.run_id,
                "mlflow_tracking_uri": mlflow_cfg["tracking_uri"],
            }
        )
        trainer.callbacks += [MlflowCallback(run), Checkpoint(ckpt_path)]
        description = _fit(experiment, spec, ds, trainer, (train_data, val_data), run, state)
        _write_outputs(trainer, description, trainer.history, out_dir, run)
        _register(experiment, trainer.model, train_data, description, mlflow_cfg, run)
    except BaseException as exc:
        run.finish_quietly("KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
        raise
    run.finish("FINISHED")
    run_info = {"run_id": run.run_id} | {k: mlflow_cfg[k] for k in ("tracking_uri", "experiment")}
    write_json(out_dir / "run.json", run_info)
    ckpt_path.unlink(missing_ok=True)
    return description


def _fit(experiment, spec, ds, trainer, data, run, state) -> dict[str, Any]:
    """Log a new run's parameters, pretrain a fresh model (no checkpoint ``state``), fit;
    returns the trained model's description."""
    train_data, val_data = data
    model, tc = trainer.model, spec["train"]
    device_name = describe_device(trainer.device)
    n_train = n_samples(train_data)
    n_val = n_samples(val_data) if val_data else 0
    log.info(
        "training %s (%s, %d parameters) on %s in %s; %d train / %d val samples",
        experiment,
        spec["model"],
        sum(p.numel() for p in model.parameters()),
        device_name,
        precision(trainer.device, tc["amp"]),
        n_train,
        n_val,
    )
    if state is None or run.run_id != state["extra"].get("mlflow_run_id"):
        data_keys = ("dataset", "source", "raw_sha256", "n_train", "n_val", "n_test")
        run.log_params(
            {"experiment": experiment, **spec, "data": {k: ds.attrs.get(k) for k in data_keys}}
        )
        digest = ds.attrs["content_sha256"]
        tracking.log_dataset(run, spec["dataset"], digest, plan.prepared(spec["dataset"]))
    arithmetic = precision(trainer.device, tc["amp"])
    run.set_tags({"aeflow.device": device_name, "aeflow.precision": arithmetic})
    fresh = state is None and trainer.extra_state["initialized_from"] is None
    pretraining = _pretrain(model, train_data, tc, trainer.device, run) if fresh else []
    t0 = time.perf_counter()
    trainer.fit(train_data, val_data, tc["epochs"])
    seconds = time.perf_counter() - t0
    description = trainer.model.describe() | {
        "experiment": experiment,
        "dataset": spec["dataset"],
        "task": spec["task"],
        "best_epoch": trainer.best_epoch,
        "best_val_loss": trainer.best_val,
        "epochs_run": trainer.epoch,
        "n_train": n_train,
        "n_val": n_val,
        "device": device_name,
        "precision": arithmetic,
        "fingerprint": trainer.extra_state["fingerprint"],
        "aeflow_version": aeflow.__version__,
    }
    if pretraining:
        description["pretraining"] = pretraining
    if trainer.extra_state["initialized_from"]:
        description["initialized_from"] = trainer.extra_state["initialized_from"]
    if val_data is None:  # no validation: nothing was "best"
        description |= {"best_epoch": None, "best_val_loss": None}
    best = {k: description[k] for k in ("best_val_loss", "best_epoch")}
    run.log_metrics({k: v for k, v in best.items() if v is not None} | {"train_seconds": seconds})
    return description
