# Config validation and every helper the rules use. No rules here. The decisions (paths,
# which stage judges an experiment, which figures it gets) are in aeflow.plan, which the
# aeflow CLI reads too.

import functools
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

import jinja2

from aeflow import plan
from aeflow.config import validate_config

# Validate once, fill the schema's defaults, and fail before any job starts.
_validated = validate_config(config, source="config (config/config.yaml + overrides)")
config.clear()
config.update(_validated)
PLAN = plan.Plan(config)


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
    return plan.training_spec(config["experiments"][wildcards.experiment])


def local_source(wildcards):
    """The user's local raw file, so that changing it reruns the fetch."""
    source = config["datasets"][wildcards.dataset]["source"]
    return [] if source in ("simulate", "download", "installed") else [source]


def raw_input(wildcards):
    return plan.raw_path(wildcards.dataset, config["datasets"][wildcards.dataset])


def experiment_prepared(wildcards):
    return plan.prepared(PLAN.dataset_of(wildcards.experiment))


def also_on(wildcards):
    return config["experiments"][wildcards.experiment]["evaluate"]["also_on"]


def also_on_prepared(wildcards):
    return [plan.prepared(name) for name in also_on(wildcards)]


def train_threads(wildcards):
    return config["experiments"][wildcards.experiment]["train"]["threads"]


def uses_gpu(wildcards):
    return int(config["experiments"][wildcards.experiment]["train"]["device"] != "cpu")


def classifier_input(wildcards):
    """The feature classifier of the experiment's dataset, when it is labelled."""
    if not PLAN.uses_classifier(wildcards.experiment):
        return []
    dataset = PLAN.dataset_of(wildcards.experiment)
    return [f"{plan.classifier_dir(dataset)}/classifier.json"]


# ---- figures: one rule for an experiment's, one for a dataset's; the table is plan.FIGURES


def experiment_figure_inputs(wildcards):
    return PLAN.figure_inputs(wildcards.experiment, wildcards.figure)


def dataset_figure_inputs(wildcards):
    return PLAN.figure_inputs(wildcards.dataset, wildcards.figure, dataset_scope=True)


def experiment_kind(wildcards):
    return PLAN.kind(wildcards.experiment).name


def _render_caption(figure, wildcards, dataset_scope):
    """The figure's caption (workflow/report/<caption>.rst, Jinja with snakemake.wildcards
    and snakemake.config), rendered here so one rule serves every figure."""
    template = _caption_template(plan.figure_spec(figure, dataset_scope).caption)
    ns = {"wildcards": wildcards, "config": config}
    return template.render(snakemake=type("Snakemake", (), ns))


@functools.cache
def _caption_template(caption):
    """A caption file, read and compiled once per run (not once per figure job)."""
    path = Path(workflow.basedir) / "workflow/report" / f"{caption}.rst"
    return jinja2.Template(path.read_text())


def experiment_caption(wildcards):
    return _render_caption(wildcards.figure, wildcards, False)


def dataset_caption(wildcards):
    return _render_caption(wildcards.figure, wildcards, True)


def experiment_figure_label(wildcards):
    return {"figure": plan.figure_spec(wildcards.figure).label}


def dataset_figure_label(wildcards):
    spec = plan.figure_spec(wildcards.figure, dataset_scope=True)
    return {"figure": spec.label, "dataset": wildcards.dataset}


def dataset_figure_category(wildcards):
    return plan.figure_spec(wildcards.figure, dataset_scope=True).category
