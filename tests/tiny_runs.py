"""Tiny real runs of the stages, for the stage tier: the stage functions themselves on
simulated data of a few dozen samples, trained for one epoch, in the results layout of
:mod:`aeflow.plan` under one temporary directory with its own SQLite MLflow store.

Each output is built on first request (with what it needs) and then reused, so the tests of a
session share the runs: ``TinyRuns.outputs("saxs_dae")`` fetches, prepares, trains and
evaluates once. The conftest fixture ``tiny_runs`` holds one instance per session.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aeflow import plan
from aeflow.config import validate_config

ONE_EPOCH = {"epochs": 1, "batch_size": 16, "threads": 1}

CONFIG: dict[str, Any] = {
    "datasets": {
        # images: SAXS speckle (noisy input, own target) and a partially coherent test set
        "saxs": {
            "kind": "saxs",
            "source": "simulate",
            "n_samples": 40,
            "seed": 3,
            "simulate": {"image_size": 16},
            "split": {"test_fraction": 0.25, "val_fraction": 0.2, "seed": 0},
        },
        "saxs_partial": {
            "kind": "saxs",
            "source": "simulate",
            "n_samples": 8,
            "seed": 4,
            "simulate": {"image_size": 16, "coherence_length": 5.0},
            "split": {"test_fraction": 1.0, "val_fraction": 0.0},
        },
        # anomaly labels (top jets) and an observable (the jet mass)
        "jets": {
            "kind": "jets",
            "source": "simulate",
            "n_samples": 200,
            "seed": 2,
            "preprocess": {"n_pixels": 16},
        },
        # traces
        "radio": {"kind": "radio", "source": "simulate", "n_samples": 80, "seed": 1},
        # a generative kind with observables
        "showers": {"kind": "airshowers", "source": "simulate", "n_samples": 150, "seed": 1},
        # colour images with classes (a colorization, the label-efficiency study)
        "galaxies": {
            "kind": "galaxies",
            "source": "simulate",
            "n_samples": 150,
            "seed": 5,
            "simulate": {"image_size": 16},
            "preprocess": {"image_size": 8},
        },
        # labelled images (scikit-learn's digits, 8x8)
        "digits": {
            "kind": "images",
            "collection": "digits",
            "source": "installed",
            "preprocess": {"n_train": 200, "n_test": 100},
        },
    },
    "experiments": {
        "saxs_dae": {
            "dataset": "saxs",
            "model": "skip_dae",
            "model_params": {"width": 4},
            "train": {**ONE_EPOCH, "batch_size": 8},
            "evaluate": {"also_on": ["saxs_partial"], "n_examples": 3},
        },
        "jets_ae": {
            "dataset": "jets",
            "model": "dense_ae",
            "task": "reconstruct",
            "model_params": {"image_size": 16, "code_size": 4, "output": "linear", "loss": "mse"},
            "train": ONE_EPOCH,
            "anomaly": {"n_examples": 3, "baselines": {"n_estimators": 10}},
        },
        # the inverse task: trained on top jets, QCD flagged
        "jets_inverse": {
            "dataset": "jets",
            "model": "dense_ae",
            "task": "reconstruct",
            "model_params": {"image_size": 16, "code_size": 4, "output": "linear", "loss": "mse"},
            "train": ONE_EPOCH,
            "anomaly": {"invert": True, "n_examples": 3, "baselines": {"n_estimators": 10}},
        },
        # one class of a labelled image set held out by the experiment
        "digits_held_out": {
            "dataset": "digits",
            "model": "dense_ae",
            "task": "reconstruct",
            "model_params": {"code_size": 2},
            "train": ONE_EPOCH,
            "anomaly": {"classes": [3], "n_examples": 2, "baselines": {"n_estimators": 10}},
        },
        "radio_dae": {
            "dataset": "radio",
            "model": "conv1d_dae",
            "model_params": {"channels": [4, 8]},
            "train": ONE_EPOCH,
            "evaluate": {"n_examples": 3},
        },
        # a signal detector on the same traces: has_signal, not the clean trace, is its target
        "radio_classifier": {
            "dataset": "radio",
            "model": "conv1d_classifier",
            "model_params": {"channels": [4, 8]},
            "train": ONE_EPOCH,
        },
        "showers_vae": {
            "dataset": "showers",
            "model": "vae",
            "model_params": {"architecture": "dense", "hidden": 16, "latent_dim": 2},
            "train": ONE_EPOCH,
            "generate": {"n_samples": 64},
        },
        "digits_ae": {
            "dataset": "digits",
            "model": "dense_ae",
            "task": "reconstruct",
            "model_params": {"code_size": 2},
            "train": ONE_EPOCH,
        },
        # the luminance in, the colour image out; and the same network reconstructing
        "galaxy_colorize": {
            "dataset": "galaxies",
            "model": "conv_ae",
            "task": "colorize",
            "model_params": {"channels": [4, 8], "loss": "lab", "output_bias": "data_mean"},
            "train": ONE_EPOCH,
            "evaluate": {"n_examples": 3},
        },
        "galaxy_ae": {
            "dataset": "galaxies",
            "model": "conv_ae",
            "task": "reconstruct",
            "model_params": {"channels": [4, 8], "loss": "mse"},
            "train": ONE_EPOCH,
        },
    },
    "label_efficiency": {
        "galaxies": {
            "encoders": ["galaxy_colorize", "galaxy_ae"],
            "labels_per_class": [2, "all"],
            "seeds": [0, 1],
            "steps": 5,
        },
        "digits": {"encoders": ["digits_ae"], "labels_per_class": [2], "seeds": [0], "steps": 5},
    },
    "compression": {
        "dataset": "digits",
        "model_params": {"hidden": [16], "code_activation": "linear"},
        "code_sizes": [2, 8],
        "epochs": 1,
        "threads": 1,
    },
}


class TinyRuns:
    """The tiny runs of :data:`CONFIG` under ``root``; methods return absolute paths."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        cfg = copy.deepcopy(CONFIG)
        cfg["mlflow"] = {
            "tracking_uri": f"sqlite:///{self.root}/results/mlflow.db",
            "experiment": "aeflow-stage-tests",
            "artifact_location": str(self.root / "results" / "mlartifacts"),
        }
        self.config = validate_config(cfg)
        self.mlflow = self.config["mlflow"]
        self.plan = plan.Plan(self.config)
        self._built: set[tuple[str, str]] = set()

    def path(self, relative: str) -> Path:
        return self.root / relative

    def experiment(self, name: str) -> dict[str, Any]:
        return self.config["experiments"][name]

    def _once(self, what: str, name: str, build: Callable[[], None]) -> None:
        if (what, name) not in self._built:
            build()
            self._built.add((what, name))

    # ---- stage outputs ---------------------------------------------------------------------------
    def mlflow_store(self) -> Path:
        from aeflow.stages.tracking import init_mlflow

        out = self.path(plan.MLFLOW_STORE)
        self._once("mlflow", "", lambda: init_mlflow(self.mlflow, out))
        return out

    def prepared(self, dataset: str) -> Path:
        from aeflow.stages.data import fetch_raw, prepare

        cfg = self.config["datasets"][dataset]
        raw, out = self.path(plan.raw_path(dataset, cfg)), self.path(plan.prepared(dataset))

        def build():
            fetch_raw(dataset, cfg, raw)
            prepare(dataset, cfg, raw, out)

        self._once("prepared", dataset, build)
        return out

    def trained(self, experiment: str) -> Path:
        """The model directory (model.pt, model.json, history.csv, run.json)."""
        from aeflow.stages.train import train

        exp = self.experiment(experiment)
        out = self.path(plan.model_dir(experiment))

        def build():
            self.mlflow_store()
            train(
                experiment,
                plan.training_spec(exp),
                self.mlflow,
                self.prepared(exp["dataset"]),
                out,
                self.path(plan.checkpoint_dir(experiment)),
            )

        self._once("trained", experiment, build)
        return out

    def evaluated(self, experiment: str) -> Path:
        """The evaluation directory (metrics.json, predictions.zarr; spectra.zarr of traces)."""
        from aeflow.stages.evaluate import evaluate, spectra

        exp = self.experiment(experiment)
        out = self.path(plan.eval_dir(experiment))

        def build():
            also_on = {name: self.prepared(name) for name in exp["evaluate"]["also_on"]}
            model_dir, prepared = self.trained(experiment), self.prepared(exp["dataset"])
            evaluate(experiment, exp, self.mlflow, model_dir, prepared, also_on, out)
            if self.plan.mode(experiment) == "traces":
                also = exp["evaluate"]["also_on"]
                spectra(out / "predictions.zarr", also, out / "spectra.zarr")

        self._once("evaluated", experiment, build)
        return out

    def generated(self, experiment: str) -> Path:
        """The generate stage's directory (metrics.json, samples.zarr), no classifier."""
        from aeflow.stages.generate import generate

        exp = self.experiment(experiment)
        out = self.path(plan.generative_dir(experiment))

        def build():
            model_dir, prepared = self.trained(experiment), self.prepared(exp["dataset"])
            generate(experiment, exp, self.mlflow, model_dir, prepared, None, out)

        self._once("generated", experiment, build)
        return out

    def anomaly_scored(self, experiment: str) -> Path:
        """The anomaly stage's directory (thresholds.json, scores.zarr)."""
        from aeflow.stages.anomaly import anomaly

        exp = self.experiment(experiment)
        out = self.path(plan.anomaly_dir(experiment))

        def build():
            model_dir, prepared = self.trained(experiment), self.prepared(exp["dataset"])
            anomaly(experiment, exp, self.mlflow, model_dir, prepared, out)

        self._once("anomaly", experiment, build)
        return out

    def compressed(self) -> Path:
        """The compression study's record of the ``compression:`` section."""
        from aeflow.stages.compression import compression

        cfg = self.config["compression"]
        out = self.path(plan.compression_result(cfg["dataset"]))

        def build():
            self.mlflow_store()
            compression(cfg, self.mlflow, self.prepared(cfg["dataset"]), out)

        self._once("compression", cfg["dataset"], build)
        return out

    def label_efficiency(self, dataset: str) -> Path:
        """The label-efficiency study's record of ``label_efficiency.<dataset>``."""
        from aeflow.stages.label_efficiency import label_efficiency

        study = self.config["label_efficiency"][dataset]
        out = self.path(plan.label_efficiency_result(dataset))

        def build():
            encoders = {
                e: {"model_dir": self.trained(e), "task": self.experiment(e)["task"]}
                for e in study["encoders"]
            }
            label_efficiency(dataset, study, encoders, self.mlflow, self.prepared(dataset), out)

        self._once("label_efficiency", dataset, build)
        return out

    def outputs(self, experiment: str) -> None:
        """Everything the plan says the experiment produces before its figures."""
        if self.plan.generative(experiment):
            self.generated(experiment)
        else:
            self.evaluated(experiment)
        if self.experiment(experiment)["anomaly"]:
            self.anomaly_scored(experiment)

    # ---- figures ---------------------------------------------------------------------------------
    def figure_inputs(self, target: str, figure: str, dataset_scope: bool = False):
        """The :class:`~aeflow.stages.figures.FigureInputs` of one figure, its input files
        built (as the plan names them, made absolute)."""
        from aeflow.data import kinds
        from aeflow.stages.figures import FigureInputs

        if dataset_scope:
            self.prepared(target)
            if figure == "compression":
                self.compressed()
            if figure == "label_efficiency":
                self.label_efficiency(target)
        else:
            self.outputs(target)
        files = {
            key: [self.path(p) for p in value] if isinstance(value, list) else self.path(value)
            for key, value in self.plan.figure_inputs(target, figure, dataset_scope).items()
        }
        if dataset_scope:
            kind = kinds.traits(self.config["datasets"][target]["kind"])
            return FigureInputs(target, files, kind=kind)
        p = self.plan
        return FigureInputs(target, files, self.experiment(target), p.kind(target), p.model(target))
