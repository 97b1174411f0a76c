# Config validation and every helper the rules use. No rules here.

import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from aeflow.config import LABELLED_KINDS, is_generative, validate_config
from aeflow.data.kinds import MODALITY
from aeflow.data.sources import raw_suffix
from aeflow.generation import GENERATIVE_FIGURES
from aeflow.stages import training_spec

# Validate once, fill the schema's defaults, and fail before any job starts.
_validated = validate_config(config, source="config (config/config.yaml + overrides)")
config.clear()
config.update(_validated)


wildcard_constraints:
    dataset="[A-Za-z][A-Za-z0-9_]*",
    experiment="[A-Za-z][A-Za-z0-9_]*",


ENV = "../envs/aeflow.yaml"


def dataset_config(wildcards):
    return config["datasets"][wildcards.dataset]


def experiment_config(wildcards):
    return config["experiments"][wildcards.experiment]


def experiment_training_spec(wildcards):
    """Only what determines the trained model: evaluation options do not retrain."""
    return training_spec(config["experiments"][wildcards.experiment])


def raw_path(dataset):
    source = config["datasets"][dataset]["source"]
    return f"data/raw/{dataset}{raw_suffix(source)}"


def local_source(wildcards):
    """The user's local raw file, so that changing it reruns the fetch."""
    source = config["datasets"][wildcards.dataset]["source"]
    return [] if source in ("simulate", "download", "installed") else [source]


def raw_input(wildcards):
    return raw_path(wildcards.dataset)


def prepared(dataset):
    return f"results/prepared/{dataset}.zarr"


def experiment_prepared(wildcards):
    return prepared(config["experiments"][wildcards.experiment]["dataset"])


def also_on(wildcards):
    return config["experiments"][wildcards.experiment]["evaluate"]["also_on"]


def also_on_prepared(wildcards):
    return [prepared(name) for name in also_on(wildcards)]


def train_threads(wildcards):
    return config["experiments"][wildcards.experiment]["train"]["threads"]


def uses_gpu(wildcards):
    return int(config["experiments"][wildcards.experiment]["train"]["device"] != "cpu")


def modality(experiment):
    """``images`` or ``traces``: the modality of the experiment's dataset kind."""
    dataset = config["experiments"][experiment]["dataset"]
    return MODALITY[config["datasets"][dataset]["kind"]]


# Figures per modality (results/figures/<experiment>/<name>.png).
FIGURES = {
    "images": ["history", "examples", "error_distribution"],
    "traces": [
        "history",
        "traces",
        "spectra",
        "peak_accuracy",
        "energy_ratio",
        "error_distribution",
    ],
}


def anomaly_experiments():
    """Experiments with an anomaly section (the anomaly stage), in config order."""
    return [name for name, exp in config["experiments"].items() if exp["anomaly"]]


# Bottleneck models with encode and decode: their code space is drawn for labelled images.
LATENT_MODELS = {
    "dense_ae",
    "conv_ae",
    "sparse_ae",
    "contractive_ae",
    "linear_ae",
    "stacked_ae",
    "vae",
}


def has_latent_figures(experiment):
    exp = config["experiments"][experiment]
    kind = config["datasets"][exp["dataset"]]["kind"]
    return exp["model"] in LATENT_MODELS and kind in ("images", "fashion_mnist")


# Figures of an experiment with an anomaly section; mass_sculpting for jets only.
ANOMALY_FIGURES = ["anomaly_scores", "roc", "anomaly_examples", "mass_sculpting"]


def generative(experiment):
    """Evaluated on its samples (rule generate) rather than on test reconstructions."""
    return is_generative(config["experiments"][experiment], config["datasets"])


def dataset_kind(experiment):
    return config["datasets"][config["experiments"][experiment]["dataset"]]["kind"]


def classifier_input(wildcards):
    """The feature classifier of the experiment's dataset, when it is labelled."""
    if dataset_kind(wildcards.experiment) not in LABELLED_KINDS:
        return []
    dataset = config["experiments"][wildcards.experiment]["dataset"]
    return [f"results/classifiers/{dataset}/classifier.json"]


def class_histogram_experiments(dataset):
    """Generative experiments on a labelled dataset, in config order."""
    return [
        name
        for name, exp in config["experiments"].items()
        if exp["dataset"] == dataset
        and generative(name)
        and dataset_kind(name) in LABELLED_KINDS
    ]


def metrics_json(experiment):
    if generative(experiment):
        return f"results/generative/{experiment}/metrics.json"
    return f"results/eval/{experiment}/metrics.json"


def generative_figures(experiment):
    names = ["history", "samples"]
    if config["experiments"][experiment]["model"] in ("vae", "galaxy_vae"):
        names.append("latent_interpolation")
    if dataset_kind(experiment) == "airshowers":
        names.append("observables")
    return names


def figures(experiment):
    """The figures an experiment gets, by the modality of its data."""
    exp = config["experiments"][experiment]
    if generative(experiment):
        return [
            f"results/figures/{experiment}/{name}.png"
            for name in generative_figures(experiment)
        ]
    names = list(FIGURES[modality(experiment)])
    if exp["evaluate"]["also_on"] and modality(experiment) == "images":
        names.append("also_on_examples")
    if has_latent_figures(experiment):
        names += ["latent_space", "latent_walks"]
    if exp["anomaly"]:
        jets = config["datasets"][exp["dataset"]]["kind"] == "jets"
        names += [f for f in ANOMALY_FIGURES if jets or f != "mass_sculpting"]
    return [f"results/figures/{experiment}/{name}.png" for name in names]


def dataset_figures():
    """Example traces of every trace dataset an experiment uses (the blog's Fig. 1)."""
    used = set()
    for name, exp in config["experiments"].items():
        if modality(name) == "traces":
            used.update([exp["dataset"], *exp["evaluate"]["also_on"]])
    return [
        f"results/figures/datasets/{dataset}/traces.png" for dataset in sorted(used)
    ]


def all_targets():
    targets = ["results/summary/metrics.html", *dataset_figures()]
    if config["compression"]:
        targets.append(
            f"results/figures/compression/{config['compression']['dataset']}.png"
        )
    datasets = {exp["dataset"] for exp in config["experiments"].values()}
    for dataset in sorted(datasets):
        if class_histogram_experiments(dataset):
            targets.append(f"results/figures/datasets/{dataset}/class_histogram.png")
    for experiment in config["experiments"]:
        targets.append(metrics_json(experiment))
        if generative(experiment):
            targets.extend(figures(experiment))
            continue
        if modality(experiment) == "traces":
            targets.append(f"results/eval/{experiment}/spectra.zarr")
        if config["experiments"][experiment]["anomaly"]:
            targets.append(f"results/anomaly/{experiment}/thresholds.json")
        targets.extend(figures(experiment))
    return targets
