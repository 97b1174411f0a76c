"""The workflow's plan, without torch: where every output lives, what determines a trained
model, which stage judges an experiment, and which figures it gets.

``workflow/rules/common.smk`` and ``aeflow.cli`` both read it, so the rules and the CLI cannot
disagree about a path. Decisions ask the dataset kind (:mod:`aeflow.data.kinds`) and the model
catalog (:mod:`aeflow.models.catalog`) for their traits; no kind or model is named here.

Adding a figure: its drawing function in :mod:`aeflow.stages.figures`, one entry in
:data:`FIGURES` and its caption ``workflow/report/<caption>.rst``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aeflow.data import kinds
from aeflow.data.sources import raw_suffix
from aeflow.models import catalog

# ---- the results layout ---------------------------------------------------------------------
MLFLOW_STORE = "results/mlflow/store.json"
SUMMARY = "results/summary/metrics.html"
SUMMARY_JSON = "results/summary/metrics.json"  # the same tables (the README's are made from it)
TIMING = "results/summary/timing.html"
TIMING_CSV = "results/summary/timing.csv"
REPRODUCTION = "results/reproduction.json"
REPRODUCTION_TABLE = "results/summary/reproduction.html"


def raw_path(dataset: str, dataset_cfg: Mapping[str, Any]) -> str:
    if kinds.traits(dataset_cfg["kind"]).converted_raw:  # any source becomes the kind's .npz
        return f"data/raw/{dataset}.npz"
    return f"data/raw/{dataset}{raw_suffix(dataset_cfg['source'])}"


def prepared(dataset: str) -> str:
    return f"results/prepared/{dataset}.zarr"


def model_dir(experiment: str) -> str:
    return f"results/models/{experiment}"


def checkpoint_dir(experiment: str) -> str:
    return f"results/checkpoints/{experiment}"


def eval_dir(experiment: str) -> str:
    return f"results/eval/{experiment}"


def anomaly_dir(experiment: str) -> str:
    return f"results/anomaly/{experiment}"


def generative_dir(experiment: str) -> str:
    return f"results/generative/{experiment}"


def classifier_dir(dataset: str) -> str:
    return f"results/classifiers/{dataset}"


def compression_result(dataset: str) -> str:
    return f"results/compression/{dataset}.json"


def label_efficiency_result(dataset: str) -> str:
    return f"results/label_efficiency/{dataset}.json"


def figure_path(experiment: str, figure: str, ext: str = "png") -> str:
    """An experiment's figure: ``png`` (the report's) or its ``pdf`` twin (for papers)."""
    return f"results/figures/{experiment}/{figure}.{ext}"


def dataset_figure_path(dataset: str, figure: str, ext: str = "png") -> str:
    return f"results/figures/datasets/{dataset}/{figure}.{ext}"


# ---- what determines a trained model --------------------------------------------------------
# Keys of train: that do not change the trained model, so they neither rerun training nor
# invalidate a checkpoint.
NON_MODEL_TRAIN_KEYS = ("threads",)
# train options added after models were trained: unset, they leave the spec (and so the
# trained models) as they were
ABSENT_WHEN_NULL = ("max_grad_norm",)


def training_spec(exp_cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The part of an experiment that determines its trained model (the train rule's params).

    Evaluation and plotting options are left out, so changing them does not retrain.
    """
    train_cfg = {
        k: v
        for k, v in exp_cfg["train"].items()
        if k not in NON_MODEL_TRAIN_KEYS and not (k in ABSENT_WHEN_NULL and v is None)
    }
    spec = {key: exp_cfg[key] for key in ("dataset", "model", "model_params", "task")} | {
        "train": train_cfg
    }
    if exp_cfg.get("corrupt"):
        spec["corrupt"] = exp_cfg["corrupt"]
    anomaly = exp_cfg.get("anomaly")
    if anomaly and anomaly["train_on"] == "normal":
        # the anomalies are kept out of training: which ones they are matters
        spec["anomaly"] = {"train_on": "normal"} | {
            k: anomaly[k] for k in ("classes", "invert") if anomaly.get(k)
        }
    return spec


def local_gpus(dev: Path = Path("/dev"), environ: Mapping[str, str] | None = None) -> int:
    """GPUs a job started on this host could use, without importing torch: NVIDIA device
    nodes (``/dev/nvidia0``, ...; an AMD ``/dev/kfd`` counts as one), limited by
    ``CUDA_VISIBLE_DEVICES`` when it is set (empty: none)."""
    environ = os.environ if environ is None else environ
    found = len([p for p in dev.glob("nvidia*") if p.name[len("nvidia") :].isdigit()])
    if not found and (dev / "kfd").exists():
        found = 1
    visible = environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        found = min(found, len([d for d in visible.split(",") if d.strip()]))
    return found


def claims_gpu(exp_cfg: Mapping[str, Any], gpu_host: bool) -> bool:
    """Whether the experiment's training and evaluation jobs claim Snakemake's ``gpu``
    resource: ``device: cuda`` always, ``auto`` when the jobs run where a GPU is
    (``gpu_host``: a local GPU, or a cluster that gives jobs one), ``cpu`` never. On a host
    without a GPU nothing is claimed, so the workstation profile's ``gpu=1`` does not run
    CPU trainings one at a time."""
    device = exp_cfg["train"]["device"]
    return device == "cuda" or (device == "auto" and gpu_host)


def is_generative(exp_cfg: Mapping[str, Any], datasets: Mapping[str, Any]) -> bool:
    """Judged on its samples (the generate stage) rather than on test reconstructions: a
    generative model, or a model that samples (a VAE) on a generative kind. Autoencoders
    that do not sample are judged on their test reconstructions on any kind (a galaxy
    colorization, the encoders of a label-efficiency study)."""
    kind = kinds.traits(datasets[exp_cfg["dataset"]]["kind"])
    model = catalog.traits(exp_cfg["model"])
    return model.generative or (kind.generative and model.samples)


# ---- figures as data -------------------------------------------------------------------------
@dataclass(frozen=True)
class Figure:
    """One figure kind. ``inputs``: the named files it is drawn from (keys of
    :meth:`Plan.experiment_files`, or for dataset figures of :meth:`Plan.dataset_files`);
    ``applies(plan, name)``: whether the experiment (or dataset) gets it; ``caption``: the
    report caption ``workflow/report/<caption>.rst``; ``label``: its name in the report;
    ``category``: the report section of dataset figures (experiment figures: the
    experiment)."""

    name: str
    inputs: tuple[str, ...]
    applies: Callable[[Plan, str], bool]
    caption: str
    label: str
    dataset_scope: bool = False
    category: str | None = None


_TRAINED = ("model_json", "run")  # every experiment figure is attached to the training run
_PREDICTIONS = ("predictions", *_TRAINED)


def _judged_on(mode: str) -> Callable[[Plan, str], bool]:
    return lambda plan, e: plan.mode(e) == mode


def _pulses_by_snr(plan: Plan, e: str) -> bool:
    """A trace experiment whose test traces have clean signals and so an SNR each."""
    return plan.mode(e) == "traces" and plan.clean_targets(e)


def _reconstructing(plan: Plan, e: str) -> bool:
    return plan.mode(e) in ("images", "traces")


FIGURES: tuple[Figure, ...] = (
    Figure("history", ("history", *_TRAINED), lambda p, e: True, "history", "training history"),
    Figure("examples", _PREDICTIONS, _judged_on("images"), "examples", "test examples"),
    Figure(
        "also_on_examples",
        _PREDICTIONS,
        lambda p, e: p.mode(e) == "images" and bool(p.experiment(e)["evaluate"]["also_on"]),
        "also_on_examples",
        "other datasets",
    ),
    Figure(
        "error_distribution",
        _PREDICTIONS,
        _reconstructing,
        "error_distribution",
        "per-sample error",
    ),
    Figure("traces", _PREDICTIONS, _judged_on("traces"), "traces", "test traces"),
    Figure(
        "radial_profiles",
        _PREDICTIONS,
        lambda p, e: _judged_on("images")(p, e) and p.kind(e).form_factor_rings,
        "radial_profiles",
        "form-factor rings",
    ),
    Figure("spectra", ("spectra", *_TRAINED), _judged_on("traces"), "spectra", "FFT spectra"),
    Figure(
        "peak_accuracy",
        _PREDICTIONS,
        _pulses_by_snr,
        "peak_accuracy",
        "peak-location accuracy vs SNR",
    ),
    Figure("energy_ratio", _PREDICTIONS, _judged_on("traces"), "energy_ratio", "energy ratio"),
    Figure(
        "energy_vs_snr",
        _PREDICTIONS,
        _pulses_by_snr,
        "energy_vs_snr",
        "energy kept within 20 % vs SNR",
    ),
    Figure(
        "detection_vs_snr",
        _PREDICTIONS,
        lambda p, e: p.mode(e) == "detection" or _pulses_by_snr(p, e),
        "detection_vs_snr",
        "signal found at 0.2 % false positives vs SNR",
    ),
    Figure(
        "detection_roc",
        _PREDICTIONS,
        _judged_on("detection"),
        "detection_roc",
        "ROC of signal vs noise-only traces",
    ),
    Figure(
        "detection_roc_by_snr",
        _PREDICTIONS,
        _judged_on("detection"),
        "detection_roc_by_snr",
        "ROC per SNR bin",
    ),
    Figure(
        "latent_space",
        ("model", "prepared", *_TRAINED),
        lambda p, e: _reconstructing(p, e) and p.model(e).latent and p.kind(e).labelled,
        "latent_space",
        "latent space",
    ),
    Figure(
        "latent_walks",
        ("model", "prepared", *_TRAINED),
        lambda p, e: _reconstructing(p, e) and p.model(e).latent and p.kind(e).labelled,
        "latent_walks",
        "latent operations",
    ),
    *(
        Figure(
            name,
            ("scores", "thresholds", *_TRAINED),
            lambda p, e: bool(p.experiment(e)["anomaly"]),
            "anomaly",
            label,
        )
        for name, label in (
            ("anomaly_scores", "anomaly scores"),
            ("roc", "ROC"),
            ("anomaly_examples", "most and least anomalous"),
        )
    ),
    Figure(
        "mass_sculpting",
        ("scores", "thresholds", *_TRAINED),
        lambda p, e: bool(p.experiment(e)["anomaly"]) and bool(p.kind(e).anomaly_observable),
        "anomaly",
        "mass sculpting",
    ),
    Figure(
        "samples",
        ("samples", "metrics", "prepared", *_TRAINED),
        lambda p, e: p.generative(e),
        "generative",
        "generated samples",
    ),
    Figure(
        "latent_interpolation",
        ("samples", "metrics", "model", "prepared", *_TRAINED),
        lambda p, e: p.generative(e) and p.model(e).latent,
        "generative",
        "latent interpolation",
    ),
    Figure(
        "observables",
        ("samples", "metrics", "prepared", *_TRAINED),
        lambda p, e: p.generative(e) and p.kind(e).observables,
        "generative",
        "observables",
    ),
    # figures of a dataset (results/figures/datasets/<dataset>/<figure>.png)
    Figure(
        "traces",
        ("prepared",),
        lambda p, d: d in p.trace_datasets(),
        "dataset_traces",
        "traces",
        dataset_scope=True,
        category="Datasets",
    ),
    Figure(
        "class_histogram",
        ("generated",),
        lambda p, d: bool(p.class_histogram_experiments(d)),
        "class_histogram",
        "class histogram",
        dataset_scope=True,
        category="Generative models",
    ),
    Figure(
        "held_out_classes",
        ("sweeps",),
        lambda p, d: bool(p.sweep_experiments(d)),
        "held_out_classes",
        "AUROC per held-out class",
        dataset_scope=True,
        category="Anomaly detection",
    ),
    Figure(
        "compression",
        ("compression",),
        lambda p, d: bool(p.config["compression"]) and p.config["compression"]["dataset"] == d,
        "compression",
        "compression",
        dataset_scope=True,
        category="Compression",
    ),
    Figure(
        "label_efficiency",
        ("label_efficiency",),
        lambda p, d: d in (p.config.get("label_efficiency") or {}),
        "label_efficiency",
        "accuracy vs labels per class",
        dataset_scope=True,
        category="Self-supervised pretraining",
    ),
)


def figure_spec(name: str, dataset_scope: bool = False) -> Figure:
    for fig in FIGURES:
        if fig.name == name and fig.dataset_scope == dataset_scope:
            return fig
    scope = "dataset" if dataset_scope else "experiment"
    raise KeyError(f"unknown {scope} figure {name!r}")


# ---- the plan of one validated config ----------------------------------------------------------
class Plan:
    """Questions about a validated config: what each experiment is and what it produces."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.config = config

    # what an experiment is
    def experiment(self, name: str) -> Mapping[str, Any]:
        return self.config["experiments"][name]

    def dataset_of(self, experiment: str) -> str:
        return self.experiment(experiment)["dataset"]

    def kind(self, experiment: str) -> kinds.Kind:
        return kinds.traits(self.config["datasets"][self.dataset_of(experiment)]["kind"])

    def model(self, experiment: str) -> catalog.ModelTraits:
        return catalog.traits(self.experiment(experiment)["model"])

    def generative(self, experiment: str) -> bool:
        return is_generative(self.experiment(experiment), self.config["datasets"])

    def mode(self, experiment: str) -> str:
        """How the experiment is judged: ``generative`` (its samples), ``detection`` (a
        signal detector's scores), else the modality of its data (``images`` or ``traces``:
        test reconstructions)."""
        if self.generative(experiment):
            return "generative"
        if self.model(experiment).detector:
            return "detection"
        return self.kind(experiment).modality

    def clean_targets(self, experiment: str) -> bool:
        """Whether the experiment's targets are clean signals or images apart from its
        inputs: a ``corrupt`` section, or data that bring them (a kind's optional
        ``clean_targets(dataset_cfg)`` hook says whether a dataset does; default yes)."""
        if self.experiment(experiment).get("corrupt"):
            return True
        ds = self.config["datasets"][self.dataset_of(experiment)]
        hook = getattr(self.kind(experiment).hooks(), "clean_targets", None)
        return True if hook is None else bool(hook(ds))

    def anomaly_experiments(self) -> list[str]:
        """Experiments with an anomaly section (the anomaly stage), in config order."""
        return [e for e, cfg in self.config["experiments"].items() if cfg["anomaly"]]

    def uses_classifier(self, experiment: str) -> bool:
        """Generative experiments on labelled data are scored in a feature classifier's space."""
        return self.generative(experiment) and self.kind(experiment).labelled

    def class_histogram_experiments(self, dataset: str) -> list[str]:
        """Generative experiments on a labelled dataset, in config order."""
        return [
            e
            for e in self.config["experiments"]
            if self.dataset_of(e) == dataset and self.uses_classifier(e)
        ]

    def sweep_experiments(self, dataset: str) -> list[str]:
        """The experiments on ``dataset`` made by ``anomaly.classes: each`` (one per class)."""
        return [
            e
            for e, c in self.config["experiments"].items()
            if c["dataset"] == dataset and c["anomaly"] and c["anomaly"]["sweep"]
        ]

    def trace_datasets(self) -> list[str]:
        """Trace datasets an experiment trains or is evaluated on."""
        used = set()
        for e, cfg in self.config["experiments"].items():
            if self.mode(e) in ("traces", "detection"):
                used.update([cfg["dataset"], *cfg["evaluate"]["also_on"]])
        return sorted(used)

    # what it produces
    def record(self, experiment: str) -> str:
        """The experiment's tracked metrics record (evaluate or generate stage)."""
        if self.generative(experiment):
            return f"{generative_dir(experiment)}/metrics.json"
        return f"{eval_dir(experiment)}/metrics.json"

    def experiment_files(self, experiment: str) -> dict[str, str]:
        """Every file a figure of ``experiment`` may be drawn from, by name."""
        model, ev = model_dir(experiment), eval_dir(experiment)
        return {
            "model": f"{model}/model.pt",
            "model_json": f"{model}/model.json",
            "run": f"{model}/run.json",
            "history": f"{model}/history.csv",
            "prepared": prepared(self.dataset_of(experiment)),
            "predictions": f"{ev}/predictions.zarr",
            "spectra": f"{ev}/spectra.zarr",
            "scores": f"{anomaly_dir(experiment)}/scores.zarr",
            "thresholds": f"{anomaly_dir(experiment)}/thresholds.json",
            "samples": f"{generative_dir(experiment)}/samples.zarr",
            "metrics": self.record(experiment),
        }

    def dataset_files(self, dataset: str) -> dict[str, Any]:
        return {
            "prepared": prepared(dataset),
            "generated": [self.record(e) for e in self.class_histogram_experiments(dataset)],
            "compression": compression_result(dataset),
            "label_efficiency": label_efficiency_result(dataset),
            "sweeps": [
                f"{anomaly_dir(e)}/thresholds.json" for e in self.sweep_experiments(dataset)
            ],
        }

    def figures(self, experiment: str) -> list[str]:
        """The figures ``experiment`` gets (names), in table order."""
        return [f.name for f in FIGURES if not f.dataset_scope and f.applies(self, experiment)]

    def dataset_figures(self, dataset: str) -> list[str]:
        return [f.name for f in FIGURES if f.dataset_scope and f.applies(self, dataset)]

    def figure_inputs(self, target: str, figure: str, dataset_scope: bool = False):
        """The named input files of one figure of an experiment (or a dataset)."""
        spec = figure_spec(figure, dataset_scope)
        files = self.dataset_files(target) if dataset_scope else self.experiment_files(target)
        return {key: files[key] for key in spec.inputs}

    def figure_jobs(self, dataset_scope: bool = False) -> list[tuple[str, dict[str, dict]]]:
        """One plotting job per experiment (or dataset, with ``dataset_scope``) that gets
        figures: ``(target, {figure: its named input files})``, figures in table order.
        Python and its imports then start once per target, not once per figure."""
        targets = self.config["datasets"] if dataset_scope else self.config["experiments"]
        jobs = []
        for target in targets:
            names = self.dataset_figures(target) if dataset_scope else self.figures(target)
            if names:
                files = {name: self.figure_inputs(target, name, dataset_scope) for name in names}
                jobs.append((target, files))
        return jobs

    @staticmethod
    def figure_job_files(figures: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
        """The input files of a plotting job: the union of its figures' named inputs (one name
        is one file throughout a target)."""
        union: dict[str, Any] = {}
        for files in figures.values():
            union.update(files)
        return union

    def reproduction_records(self) -> dict[str, dict[str, str]]:
        """The records the ``reproduction:`` section reads: experiment -> {record kind: path}
        (``metrics``: its evaluate or generate record, ``anomaly``: thresholds.json)."""
        from aeflow import reproduction

        out: dict[str, dict[str, str]] = {}
        for key, e in reproduction.bindings(self.config.get("reproduction")):
            kind = reproduction.catalog()[key]["record"]
            path = self.record(e) if kind == "metrics" else f"{anomaly_dir(e)}/thresholds.json"
            out.setdefault(e, {})[kind] = path
        return out

    def reproduction_prepared(self) -> dict[str, str]:
        """The prepared store of each experiment the ``reproduction:`` section reads (what
        its data are is in the store's attrs)."""
        return {e: prepared(self.dataset_of(e)) for e in self.reproduction_records()}

    def targets(self) -> list[str]:
        """Everything a full run produces (the ``all`` rule's inputs)."""
        out = [SUMMARY]
        if self.config.get("reproduction"):
            out += [REPRODUCTION, REPRODUCTION_TABLE]
        for dataset in self.config["datasets"]:
            out += [dataset_figure_path(dataset, f) for f in self.dataset_figures(dataset)]
        for e in self.config["experiments"]:
            out.append(self.record(e))
            if self.mode(e) == "traces":
                out.append(f"{eval_dir(e)}/spectra.zarr")
            if self.experiment(e)["anomaly"]:
                out.append(f"{anomaly_dir(e)}/thresholds.json")
            out += [figure_path(e, f) for f in self.figures(e)]
        return out
