"""The anomaly suite: reconstruction errors as anomaly scores, thresholds fitted on the
validation split by each configured strategy, test metrics of the autoencoder beside the
baselines (PCA reconstruction error, Isolation Forest, and the kind's own observable, e.g.
the jet mass), and the check that a cut does not sculpt that observable."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import xarray as xr

from aeflow.data.kinds import Kind
from aeflow.data.split import split_index
from aeflow.evaluation import anomaly as am
from aeflow.evaluation.anomaly_scores import (
    fit_isolation_forest,
    fit_mahalanobis,
    fit_pca_score,
    reconstruction_score,
)
from aeflow.evaluation.suites.common import (
    Predict,
    concat_values,
    position_blocks,
    position_values,
)

# normal training samples the Isolation Forest is fitted on, at most (its 200 trees draw 256
# each: 51,200 draws)
FOREST_MAX_TRAIN = 20_000


def _scalars(block: dict[str, Any], prefix: str = "") -> dict[str, float]:
    return {
        f"{prefix}{k}": v for k, v in block.items() if isinstance(v, int | float) and np.isfinite(v)
    }


class AnomalyDetection:
    """Built from the ``anomaly:`` section of an experiment and its dataset's kind."""

    summary_title = (
        "Anomaly detection: test AUROC and background rejection 1/eps_B of the "
        "autoencoder's reconstruction error beside the baselines"
    )

    def __init__(self, cfg: dict[str, Any], kind: Kind, seed: int, where: str = "") -> None:
        self.cfg, self.kind, self.seed, self.where = cfg, kind, seed, where
        self.forest_samples: int | None = None  # normal training samples the forest saw

    def _validation_test(self, ds: xr.Dataset, context: str):
        """The validation and test samples, checked: normal ones in both, anomalous in test."""
        if "is_anomaly" not in ds:
            raise ValueError(f"{self.where}: no 'is_anomaly' labels ({context})")
        sub = ds.isel(sample=np.concatenate([split_index(ds, "val"), split_index(ds, "test")]))
        split = np.where(sub["split"].values == "test", "test", "val")
        is_anomaly = sub["is_anomaly"].values.astype(bool)
        for s in ("val", "test"):
            in_split = split == s
            if not (in_split & ~is_anomaly).any() or (
                s == "test" and not (in_split & is_anomaly).any()
            ):
                needs = "normal" + (" and anomalous" if s == "test" else "")
                raise ValueError(f"{self.where}: the {s} split needs {needs} samples for {context}")
        return sub, split, is_anomaly

    def _scorers(self, ds, code_size: int | None, encode, block_samples: int) -> dict:
        """Per-method scores of a block of (inputs, the autoencoder's outputs): the
        autoencoder's reconstruction error (with score ``latent`` the Mahalanobis distance of
        its code, ``encode`` giving codes) and every configured baseline, fitted on the
        normal training samples read ``block_samples`` at a time (the Isolation Forest on at
        most :data:`FOREST_MAX_TRAIN` of them, drawn by the seed: its trees see 256 each)."""
        bl = self.cfg["baselines"]
        train = split_index(ds, "train", normal_only=True)

        def train_blocks():
            return position_values(ds["input"], train, block_samples)

        scorers: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {}
        kind = self.cfg["score"]
        if kind == "latent":
            if encode is None:
                raise ValueError(f"{self.where}: anomaly.score latent needs a model with a code")
            distance = fit_mahalanobis(np.concatenate([encode(x) for x in train_blocks()]))
            scorers["autoencoder"] = lambda x, y: distance(encode(x))
        else:
            scorers["autoencoder"] = lambda x, y: reconstruction_score(x, y, kind)
        self.n_components = bl["pca_components"] or code_size or 32
        if bl["pca"]:
            pca = fit_pca_score(train_blocks(), self.n_components)
            scorers["pca"] = lambda x, y: pca(x)
        if bl["isolation_forest"]:
            picks = train
            if len(train) > FOREST_MAX_TRAIN:
                rng = np.random.default_rng(self.seed)
                picks = np.sort(rng.choice(train, FOREST_MAX_TRAIN, replace=False))
            forest = fit_isolation_forest(
                ds["input"].isel(sample=picks).values, bl["n_estimators"], seed=self.seed
            )
            self.forest_samples = len(picks)
            scorers["isolation_forest"] = lambda x, y: forest(x)
        return scorers

    def scores(self, predict: Predict, ds, sub, code_size, encode, block_samples: int):
        """Per-sample scores of ``sub`` (the validation and test samples) by the autoencoder
        and every baseline, ``block_samples`` at a time; the kind's observable (the jet mass)
        scores by itself."""
        scorers = self._scorers(ds, code_size, encode, block_samples)
        kept: dict[str, list[np.ndarray]] = {name: [] for name in scorers}
        for part in position_blocks(sub, np.arange(sub.sizes["sample"]), block_samples):
            inputs = part["input"].values
            outputs = predict(inputs)
            for name, score in scorers.items():
                kept[name].append(score(inputs, outputs))
        scores = concat_values(kept)
        bl = self.cfg["baselines"]
        observable = self.kind.anomaly_observable  # baselines.<observable>: score by it alone
        if observable and bl.get(observable) and observable in sub:
            # the observable flags the heavier (top) jets; the inverse task the lighter
            sign = -1.0 if self.cfg.get("invert") else 1.0
            scores[observable] = sign * sub[observable].values.astype(np.float64)
        return scores

    def block(self, score: np.ndarray, split: np.ndarray, is_anomaly: np.ndarray):
        """Thresholds from validation scores, then the test metrics of one score."""
        val, test = split == "val", split == "test"
        val_anomalous = score[val & is_anomaly]
        strategies = {
            k: v
            for k, v in self.cfg["thresholds"].items()
            if not (k == "f1" and not val_anomalous.size)  # F1 needs labelled anomalies
        }
        thresholds = am.thresholds_from(strategies, score[val & ~is_anomaly], val_anomalous)
        metrics = am.anomaly_metrics(
            score[test & ~is_anomaly],
            score[test & is_anomaly],
            thresholds,
            fprs=self.cfg["fprs"],
            signal_efficiency=self.cfg["signal_efficiency"],
        )
        return {"thresholds": thresholds, **metrics}

    def evaluate(
        self,
        predict: Predict,
        ds: xr.Dataset,
        code_size: int | None,
        context: str,
        encode=None,
        block_samples: int = 4096,
    ):
        """(summary block, per-sample scores Dataset, examples Dataset) of the val+test set,
        judged ``block_samples`` at a time; ``encode`` (inputs -> codes) for score
        ``latent``."""
        sub, split, is_anomaly = self._validation_test(ds, context)
        scores = self.scores(predict, ds, sub, code_size, encode, block_samples)
        results = {name: self.block(s, split, is_anomaly) for name, s in scores.items()}
        ae = results.pop("autoencoder")
        names = self.names(ds)
        summary = {
            "score": self.cfg["score"],
            "trained_on": self.cfg["train_on"],
            "normal": names[0],
            "anomalous": names[1],
            "sweep": self.cfg.get("sweep"),
            "n_val_normal": int(((split == "val") & ~is_anomaly).sum()),
            "n_val_anomalous": int(((split == "val") & is_anomaly).sum()),
            "pca_components": int(self.n_components),
            "isolation_forest_samples": self.forest_samples,
            **ae,
            "baselines": results,
        }
        observable = self.kind.anomaly_observable
        if observable and observable in sub:  # does the cut sculpt it? (test normal samples)
            normal = (split == "test") & ~is_anomaly
            summary["mass_sculpting"] = am.mass_sculpting(
                sub[observable].values[normal], scores["autoencoder"][normal], ae["thresholds"]
            )
        per_sample = self._scores_dataset(sub, split, is_anomaly, scores)
        examples = self._examples(sub, split, is_anomaly, predict, scores["autoencoder"])
        return summary, per_sample, examples

    def names(self, ds: xr.Dataset) -> tuple[str, str]:
        """What is normal and what anomalous here: the experiment's (``is_anomaly``'s
        ``names``), else the kind's."""
        names = ds["is_anomaly"].attrs.get("names") or self.kind.anomaly_names
        return str(names[0]), str(names[1])

    def _scores_dataset(self, sub, split, is_anomaly, scores) -> xr.Dataset:
        coords = {"sample": sub["sample"].values, "split": ("sample", split.astype(object))}
        data = {
            "score": ("sample", scores["autoencoder"]),
            "is_anomaly": ("sample", is_anomaly),
            **{f"baseline_{k}": ("sample", v) for k, v in scores.items() if k != "autoencoder"},
        }
        for name, var in sub.data_vars.items():  # per-sample labels and observables
            if var.dims == ("sample",) and name != "is_anomaly":
                data[name] = ("sample", var.values)
        out = xr.Dataset(data, coords=coords)
        out["score"].attrs = {"long_name": f"reconstruction error ({self.cfg['score']})"}
        out.attrs["anomaly_names"] = list(self.names(sub))
        return out

    def _examples(self, sub, split, is_anomaly, predict: Predict, score) -> xr.Dataset:
        """The most and the least anomalous test samples with their reconstructions."""
        test_idx = np.flatnonzero(split == "test")
        order = test_idx[np.argsort(score[test_idx], kind="stable")]
        k = min(self.cfg["n_examples"], len(order) // 2)
        picks = np.r_[order[::-1][:k], order[:k]]
        inputs = sub["input"].isel(sample=picks).values
        dims = ("example", *sub["input"].dims[1:])
        return xr.Dataset(
            {
                "input": (dims, inputs),
                "output": (dims, predict(inputs)),
                "score": ("example", score[picks]),
                "is_anomaly": ("example", is_anomaly[picks]),
                "rank": ("example", np.array(["most"] * k + ["least"] * k, dtype=object)),
            }
        )

    @staticmethod
    def flat(summary: dict[str, Any]) -> dict[str, float]:
        out = _scalars(summary)
        for name, b in summary["baselines"].items():
            out |= _scalars(b, f"{name}.")
        return out

    @staticmethod
    def headline(summary: dict[str, Any]) -> str:
        base = ", ".join(f"{k} {v['auroc']:.3f}" for k, v in summary["baselines"].items())
        return f"AUROC {summary['auroc']:.3f} ({base})"

    @staticmethod
    def summary_rows(experiment: str, t: dict[str, Any]) -> list[dict[str, Any]]:
        eff = next(k for k in t if k.startswith("background_rejection_at_eff_"))
        row = {
            "experiment": experiment,
            "dataset": t["dataset"],
            "anomalous": t.get("anomalous"),
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
        return [row]

    @staticmethod
    def sweep_aurocs(records: list[dict[str, Any]]) -> dict[str, tuple[list[str], dict]]:
        """The anomaly records of ``anomaly.classes: each`` sweeps, by sweep: (the held-out
        class of each record, method -> its test AUROC per record; ``autoencoder`` first)."""
        sweeps: dict[str, list[dict[str, Any]]] = {}
        for t in records:
            if t.get("sweep"):
                sweeps.setdefault(t["sweep"], []).append(t)
        return {
            sweep: (
                [t.get("anomalous") for t in ts],
                {"autoencoder": [t["auroc"] for t in ts]}
                | {b: [t["baselines"][b]["auroc"] for t in ts] for b in ts[0]["baselines"]},
            )
            for sweep, ts in sweeps.items()
        }

    @staticmethod
    def sweep_rows(records: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
        """One row per ``anomaly.classes: each`` sweep: the mean and sd of each method's
        test AUROC over the held-out classes."""
        datasets = {t["sweep"]: t["dataset"] for _, t in records if t.get("sweep")}
        rows = []
        sweeps = AnomalyDetection.sweep_aurocs([t for _, t in records])
        for sweep, (classes, methods) in sweeps.items():
            row = {
                "experiment": f"{sweep} (mean ± sd over {len(classes)} held-out classes)",
                "dataset": datasets[sweep],
                "anomalous": "each class in turn",
            }
            for name, values in methods.items():
                label = "AE" if name == "autoencoder" else name
                row[f"{label} AUROC"] = f"{np.mean(values):.3f} ± {np.std(values, ddof=1):.3f}"
            rows.append(row)
        return rows
