# Config validation and every helper the rules use. No rules here. The decisions (paths,
# which stage judges an experiment, which figures it gets) are in aeflow.plan, which the
# aeflow CLI reads too.

import os
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from aeflow import memory, plan, reproduction
from aeflow.config import validate_config

# Every job starts with glibc's malloc keeping freed memory in the heap: a training step
# then costs a third less CPU (aeflow.memory.MALLOC_TUNABLES).
os.environ.update(memory.malloc_environ(os.environ) or {})

# Validate once, fill the schema's defaults, and fail before any job starts. Errors name the
# config file(s) actually read (--configfile replaces the default; --config may override).
_files = [str(f) for f in workflow.overwrite_configfiles] or ["config/config.yaml"]
_validated = validate_config(config, source=" + ".join(_files))
# how tables name this run's configuration (the file names, without their folders)
CONFIG_LABEL = " + ".join(Path(f).name for f in _files)
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


# The configured dataset names: a file of the user's under data/raw/ that no dataset is
# named after is their own input, not something a fetch makes.
DATASETS = "|".join(sorted(map(re.escape, config["datasets"]), key=len, reverse=True))


def local_source(wildcards):
    """The user's local raw file, so that changing it reruns the fetch."""
    source = config["datasets"][wildcards.dataset]["source"]
    return [] if source in ("simulate", "download", "installed") else [source]


def raw_input(wildcards):
    return plan.raw_path(wildcards.dataset, config["datasets"][wildcards.dataset])


def experiment_prepared(wildcards):
    return plan.prepared(PLAN.dataset_of(wildcards.experiment))


def init_weights(wildcards):
    """The trained weights a fine-tuning experiment starts from (train.init_from)."""
    other = config["experiments"][wildcards.experiment]["train"]["init_from"]
    return [] if other is None else [f"results/models/{other}/model.pt"]


def also_on(wildcards):
    return config["experiments"][wildcards.experiment]["evaluate"]["also_on"]


def also_on_prepared(wildcards):
    return [plan.prepared(name) for name in also_on(wildcards)]


def train_threads(wildcards):
    return config["experiments"][wildcards.experiment]["train"]["threads"]


# Jobs run where a GPU is: this host has one, or a cluster executor submits them (its
# profile turns the gpu resource into --gpus=1).
GPU_HOST = workflow.non_local_exec or plan.local_gpus() > 0


def uses_gpu(wildcards):
    return int(plan.claims_gpu(config["experiments"][wildcards.experiment], GPU_HOST))


def classifier_input(wildcards):
    """The feature classifier of the experiment's dataset, when it is labelled."""
    if not PLAN.uses_classifier(wildcards.experiment):
        return []
    dataset = PLAN.dataset_of(wildcards.experiment)
    return [f"{plan.classifier_dir(dataset)}/classifier.json"]
