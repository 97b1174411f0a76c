"""``aeflow <stage>``: run one stage by hand, with the workflow's paths and validated config.

    aeflow check --config config/config.yaml
    aeflow fetch --config config/config.yaml --dataset saxs
    aeflow prepare --config config/config.yaml --dataset saxs
    aeflow train --config config/config.yaml --experiment saxs_dae
    aeflow evaluate --config config/config.yaml --experiment saxs_dae
    aeflow evaluate --config config/config.yaml --experiment radio_galactic_dae  # + spectra
    aeflow anomaly --config config/config.yaml --experiment jets_ae
    aeflow classifier --config config/config.yaml --dataset galaxies
    aeflow generate --config config/config.yaml --experiment galaxy_wgan_gp

Snakemake calls the same functions (src/aeflow/stages.py) from the rules; use the workflow to
get the whole chain, and this to poke at one step.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from aeflow.config import LABELLED_KINDS, ConfigError, is_generative, load_config


def _raw_path(config, dataset: str) -> Path:
    from aeflow.data.sources import raw_suffix

    return Path("data/raw") / f"{dataset}{raw_suffix(config['datasets'][dataset]['source'])}"


def _prepared(dataset: str) -> Path:
    return Path("results/prepared") / f"{dataset}.zarr"


def _classifier_dir(dataset: str) -> Path:
    return Path("results/classifiers") / dataset


def _pick(config, section: str, name: str | None) -> str:
    if name is None:
        if len(config[section]) != 1:
            raise ConfigError(f"{section}: name one of {', '.join(config[section])}")
        return next(iter(config[section]))
    if name not in config[section]:
        raise ConfigError(f"{section}: no entry {name!r} (known: {', '.join(config[section])})")
    return name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="aeflow", description=__doc__.splitlines()[0])
    parser.add_argument(
        "stage",
        choices=[
            "check",
            "fetch",
            "prepare",
            "init-mlflow",
            "train",
            "evaluate",
            "anomaly",
            "classifier",
            "generate",
        ],
    )
    parser.add_argument("--config", default="config/config.yaml", help="YAML config file")
    parser.add_argument("--dataset", help="dataset name (fetch, prepare, classifier)")
    parser.add_argument("--experiment", help="experiment name (train, evaluate, anomaly, generate)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    from aeflow import stages

    try:
        config = load_config(args.config)
        if args.stage == "check":
            print(json.dumps(config, indent=2))
        elif args.stage in ("fetch", "prepare", "classifier"):
            name = _pick(config, "datasets", args.dataset)
            ds = config["datasets"][name]
            if args.stage == "fetch":
                stages.fetch_raw(name, ds, _raw_path(config, name))
            elif args.stage == "prepare":
                stages.prepare(name, ds, _raw_path(config, name), _prepared(name))
            else:
                from aeflow.generation import train_classifier

                record = train_classifier(
                    name,
                    config["classifier"],
                    _prepared(name),
                    _classifier_dir(name),
                    threads=args.threads,
                )
                print(json.dumps({"test_accuracy": round(record["test_accuracy"], 4)}))
        elif args.stage == "init-mlflow":
            stages.init_mlflow(config["mlflow"], "results/mlflow/store.json")
        else:
            name = _pick(config, "experiments", args.experiment)
            exp = config["experiments"][name]
            model_dir = Path("results/models") / name
            generative = is_generative(exp, config["datasets"])
            if args.stage in ("evaluate", "anomaly", "generate") and generative != (
                args.stage == "generate"
            ):
                use = "generate" if generative else "evaluate"
                raise ConfigError(
                    f"experiments.{name}: {'a' if generative else 'not a'} generative "
                    f"experiment: use 'aeflow {use}'"
                )
            if args.stage == "train":
                stages.train(
                    name,
                    exp,
                    config["mlflow"],
                    _prepared(exp["dataset"]),
                    model_dir,
                    Path("results/checkpoints") / name,
                    threads=args.threads,
                )
            elif args.stage == "generate":
                from aeflow.generation import generate

                kind = config["datasets"][exp["dataset"]]["kind"]
                clf = _classifier_dir(exp["dataset"]) if kind in LABELLED_KINDS else None
                if clf is not None and not (clf / "classifier.json").exists():
                    raise FileNotFoundError(
                        f"{clf / 'classifier.json'}: train the feature classifier first "
                        f"(aeflow classifier --dataset {exp['dataset']})"
                    )
                metrics = generate(
                    name,
                    exp,
                    config["mlflow"],
                    model_dir,
                    _prepared(exp["dataset"]),
                    clf,
                    Path("results/generative") / name,
                    threads=args.threads,
                )
                g = metrics["generator"]
                keys = ("frechet_distance", "precision", "recall")
                print(json.dumps({k: round(g[k], 4) for k in keys}))
            elif args.stage == "anomaly":
                summary = stages.anomaly(
                    name,
                    exp,
                    config["mlflow"],
                    model_dir,
                    _prepared(exp["dataset"]),
                    Path("results/anomaly") / name,
                    threads=args.threads,
                )
                aurocs = {k: round(b["auroc"], 4) for k, b in summary["baselines"].items()}
                print(json.dumps({"auroc": round(summary["auroc"], 4), "baselines": aurocs}))
            else:
                also_on = {d: _prepared(d) for d in exp["evaluate"]["also_on"]}
                out_dir = Path("results/eval") / name
                metrics = stages.evaluate(
                    name,
                    exp,
                    config["mlflow"],
                    model_dir,
                    _prepared(exp["dataset"]),
                    also_on,
                    out_dir,
                    threads=args.threads,
                )
                if metrics["modality"] == "traces":
                    stages.spectra(
                        out_dir / "predictions.zarr", list(also_on), out_dir / "spectra.zarr"
                    )
    except (ConfigError, ValueError, FileNotFoundError) as exc:
        print(f"aeflow {args.stage}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
