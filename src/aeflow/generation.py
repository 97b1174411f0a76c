"""Stages of generative experiments: the feature classifier of a labelled dataset, and the
evaluation of a generator's samples against the held-out real images.

"Does the generated distribution match the real one?" is answered in numbers, each beside
two references: ``real_train`` (real training images against the real test set: the floor
a perfect generator reaches with this many samples) and ``pca_gaussian`` (the classical
generator: a Gaussian in the first principal components of the training images).

- Labelled data (galaxies, image collections): a small classifier trained on the real
  training images (``results/classifiers/<dataset>/``, its test accuracy reported) gives
  the feature space of the Fréchet distance, precision and recall, and its predictions the
  class histogram of generated samples (mode coverage) and, for acGAN, the fraction of
  samples recognised as the class asked for.
- Unlabelled data (air-shower footprints): the feature space is the (transformed) pixels,
  and the physical observables of generated and real footprints are compared by their 1-D
  Wasserstein distances.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from aeflow.atomic import atomic_path, read_json, write_json
from aeflow.data.split import SPLITS
from aeflow.stages import PathLike, _split_samples, _tracked_record, load_trained

log = logging.getLogger(__name__)

# Pixel features are used as they are up to this many dimensions, else their PCA.
MAX_PIXEL_FEATURES = 1024
PIXEL_PCA_COMPONENTS = 64


def images(ds, split: str, limit: int | None = None) -> np.ndarray:
    """A split's real images (the clean targets) as float32 (N, C, H, W)."""
    index = _split_samples(ds, split)[:limit]
    values = np.asarray(ds["target"].isel(sample=index).values, dtype=np.float32)
    return values if "channel" in ds["target"].dims else values[:, None]


def _labels(ds, split: str) -> np.ndarray:
    return ds["label"].values[_split_samples(ds, split)].astype(np.int64)


def _class_names(ds, where: PathLike) -> list[str]:
    if "label" not in ds or "class_names" not in ds.attrs:
        raise ValueError(
            f"{where}: dataset {ds.attrs.get('dataset')!r} has no class labels ('label' and "
            "the attribute class_names)"
        )
    return [str(c) for c in ds.attrs["class_names"]]


# ---- the feature classifier ----------------------------------------------------------------
def train_classifier(
    dataset: str,
    clf_cfg: dict[str, Any],
    prepared: PathLike,
    out_dir: PathLike,
    threads: int = 1,
) -> dict[str, Any]:
    """Train the feature classifier of a labelled dataset; write ``model.pt`` and
    ``classifier.json`` (architecture, test accuracy per class, confusion, history)."""
    import torch

    from aeflow.data.store import open_store
    from aeflow.evaluation.feature_net import extract, fit_classifier

    torch.set_num_threads(threads)
    ds = open_store(prepared)
    names = _class_names(ds, prepared)
    x = {s: images(ds, s) for s in SPLITS}
    y = {s: _labels(ds, s) for s in SPLITS}
    for split in SPLITS:
        if len(x[split]) == 0:
            raise ValueError(f"{prepared}: the {split!r} split of dataset {dataset!r} is empty")
    model, history = fit_classifier(
        x["train"],
        y["train"],
        x["val"],
        y["val"],
        n_classes=len(names),
        epochs=clf_cfg["epochs"],
        batch_size=clf_cfg["batch_size"],
        lr=clf_cfg["learning_rate"],
        seed=clf_cfg["seed"],
        device=torch.device("cpu"),
        augment=clf_cfg["augment"],
        widths=tuple(clf_cfg["widths"]),
        feature_dim=clf_cfg["feature_dim"],
    )
    _, probs = extract(model, x["test"], clf_cfg["batch_size"], torch.device("cpu"))
    pred = probs.argmax(axis=1)
    confusion = np.zeros((len(names), len(names)), dtype=int)
    np.add.at(confusion, (y["test"], pred), 1)
    per_class = confusion.diagonal() / np.maximum(confusion.sum(axis=1), 1)
    record = {
        "dataset": dataset,
        "class_names": names,
        "architecture": dict(model.config),
        "test_accuracy": float((pred == y["test"]).mean()),
        "per_class_accuracy": dict(zip(names, per_class.round(4).tolist(), strict=True)),
        "confusion": confusion.tolist(),
        "n_train": len(y["train"]),
        "n_test": len(y["test"]),
        "history": history,
    }
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / "model.pt") as tmp:
        torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, tmp)
    write_json(out_dir / "classifier.json", record)
    log.info("classifier of %s: test accuracy %.3f", dataset, record["test_accuracy"])
    return record


def load_classifier(clf_dir: PathLike):
    import torch

    from aeflow.evaluation.feature_net import FeatureClassifier

    clf_dir = Path(clf_dir)
    record = read_json(clf_dir / "classifier.json")
    model = FeatureClassifier(**record["architecture"])
    state = torch.load(clf_dir / "model.pt", map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model.eval(), record


# ---- samples ---------------------------------------------------------------------------------
def sample_model(model, n: int, labels, batch_size: int, device, seed: int) -> np.ndarray:
    """``n`` samples of a generator (GAN or VAE prior) as float32 (N, C, H, W), seeded."""
    import torch

    gen = torch.Generator().manual_seed(seed)  # on the CPU: the same samples on any device
    out = []
    for start in range(0, n, batch_size):
        m = min(batch_size, n - start)
        lab = None
        if labels is not None:
            lab = torch.from_numpy(labels[start : start + m]).to(device)
        z = torch.randn(m, model.config.latent_dim, generator=gen).to(device)
        out.append(model.sample(m, labels=lab, noise=z).float().cpu())
    return torch.cat(out).numpy()


def pca_gaussian_samples(train: np.ndarray, n: int, components: int, seed: int) -> np.ndarray:
    """The classical generator: draw Gaussian codes with the variances of the first
    ``components`` principal components of the training images, decode, clip to the data's
    range."""
    from sklearn.decomposition import PCA

    flat = train.reshape(len(train), -1)
    k = min(components, flat.shape[0] - 1, flat.shape[1])
    pca = PCA(n_components=k, random_state=seed).fit(flat)
    rng = np.random.default_rng(seed)
    codes = rng.standard_normal((n, k)) * np.sqrt(pca.explained_variance_)
    out = pca.inverse_transform(codes).reshape((n, *train.shape[1:]))
    return np.clip(out, train.min(), train.max()).astype(np.float32)


def _reference(train: np.ndarray, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed + 1)
    if n > len(train):
        log.warning(
            "only %d training images for the real reference of %d samples: its Fréchet "
            "distance carries a larger small-sample bias",
            len(train),
            n,
        )
    return train[np.sort(rng.choice(len(train), size=min(n, len(train)), replace=False))]


# ---- the evaluation ---------------------------------------------------------------------------
def _set_metrics(real_f, feats, k: int, seed: int) -> dict[str, float]:
    from aeflow.evaluation import generative as gm

    pr = gm.precision_recall(real_f, feats, k=k)
    return {
        "frechet_distance": gm.frechet_distance(real_f, feats),
        "precision": float(pr["precision"]),
        "recall": float(pr["recall"]),
        "diversity": gm.mean_pairwise_distance(feats, seed=seed),
    }


def generate(
    experiment: str,
    exp_cfg: dict[str, Any],
    mlflow_cfg: dict[str, Any],
    model_dir: PathLike,
    prepared: PathLike,
    classifier_dir: PathLike | None,
    out_dir: PathLike,
    threads: int = 1,
) -> dict[str, Any]:
    """Sample the trained generator and compare with the test set; write ``metrics.json``
    and ``samples.zarr`` (the generated images with requested and predicted classes; the
    baseline's first samples in group ``pca_gaussian``)."""
    import torch
    import xarray as xr

    from aeflow.data.store import open_store, write_store
    from aeflow.evaluation import generative as gm
    from aeflow.training.device import configure_backends, select_device

    torch.set_num_threads(threads)
    gc = exp_cfg["generate"]
    device = select_device(exp_cfg["train"]["device"])
    configure_backends(device)
    model, description = load_trained(model_dir, device)
    ds = open_store(prepared)
    real = images(ds, "test")
    train = images(ds, "train")
    n = int(gc["n_samples"] or len(real))
    conditional = bool(getattr(model, "conditional", False))
    names = _class_names(ds, prepared) if (classifier_dir or conditional) else []
    requested = None
    if conditional:  # the classes asked for: drawn with the training set's class mix
        rng = np.random.default_rng(gc["seed"])
        requested = rng.choice(_labels(ds, "train"), size=n).astype(np.int64)
    sets = {
        "generator": sample_model(model, n, requested, gc["batch_size"], device, gc["seed"]),
        "pca_gaussian": pca_gaussian_samples(train, n, gc["pca_components"], gc["seed"]),
        "real_train": _reference(train, n, gc["seed"]),
    }
    metrics: dict[str, Any] = {
        "experiment": experiment,
        "dataset": exp_cfg["dataset"],
        "model": exp_cfg["model"],
        "modality": "generative",
        "n_parameters": description["n_parameters"],
        "n_generated": n,
        "n_real_test": len(real),
    }
    for key in ("n_parameters_generator", "n_parameters_critic"):
        if key in description:
            metrics[key] = description[key]

    predicted: dict[str, np.ndarray] = {}
    if classifier_dir:
        clf, clf_record = load_classifier(classifier_dir)
        from aeflow.evaluation.feature_net import extract

        real_f, real_p = extract(clf, real, gc["batch_size"], torch.device("cpu"))
        feats = {}
        for name, x in sets.items():
            feats[name], probs = extract(clf, x, gc["batch_size"], torch.device("cpu"))
            predicted[name] = probs.argmax(axis=1)
        metrics["feature_space"] = f"classifier features ({real_f.shape[1]}-d)"
        metrics["classifier_test_accuracy"] = clf_record["test_accuracy"]
        # generated shares are the classifier's view: compare them with its view of the real
        # test images (its confusion then cancels); the true shares are kept beside them
        real_fraction = gm.class_histogram(real_p.argmax(axis=1), len(names))
        metrics["class_names"] = names
        metrics["real_class_fractions"] = real_fraction.round(4).tolist()
        metrics["real_class_fractions_true"] = (
            gm.class_histogram(_labels(ds, "test"), len(names)).round(4).tolist()
        )
    else:
        real_f, feats = _pixel_features(real, sets, train, gc["seed"])
        metrics["feature_space"] = (
            f"pixels ({real_f.shape[1]}-d)"
            if np.prod(real.shape[1:]) <= MAX_PIXEL_FEATURES
            else f"first {real_f.shape[1]} PCA components of the pixels"
        )
    for name in sets:
        block = _set_metrics(real_f, feats[name], gc["k"], gc["seed"])
        if name in predicted:
            fractions = gm.class_histogram(predicted[name], len(names))
            block["class_fractions"] = fractions.round(4).tolist()
            block["mode_coverage"] = gm.mode_coverage(fractions, real_fraction)
        metrics[name] = block
    metrics["real_test_diversity"] = gm.mean_pairwise_distance(real_f, seed=gc["seed"])
    if conditional and "generator" in predicted:
        acc = gm.per_class_accuracy(requested, predicted["generator"], len(names))
        metrics["generator"]["requested_class_accuracy"] = gm.requested_class_accuracy(
            requested, predicted["generator"]
        )
        metrics["generator"]["requested_class_accuracy_per_class"] = {
            name: None if np.isnan(a) else round(float(a), 4)
            for name, a in zip(names, acc, strict=True)  # None: never asked for
        }
    if "signal_scale" in ds.attrs:  # air-shower footprints: physical observables
        metrics["observables"] = _observables(ds, real, sets)
    if not getattr(model, "adversarial", False) and hasattr(model, "loss"):
        metrics["test_loss"] = _test_loss(model, real, gc["batch_size"], device)

    out_dir = Path(out_dir)
    samples = xr.Dataset(
        {"image": (("sample", "channel", "y", "x"), sets["generator"])},
        coords={"sample": np.arange(n)},
    )
    if requested is not None:
        samples["requested"] = ("sample", requested.astype(np.int16))
    if "generator" in predicted:
        samples["predicted"] = ("sample", predicted["generator"].astype(np.int16))
    samples.attrs.update({"experiment": experiment, "class_names": names})
    keep = min(n, 64)
    baseline = xr.Dataset(
        {"image": (("sample", "channel", "y", "x"), sets["pca_gaussian"][:keep])},
        coords={"sample": np.arange(keep)},
    )
    write_store(samples, out_dir / "samples.zarr", groups={"pca_gaussian": baseline})
    flat = {
        f"{name}.{key}": value
        for name in sets
        for key, value in metrics[name].items()
        if isinstance(value, float)
    }
    _tracked_record(
        mlflow_cfg,
        f"generate {experiment}",
        "generate",
        [(flat, None)],
        metrics,
        out_dir / "metrics.json",
        experiment,
        model_dir,
    )
    m = metrics["generator"]
    log.info(
        "%s: FD %.4g (PCA %.4g, real %.4g), precision %.3f, recall %.3f",
        experiment,
        m["frechet_distance"],
        metrics["pca_gaussian"]["frechet_distance"],
        metrics["real_train"]["frechet_distance"],
        m["precision"],
        m["recall"],
    )
    return metrics


def _pixel_features(real, sets, train, seed):
    flat = {name: x.reshape(len(x), -1) for name, x in sets.items()}
    real_flat = real.reshape(len(real), -1)
    if real_flat.shape[1] <= MAX_PIXEL_FEATURES:
        return real_flat, flat
    from sklearn.decomposition import PCA

    pca = PCA(n_components=PIXEL_PCA_COMPONENTS, random_state=seed)
    pca.fit(train.reshape(len(train), -1))
    return pca.transform(real_flat), {k: pca.transform(v) for k, v in flat.items()}


def _observables(ds, real, sets) -> dict[str, Any]:
    from aeflow.data.airshowers import to_signal
    from aeflow.evaluation.observables import compare_observables, footprint_observables

    spacing = float(ds.attrs["spacing_m"])

    def obs(x):
        return footprint_observables(to_signal(x[:, 0], ds.attrs), spacing)

    real_obs = obs(real)
    return {name: compare_observables(real_obs, obs(x)) for name, x in sets.items()}


def _test_loss(model, real: np.ndarray, batch_size: int, device) -> float:
    """The model's own loss (e.g. the VAE's negative ELBO per image) on the test images."""
    import torch

    total, seen = 0.0, 0
    model.eval()
    with torch.no_grad():
        for start in range(0, len(real), batch_size):
            x = torch.from_numpy(real[start : start + batch_size]).to(device)
            total += float(model.loss({"input": x, "target": x})["loss"]) * len(x)
            seen += len(x)
    return total / max(seen, 1)


# ---- figures ---------------------------------------------------------------------------------
GENERATIVE_FIGURES = ("samples", "latent_interpolation", "observables")


def plot_generative(
    experiment: str,
    figure: str,
    samples: PathLike,
    metrics_json: PathLike,
    prepared: PathLike,
    model_dir: PathLike,
    out: PathLike,
    n_per_row: int = 10,
) -> None:
    """A figure of a generative experiment (one of :data:`GENERATIVE_FIGURES`)."""
    from aeflow.data.store import open_store
    from aeflow.plotting.latent import image_rows
    from aeflow.stages import _save_logged

    metrics = read_json(metrics_json)
    gen = open_store(samples)
    ds = open_store(prepared)
    if figure == "samples":
        m = metrics["generator"]
        fig = image_rows(
            _sample_rows(gen, open_store(samples, group="pca_gaussian"), ds, n_per_row),
            title=f"{experiment}: generated samples (FD {m['frechet_distance']:.3g}, "
            f"precision {m['precision']:.2f}, recall {m['recall']:.2f})",
        )
    elif figure == "latent_interpolation":
        fig = image_rows(
            _latent_rows(model_dir, ds, n_per_row),
            title=f"{experiment}: decoded latent interpolation and arithmetic (test images)",
        )
    elif figure == "observables":
        fig = _observables_figure(experiment, gen, ds, metrics)
    else:
        raise ValueError(f"unknown generative figure {figure!r}")
    _save_logged(fig, out, model_dir)


def _sample_rows(gen, baseline, ds, n: int) -> dict[str, np.ndarray]:
    """Per class rows of generated samples (by requested class for conditional models, else
    by the classifier's prediction), then a row of real test images per class."""
    images_ = gen["image"].values
    names = [str(c) for c in gen.attrs.get("class_names", [])]
    rows: dict[str, np.ndarray] = {}
    by = "requested" if "requested" in gen else ("predicted" if "predicted" in gen else None)
    if by and names:
        key = "asked" if by == "requested" else "seen as"
        for k, name in enumerate(names):
            rows[f"{key} {name}"] = images_[gen[by].values == k][:n]
        real = images(ds, "test")
        labels = _labels(ds, "test")
        for k, name in enumerate(names):
            rows[f"real {name}"] = real[labels == k][:n]
    else:
        for r in range(3):
            rows[f"generated {r + 1}"] = images_[r * n : (r + 1) * n]
        rows["real (test)"] = images(ds, "test", n)
    rows["PCA Gaussian"] = baseline["image"].values[:n]
    return {k: v for k, v in rows.items() if len(v)}


def _latent_rows(model_dir: PathLike, ds, n: int) -> dict[str, np.ndarray]:
    """Interpolation between two test images of different classes (the galaxy blog's
    Fig. 10), and arithmetic: class A + (mean code of class B - mean code of class C)."""
    import torch

    model, _ = load_trained(model_dir, "cpu")
    real = images(ds, "test")
    with torch.no_grad():
        codes = model.encode(torch.from_numpy(real)).numpy()

    def decode(z):
        with torch.no_grad():
            return model.decode(torch.from_numpy(z.astype(np.float32))).numpy()

    rows: dict[str, np.ndarray] = {}
    labels = _labels(ds, "test") if "label" in ds else np.zeros(len(real), int)
    names = [str(c) for c in ds.attrs.get("class_names", [])]
    # from the first elliptical to the first spiral (else the first two of different class)
    a, b = 0, int(np.argmax(labels != labels[0])) if (labels != labels[0]).any() else 1
    if {"elliptical", "spiral"} <= set(names):
        ka, kb = names.index("elliptical"), names.index("spiral")
        if (labels == ka).any() and (labels == kb).any():
            a, b = int(np.argmax(labels == ka)), int(np.argmax(labels == kb))
    t = np.linspace(0, 1, n)[:, None]
    rows["interpolation"] = decode((1 - t) * codes[a] + t * codes[b])
    rows["its ends (real)"] = np.stack([real[a], real[b]])
    if len(names) >= 3:
        # the "bar" direction (barred_spiral - spiral; else class 0 - class 2) added to class 2
        i0 = names.index("barred_spiral") if "barred_spiral" in names else 0
        i2 = names.index("spiral") if "spiral" in names else 2
        if (labels == i0).any() and (labels == i2).any():
            shift = codes[labels == i0].mean(0) - codes[labels == i2].mean(0)
            chosen = np.flatnonzero(labels == i2)[:n]
            rows[f"real {names[i2]}"] = real[chosen]
            rows[f"decoded {names[i2]}"] = decode(codes[chosen])
            rows[f"+ ({names[i0]} - {names[i2]})"] = decode(codes[chosen] + shift)
    rows["prior samples"] = decode(np.random.default_rng(0).standard_normal((n, codes.shape[1])))
    return rows


def _observables_figure(experiment: str, gen, ds, metrics):
    from aeflow.data.airshowers import to_signal
    from aeflow.evaluation.observables import LABELS, footprint_observables
    from aeflow.plotting.generative import observable_histograms

    spacing = float(ds.attrs["spacing_m"])
    real = images(ds, "test")
    obs = {
        "real": footprint_observables(to_signal(real[:, 0], ds.attrs), spacing),
        "generator": footprint_observables(to_signal(gen["image"].values[:, 0], ds.attrs), spacing),
    }
    labels = {
        "real": "real (test)",
        "generator": f"{experiment} ({metrics['model']})",
    }
    return observable_histograms(
        obs,
        {"generator": metrics["observables"]["generator"]},
        labels,
        title=f"{experiment}: observables of generated vs real footprints",
        axis_labels=LABELS,
    )


def plot_class_histogram(dataset: str, metrics_files: dict[str, PathLike], out: PathLike) -> None:
    """The class shares of every generator on ``dataset`` beside the real test set."""
    from aeflow.plotting import save
    from aeflow.plotting.generative import class_histogram

    records = {name: read_json(path) for name, path in metrics_files.items()}
    first = next(iter(records.values()))
    generated = {
        f"{name} ({r['model']})": r["generator"]["class_fractions"] for name, r in records.items()
    }
    generated["PCA Gaussian"] = first["pca_gaussian"]["class_fractions"]
    fig = class_histogram(
        first["class_names"],
        first["real_class_fractions"],
        generated,
        title=f"{dataset}: classes of generated samples (classifier test accuracy "
        f"{first['classifier_test_accuracy']:.2f})",
    )
    save(fig, out)
