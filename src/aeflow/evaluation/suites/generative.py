"""The generative suite: "does the generated distribution match the real one?" in numbers,
each beside two references: ``real_train`` (real training images against the real test set:
the floor a perfect generator reaches with this many samples) and ``pca_gaussian`` (the
classical generator: a Gaussian in the first principal components of the training images).

- Labelled data (galaxies, image collections): a small classifier trained on the real
  training images gives the feature space of the Fréchet distance, precision and recall,
  and its predictions the class histogram of generated samples (mode coverage) and, for
  conditional models, the fraction of samples recognised as the class asked for.
- Unlabelled data (air-shower footprints): the feature space is the (transformed) pixels,
  and kinds with physical observables compare them by their 1-D Wasserstein distances.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
import xarray as xr

from aeflow.data.kinds import Kind
from aeflow.data.split import split_images, split_labels
from aeflow.evaluation import generative as gm
from aeflow.evaluation.baselines import pca_gaussian_samples
from aeflow.evaluation.feature_net import extract
from aeflow.evaluation.observables import compare_observables, observables_of
from aeflow.models.inference import mean_loss, sample

log = logging.getLogger(__name__)

# Pixel features are used as they are up to this many dimensions, else their PCA.
MAX_PIXEL_FEATURES = 1024
PIXEL_PCA_COMPONENTS = 64


def real_reference(train: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Up to ``n`` real training images drawn without replacement (the floor)."""
    rng = np.random.default_rng(seed + 1)
    if n > len(train):
        log.warning(
            "only %d training images for the real reference of %d samples: its Fréchet "
            "distance carries a larger small-sample bias",
            len(train),
            n,
        )
    return train[np.sort(rng.choice(len(train), size=min(n, len(train)), replace=False))]


def set_metrics(real_f, feats, k: int, seed: int) -> dict[str, float]:
    """Fréchet distance, precision, recall and diversity of one sample set's features."""
    pr = gm.precision_recall(real_f, feats, k=k)
    return {
        "frechet_distance": gm.frechet_distance(real_f, feats),
        "precision": float(pr["precision"]),
        "recall": float(pr["recall"]),
        "diversity": gm.mean_pairwise_distance(feats, seed=seed),
    }


def pixel_features(real, sets, train, seed):
    """The pixels as features (their PCA fitted on the training images when too many)."""
    flat = {name: x.reshape(len(x), -1) for name, x in sets.items()}
    real_flat = real.reshape(len(real), -1)
    if real_flat.shape[1] <= MAX_PIXEL_FEATURES:
        return real_flat, flat
    from sklearn.decomposition import PCA

    pca = PCA(n_components=PIXEL_PCA_COMPONENTS, random_state=seed)
    pca.fit(train.reshape(len(train), -1))
    return pca.transform(real_flat), {k: pca.transform(v) for k, v in flat.items()}


class GenerativeSamples:
    """Built from an experiment's ``generate:`` section, its dataset's kind and (labelled
    data) the feature classifier with its record and the class names."""

    summary_title = (
        "Generative models: Fréchet distance (FD), precision and recall of generated samples "
        "against the real test set in the feature classifier's space (pixels for unlabelled "
        "data), beside the PCA Gaussian baseline and real training images (the floor); the "
        "smallest class share relative to the real one (mode coverage) and acGAN's "
        "requested-class accuracy"
    )

    def __init__(self, gc: dict[str, Any], kind: Kind, classifier=None, names=()) -> None:
        self.gc, self.kind, self.names = gc, kind, list(names)
        self.classifier, self.classifier_record = classifier or (None, None)

    def _sets(self, model, ds, train, n: int, device) -> tuple[dict[str, np.ndarray], Any]:
        """Generated, PCA-Gaussian and real-training sets of ``n`` images; the classes asked
        of a conditional model (drawn with the training set's class mix)."""
        gc = self.gc
        requested = None
        if getattr(model, "conditional", False):
            rng = np.random.default_rng(gc["seed"])
            requested = rng.choice(split_labels(ds, "train"), size=n).astype(np.int64)
        sets = {
            "generator": sample(model, n, requested, gc["batch_size"], device, gc["seed"]),
            "pca_gaussian": pca_gaussian_samples(train, n, gc["pca_components"], gc["seed"]),
            "real_train": real_reference(train, n, gc["seed"]),
        }
        return sets, requested

    def _features(self, ds, real, train, sets, block) -> tuple[np.ndarray, dict, dict]:
        """Features of the real test images and of every set, and the classes the classifier
        predicts for each set (labelled data only)."""
        predicted: dict[str, np.ndarray] = {}
        if self.classifier is None:
            real_f, feats = pixel_features(real, sets, train, self.gc["seed"])
            block["feature_space"] = (
                f"pixels ({real_f.shape[1]}-d)"
                if np.prod(real.shape[1:]) <= MAX_PIXEL_FEATURES
                else f"first {real_f.shape[1]} PCA components of the pixels"
            )
            return real_f, feats, predicted
        cpu, bs = torch.device("cpu"), self.gc["batch_size"]
        real_f, real_p = extract(self.classifier, real, bs, cpu)
        feats = {}
        for name, x in sets.items():
            feats[name], probs = extract(self.classifier, x, bs, cpu)
            predicted[name] = probs.argmax(axis=1)
        block["feature_space"] = f"classifier features ({real_f.shape[1]}-d)"
        block["classifier_test_accuracy"] = self.classifier_record["test_accuracy"]
        # generated shares are the classifier's view: compare them with its view of the real
        # test images (its confusion then cancels); the true shares are kept beside them
        block["class_names"] = self.names
        self.real_fraction = gm.class_histogram(real_p.argmax(axis=1), len(self.names))
        block["real_class_fractions"] = self.real_fraction.round(4).tolist()
        true_fraction = gm.class_histogram(split_labels(ds, "test"), len(self.names))
        block["real_class_fractions_true"] = true_fraction.round(4).tolist()
        return real_f, feats, predicted

    def _requested_accuracy(self, requested, predicted) -> dict[str, Any]:
        acc = gm.per_class_accuracy(requested, predicted, len(self.names))
        return {
            "requested_class_accuracy": gm.requested_class_accuracy(requested, predicted),
            "requested_class_accuracy_per_class": {
                name: None if np.isnan(a) else round(float(a), 4)
                for name, a in zip(self.names, acc, strict=True)  # None: never asked for
            },
        }

    def evaluate(self, model, ds: xr.Dataset, device):
        """(metrics block, generated samples Dataset, baseline samples Dataset)."""
        gc = self.gc
        real, train = split_images(ds, "test"), split_images(ds, "train")
        n = int(gc["n_samples"] or len(real))
        sets, requested = self._sets(model, ds, train, n, device)
        block: dict[str, Any] = {"n_generated": n, "n_real_test": len(real)}
        real_f, feats, predicted = self._features(ds, real, train, sets, block)
        for name in sets:
            block[name] = set_metrics(real_f, feats[name], gc["k"], gc["seed"])
            if name in predicted:
                fractions = gm.class_histogram(predicted[name], len(self.names))
                block[name]["class_fractions"] = fractions.round(4).tolist()
                block[name]["mode_coverage"] = gm.mode_coverage(fractions, self.real_fraction)
        block["real_test_diversity"] = gm.mean_pairwise_distance(real_f, seed=gc["seed"])
        if requested is not None and "generator" in predicted:
            block["generator"] |= self._requested_accuracy(requested, predicted["generator"])
        if self.kind.observables:
            real_obs = observables_of(ds, real)
            block["observables"] = {
                name: compare_observables(real_obs, observables_of(ds, x))
                for name, x in sets.items()
            }
        if not getattr(model, "adversarial", False) and hasattr(model, "loss"):
            block["test_loss"] = mean_loss(model, real, gc["batch_size"], device, gc["seed"])
        return block, *self._sample_stores(sets, requested, predicted)

    def _sample_stores(self, sets, requested, predicted) -> tuple[xr.Dataset, xr.Dataset]:
        n = len(sets["generator"])
        samples = xr.Dataset(
            {"image": (("sample", "channel", "y", "x"), sets["generator"])},
            coords={"sample": np.arange(n)},
        )
        if requested is not None:
            samples["requested"] = ("sample", requested.astype(np.int16))
        if "generator" in predicted:
            samples["predicted"] = ("sample", predicted["generator"].astype(np.int16))
        samples.attrs["class_names"] = self.names
        keep = min(n, 64)
        baseline = xr.Dataset(
            {"image": (("sample", "channel", "y", "x"), sets["pca_gaussian"][:keep])},
            coords={"sample": np.arange(keep)},
        )
        return samples, baseline

    @staticmethod
    def flat(block: dict[str, Any]) -> dict[str, float]:
        return {
            f"{name}.{key}": value
            for name in ("generator", "pca_gaussian", "real_train")
            for key, value in block[name].items()
            if isinstance(value, float)
        }

    @staticmethod
    def headline(m: dict[str, Any]) -> str:
        g = m["generator"]
        return (
            f"FD {g['frechet_distance']:.4g} (PCA {m['pca_gaussian']['frechet_distance']:.4g}, "
            f"real {m['real_train']['frechet_distance']:.4g}), precision {g['precision']:.3f}, "
            f"recall {g['recall']:.3f}"
        )

    @staticmethod
    def summary_rows(experiment: str, m: dict[str, Any]) -> list[dict[str, Any]]:
        row: dict[str, Any] = {"experiment": experiment, "dataset": m["dataset"]}
        row["model"] = m["model"]
        refs = (("generator", "model"), ("pca_gaussian", "PCA"), ("real_train", "real"))
        for name, label in refs:
            row[f"{label} FD"] = m[name]["frechet_distance"]
        for name, label in refs[:2]:
            row[f"{label} precision"] = m[name]["precision"]
            row[f"{label} recall"] = m[name]["recall"]
        row["model diversity / real"] = m["generator"]["diversity"] / m["real_test_diversity"]
        if "mode_coverage" in m["generator"]:
            row["min class share / real"] = m["generator"]["mode_coverage"]["min_ratio"]
        row["requested-class acc."] = m["generator"].get("requested_class_accuracy")
        if "observables" in m:
            for name, label in refs[:2]:
                mean, undefined = _observables_mean(m, name)
                row[f"{label} mean W1/sigma of observables"] = mean
                if name == "generator":
                    row["observables undefined"] = undefined
            for obs, o in m["observables"]["generator"].items():
                row[f"model W1/sigma {obs}"] = o["standardized_wasserstein"]
                row[f"PCA W1/sigma {obs}"] = m["observables"]["pca_gaussian"][obs][
                    "standardized_wasserstein"
                ]
            below, n = _below_pca([m])
            row["observables below PCA"] = f"{below} of {n}"
        row["test loss"] = m.get("test_loss")
        return [row]

    @staticmethod
    def sweep_rows(records: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
        """One row per ``seeds`` sweep: mean ± sd over its seeds of the generator's FD,
        precision and recall, beside the PCA Gaussian's (one fit of the data: no spread), and
        where the experiments have them the smallest class share, the requested-class
        accuracy and the mean W1/sigma of the observables."""
        sweeps: dict[str, list[dict[str, Any]]] = {}
        for _, m in records:
            if m.get("seed_sweep"):
                sweeps.setdefault(m["seed_sweep"], []).append(m)
        rows = []
        for sweep, ms in sweeps.items():
            row: dict[str, Any] = {
                "experiment": f"{sweep} (mean ± sd over {len(ms)} seeds)",
                "dataset": ms[0]["dataset"],
                "model": ms[0]["model"],
            }
            for key, label in (("frechet_distance", "FD"), ("precision", "precision")):
                for name, who in (("generator", "model"), ("pca_gaussian", "PCA")):
                    row[f"{who} {label}"] = _mean_sd([m[name][key] for m in ms])
            for name, who in (("generator", "model"), ("pca_gaussian", "PCA")):
                row[f"{who} recall"] = _mean_sd([m[name]["recall"] for m in ms])
            if all("mode_coverage" in m["generator"] for m in ms):
                shares = [m["generator"]["mode_coverage"]["min_ratio"] for m in ms]
                row["min class share / real"] = _mean_sd(shares)
            accuracy = [m["generator"].get("requested_class_accuracy") for m in ms]
            if None not in accuracy:
                row["requested-class acc."] = _mean_sd(accuracy)
            if all("observables" in m for m in ms):
                for name, who in (("generator", "model"), ("pca_gaussian", "PCA")):
                    means = [_observables_mean(m, name)[0] for m in ms]
                    if None not in means:
                        row[f"{who} mean W1/sigma of observables"] = _mean_sd(means)
                below, n = _below_pca(ms)
                row["observables below PCA"] = f"{below} of {n} on every seed"
            rows.append(row)
        return rows


def _observables_mean(m: dict[str, Any], name: str) -> tuple[float | None, int]:
    """The mean W1/sigma over the observables of ``name`` (generator, pca_gaussian) in a
    record, and how many were undefined (None: no lateral slope, ...)."""
    w = [o["standardized_wasserstein"] for o in m["observables"][name].values()]
    defined = [v for v in w if v is not None]
    return (float(np.mean(defined)) if defined else None), len(w) - len(defined)


def _below_pca(records: list[dict[str, Any]]) -> tuple[int, int]:
    """How many observables have the generator's W1/sigma below the PCA Gaussian's in every
    record (undefined counts as not below), and how many there are."""
    names = list(records[0]["observables"]["generator"])
    below = 0
    for obs in names:
        pairs = [
            (
                m["observables"]["generator"][obs]["standardized_wasserstein"],
                m["observables"]["pca_gaussian"][obs]["standardized_wasserstein"],
            )
            for m in records
        ]
        below += all(g is not None and p is not None and g < p for g, p in pairs)
    return below, len(names)


def _mean_sd(values: list[float]) -> str:
    """``mean ± sd`` (sample sd; 0 when the values agree to rounding) to four significant
    digits."""
    mean, sd = float(np.mean(values)), float(np.std(values, ddof=1))
    sd = 0.0 if sd <= 1e-9 * abs(mean) else sd
    return f"{mean:.4g} ± {sd:.2g}"
