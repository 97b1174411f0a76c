"""``aeflow <stage>``: run one stage by hand, with the workflow's paths and validated config.

    aeflow check --config config/config.yaml
    aeflow fetch --config config/config.yaml --dataset saxs
    aeflow prepare --config config/config.yaml --dataset saxs
    aeflow train --config config/config.yaml --experiment saxs_dae
    aeflow evaluate --config config/config.yaml --experiment saxs_dae
    aeflow evaluate --config config/config.yaml --experiment radio_galactic_dae  # + spectra
    aeflow anomaly --config config/config.yaml --experiment jets_ae

Snakemake calls the same functions (src/aeflow/stages.py) from the rules; use the workflow to
get the whole chain, and this to poke at one step.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from aeflow.config import ConfigError, load_config


def _raw_path(config, dataset: str) -> Path:
    from aeflow.data.sources import raw_suffix

    return Path("data/raw") / f"{dataset}{raw_suffix(config['datasets'][dataset]['source'])}"


def _prepared(dataset: str) -> Path:
    return Path("results/prepared") / f"{dataset}.zarr"


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
        choices=["check", "fetch", "prepare", "init-mlflow", "train", "evaluate", "anomaly"],
    )
    parser.add_argument("--config", default="config/config.yaml", help="YAML config file")
    parser.add_argument("--dataset", help="dataset name (fetch, prepare)")
    parser.add_argument("--experiment", help="experiment name (train, evaluate, anomaly)")
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
        elif args.stage in ("fetch", "prepare"):
            name = _pick(config, "datasets", args.dataset)
            ds = config["datasets"][name]
            if args.stage == "fetch":
                stages.fetch_raw(name, ds, _raw_path(config, name))
            else:
                stages.prepare(name, ds, _raw_path(config, name), _prepared(name))
        elif args.stage == "init-mlflow":
            stages.init_mlflow(config["mlflow"], "results/mlflow/store.json")
        else:
            name = _pick(config, "experiments", args.experiment)
            exp = config["experiments"][name]
            model_dir = Path("results/models") / name
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
