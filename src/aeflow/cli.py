"""``aeflow <stage>``: run one stage by hand, with the workflow's paths and validated config.

    aeflow check --config config/config.yaml
    aeflow fetch --config config/config.yaml --dataset saxs
    aeflow prepare --config config/config.yaml --dataset saxs
    aeflow init-mlflow --config config/config.yaml
    aeflow train --config config/config.yaml --experiment saxs_dae
    aeflow evaluate --config config/config.yaml --experiment saxs_dae
    aeflow evaluate --config config/config.yaml --experiment radio_galactic_dae  # + spectra
    aeflow anomaly --config config/config.yaml --experiment jets_ae
    aeflow classifier --config config/config.yaml --dataset galaxies
    aeflow generate --config config/config.yaml --experiment galaxy_wgan_gp
    aeflow reproduction --config config/lectures.yaml   # published numbers beside ours
    aeflow verify   # every store under results/ against its manifest

Snakemake calls the same functions (src/aeflow/stages/) from the rules, with the same paths
(src/aeflow/plan.py); use the workflow to get the whole chain, and this to poke at one step.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from aeflow import __version__, memory, plan
from aeflow.config import ConfigError, load_config

DEFAULT_CONFIG = "config/config.yaml"
_CONFIG_FILE = DEFAULT_CONFIG  # the --config of this invocation (tables name it)


def _pick(config, section: str, name: str | None) -> str:
    if name is None:
        if len(config[section]) != 1:
            raise ConfigError(f"{section}: name one of {', '.join(config[section])}")
        return next(iter(config[section]))
    if name not in config[section]:
        raise ConfigError(f"{section}: no entry {name!r} (known: {', '.join(config[section])})")
    return name


# ---- dataset stages ----------------------------------------------------------------------------
def _fetch(config, name: str, threads: int) -> None:
    from aeflow.stages.data import fetch_raw

    ds = config["datasets"][name]
    fetch_raw(name, ds, plan.raw_path(name, ds))


def _prepare(config, name: str, threads: int) -> None:
    from aeflow.stages.data import prepare

    ds = config["datasets"][name]
    prepare(name, ds, plan.raw_path(name, ds), plan.prepared(name))


def _classifier(config, name: str, threads: int) -> None:
    from aeflow.stages.classifier import train_classifier

    record = train_classifier(
        name,
        config["classifier"],
        plan.prepared(name),
        plan.classifier_dir(name),
        threads=threads,
    )
    print(json.dumps({"test_accuracy": round(record["test_accuracy"], 4)}))


# ---- experiment stages -------------------------------------------------------------------------
def _train(config, name: str, threads: int) -> None:
    from aeflow.stages.train import train

    exp = config["experiments"][name]
    train(
        name,
        exp,
        config["mlflow"],
        plan.prepared(exp["dataset"]),
        plan.model_dir(name),
        plan.checkpoint_dir(name),
        threads=threads,
    )


def _evaluate(config, name: str, threads: int) -> None:
    from aeflow.stages.evaluate import evaluate, spectra

    exp = config["experiments"][name]
    also_on = {d: plan.prepared(d) for d in exp["evaluate"]["also_on"]}
    out_dir = Path(plan.eval_dir(name))
    metrics = evaluate(
        name,
        exp,
        config["mlflow"],
        plan.model_dir(name),
        plan.prepared(exp["dataset"]),
        also_on,
        out_dir,
        threads=threads,
    )
    if metrics["mode"] == "traces":  # reconstructed traces (not a detector's scores)
        spectra(out_dir / "predictions.zarr", list(also_on), out_dir / "spectra.zarr")


def _anomaly(config, name: str, threads: int) -> None:
    from aeflow.stages.anomaly import anomaly

    exp = config["experiments"][name]
    summary = anomaly(
        name,
        exp,
        config["mlflow"],
        plan.model_dir(name),
        plan.prepared(exp["dataset"]),
        plan.anomaly_dir(name),
        threads=threads,
    )
    aurocs = {k: round(b["auroc"], 4) for k, b in summary["baselines"].items()}
    print(json.dumps({"auroc": round(summary["auroc"], 4), "baselines": aurocs}))


def _generate(config, name: str, threads: int) -> None:
    from aeflow.stages.generate import generate

    exp = config["experiments"][name]
    clf = None
    if plan.Plan(config).uses_classifier(name):
        clf = Path(plan.classifier_dir(exp["dataset"]))
        if not (clf / "classifier.json").exists():
            raise FileNotFoundError(
                f"{clf / 'classifier.json'}: train the feature classifier first "
                f"(aeflow classifier --dataset {exp['dataset']})"
            )
    metrics = generate(
        name,
        exp,
        config["mlflow"],
        plan.model_dir(name),
        plan.prepared(exp["dataset"]),
        clf,
        plan.generative_dir(name),
        threads=threads,
    )
    g = metrics["generator"]
    print(json.dumps({k: round(g[k], 4) for k in ("frechet_distance", "precision", "recall")}))


def _check(config, name: str | None, threads: int) -> None:
    print(json.dumps(config, indent=2))


def _init_mlflow(config, name: str | None, threads: int) -> None:
    from aeflow.stages.tracking import init_mlflow

    init_mlflow(config["mlflow"], plan.MLFLOW_STORE)


def _reproduction(config, name: str | None, threads: int) -> None:
    """results/reproduction.json and its report page from the records already written."""
    from aeflow.stages.reproduction import reproduction_table

    p = plan.Plan(config)
    records = p.reproduction_records()
    if not records:
        raise ConfigError("reproduction: the config binds no published numbers")
    doc = reproduction_table(
        config["reproduction"],
        records,
        p.reproduction_prepared(),
        Path(_CONFIG_FILE).name,
        config["mlflow"]["experiment"],
        plan.REPRODUCTION,
        plan.REPRODUCTION_TABLE,
    )
    print(json.dumps(doc["verdicts"]))


def _verify(config, name: str | None, threads: int) -> None:
    """Check every Zarr store under results/ against its manifest; name the damaged ones."""
    from aeflow.data.store import StoreIntegrityError, verify_store

    stores = sorted(Path("results").rglob("*.zarr"))
    damaged = []
    for store in stores:
        if any(part.startswith(".") for part in store.parts):  # a writer's temporary
            continue
        try:
            print(f"ok       {store}  (content {verify_store(store)[:12]})")
        except StoreIntegrityError as exc:
            print(f"DAMAGED  {exc}")
            damaged.append(store)
    if damaged:
        raise ValueError(
            f"{len(damaged)} of {len(stores)} stores damaged; remove them "
            f"(rm -r {' '.join(map(str, damaged))}) and run snakemake again to rebuild them "
            "and what depends on them"
        )


class Stage(NamedTuple):
    section: str | None  # the config section its --dataset / --experiment picks from
    run: Callable[[Any, Any, int], None]
    summary: str  # its line in `aeflow --help` and the head of `aeflow <stage> --help`
    threads: bool = False  # whether it takes --threads


STAGES: dict[str, Stage] = {
    "check": Stage(None, _check, "validate a config and print it with every default filled"),
    "fetch": Stage(
        "datasets", _fetch, "simulate, download or copy a dataset's raw file (hash-checked)"
    ),
    "prepare": Stage(
        "datasets", _prepare, "log-scale, normalize and split a raw file into its Zarr store"
    ),
    "init-mlflow": Stage(None, _init_mlflow, "create the MLflow store and experiment (once)"),
    "verify": Stage(None, _verify, "check every Zarr store under results/ against its manifest"),
    "reproduction": Stage(
        None, _reproduction, "the published numbers beside ours, from the records written"
    ),
    "train": Stage("experiments", _train, "train an experiment's model (resumes)", True),
    "evaluate": Stage(
        "experiments", _evaluate, "test loss, physics metrics and baselines of a model", True
    ),
    "anomaly": Stage(
        "experiments", _anomaly, "anomaly scores, ROC, thresholds and baselines", True
    ),
    "classifier": Stage(
        "datasets", _classifier, "the feature classifier that judges generated samples", True
    ),
    "generate": Stage(
        "experiments", _generate, "sample a generator and judge it (FD, precision, recall)", True
    ),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aeflow",
        description=__doc__.split("\n\n")[0].replace("``", ""),
        epilog="`aeflow <stage> --help` shows a stage's options. The whole chain: snakemake.",
    )
    parser.add_argument("--version", action="version", version=f"aeflow {__version__}")
    stages = parser.add_subparsers(dest="stage", required=True, metavar="<stage>")
    for name, stage in STAGES.items():
        sub = stages.add_parser(
            name, help=stage.summary, description=f"aeflow {name}: {stage.summary}."
        )
        sub.add_argument(
            "--config", default=DEFAULT_CONFIG, help="YAML config file (default: %(default)s)"
        )
        if stage.section == "datasets":
            sub.add_argument(
                "--dataset", help="dataset name (may be left out when the config has one)"
            )
        elif stage.section == "experiments":
            sub.add_argument(
                "--experiment", help="experiment name (may be left out when the config has one)"
            )
        if stage.threads:
            sub.add_argument("--threads", type=int, default=1, help="CPU threads (default: 1)")
        sub.add_argument("--debug", action="store_true", help="show the traceback of an error")
    return parser


def _check_judged_by(config, stage: str, name: str) -> None:
    """evaluate and anomaly judge reconstructions, generate judges samples: refuse the other."""
    if stage not in ("evaluate", "anomaly", "generate"):
        return
    generative = plan.Plan(config).generative(name)
    if generative != (stage == "generate"):
        use = "generate" if generative else "evaluate"
        raise ConfigError(
            f"experiments.{name}: {'a' if generative else 'not a'} generative "
            f"experiment: use 'aeflow {use}'"
        )


def main(argv: list[str] | None = None) -> int:
    if argv is None:  # the aeflow command (not a call from Python): glibc's malloc tuned
        memory.restart_with_malloc_tunables()
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    stage = STAGES[args.stage]
    global _CONFIG_FILE
    _CONFIG_FILE = args.config
    try:
        config = load_config(args.config)
        name = None
        if stage.section is not None:
            wanted = args.dataset if stage.section == "datasets" else args.experiment
            name = _pick(config, stage.section, wanted)
            _check_judged_by(config, args.stage, name)
        stage.run(config, name, getattr(args, "threads", 1))
    except Exception as exc:
        if args.debug:
            raise
        known = isinstance(exc, ConfigError | ValueError | FileNotFoundError)
        what = str(exc) if known else f"{type(exc).__name__}: {exc}"
        print(f"aeflow {args.stage}: error: {what} (--debug for the traceback)", file=sys.stderr)
        return 2 if known else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
