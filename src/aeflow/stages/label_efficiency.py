"""Stage ``label_efficiency``: what a code learned without labels buys when labels are few.

For a labelled image dataset, a small classifier head (the code standardized, one hidden
ReLU layer, the class logits) learns from ``n`` labelled training images per class, for each
``n`` of ``labels_per_class`` (``all``: every training image) and each seed, and is judged on
the whole test split. The variants:

- ``frozen``: the head on the fixed code of a trained experiment's encoder;
- ``fine-tuned``: that encoder and the head trained together (the encoder at
  ``learning_rate x fine_tune_lr_factor``);
- ``scratch``: the same network from random weights, every layer at ``learning_rate``: what
  the pretraining is measured against;
- ``pca_logistic``: logistic regression on ``pca_components`` principal components of the
  training images (fitted without labels, as the autoencoders were).

Pretraining used every training image without its label; the labelled images are drawn per
seed and class (:func:`labelled_subset`) and are all the classifiers see of the labels. No
validation split picks anything (with ten labels per class there would be none to spare):
every network trains for ``steps`` Adam steps, or ``min_epochs`` passes over its labelled
images if that is more (:func:`n_steps`). A colorization encoder sees the luminance, as
it was trained; the others the images.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from aeflow.data.split import split_index
from aeflow.data.store import open_store
from aeflow.device import runtime_device
from aeflow.evaluation.colour import luminance
from aeflow.evaluation.label_efficiency import beats_scratch, curves
from aeflow.models import model_from_description
from aeflow.models.inference import encode_all
from aeflow.models.trained import load_trained
from aeflow.stages import PathLike
from aeflow.training.tracking import record_run

log = logging.getLogger(__name__)

FEATURE_SAMPLES = 4096  # unlabelled training images a code's standardization is taken from
PRETEXT = {
    "colorize": "colorization",
    "reconstruct": "reconstruction",
    "denoise": "denoising",
    "superres": "super-resolution",
}


def labelled_subset(labels: np.ndarray, per_class: int | None, seed: int) -> np.ndarray:
    """Positions of ``per_class`` samples of each class (all of a class that has fewer;
    ``None``: every sample), drawn with ``seed``, ascending."""
    labels = np.asarray(labels)
    if per_class is None:
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    picked = [
        rng.choice(np.flatnonzero(labels == c), min(per_class, int((labels == c).sum())), False)
        for c in np.unique(labels)
    ]
    return np.sort(np.concatenate(picked))


class Probe(nn.Module):
    """A classifier on a code: ``encoder.encode`` (or the input itself), flattened and
    standardized by fixed ``mean`` and ``std`` (of unlabelled training codes), then
    ``hidden`` ReLU units and ``n_classes`` logits."""

    def __init__(self, encoder, n_features: int, n_classes: int, hidden: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("std", torch.ones(n_features))
        self.head = nn.Sequential(
            nn.Linear(n_features, hidden), nn.ReLU(), nn.Linear(hidden, n_classes)
        )

    def code(self, x: torch.Tensor) -> torch.Tensor:
        z = x if self.encoder is None else self.encoder.encode(x)
        return z.reshape(len(z), -1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head((self.code(x) - self.mean) / self.std)

    @torch.no_grad()
    def standardize_on(self, x: torch.Tensor, batch: int = 1024) -> None:
        codes = torch.cat([self.code(x[i : i + batch]) for i in range(0, len(x), batch)])
        self.mean.copy_(codes.mean(0))
        self.std.copy_(codes.std(0).clamp_min(1e-6))


def fit(
    probe: Probe,
    x: torch.Tensor,
    y: torch.Tensor,
    cfg: dict[str, Any],
    encoder_lr: float | None,
    seed: int,
) -> Probe:
    """Adam steps on random batches of the labelled ``x``, ``y`` (all the labels the probe
    sees): ``cfg["steps"]``, or ``min_epochs`` passes over many labels if that is more; the
    encoder trains at ``encoder_lr`` (None: frozen)."""
    torch.manual_seed(seed)
    groups = [{"params": probe.head.parameters(), "lr": cfg["learning_rate"]}]
    if probe.encoder is not None:
        probe.encoder.requires_grad_(encoder_lr is not None)
        if encoder_lr is not None:
            groups.append({"params": probe.encoder.parameters(), "lr": encoder_lr})
    opt = torch.optim.Adam(groups, weight_decay=cfg["weight_decay"])
    batch = min(cfg["batch_size"], len(x))
    gen = torch.Generator().manual_seed(seed)
    probe.train()
    for _ in range(n_steps(cfg, len(x))):
        i = torch.randint(len(x), (batch,), generator=gen)
        loss = nn.functional.cross_entropy(probe(x[i]), y[i])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return probe.eval()


def n_steps(cfg: dict[str, Any], n_labelled: int) -> int:
    """Steps of a classifier on ``n_labelled`` images: ``steps``, and at least
    ``min_epochs`` passes over them (so that all labels are not cut short)."""
    batch = min(cfg["batch_size"], n_labelled)
    return max(int(cfg["steps"]), math.ceil(cfg["min_epochs"] * n_labelled / batch))


@torch.no_grad()
def accuracy(model, x: torch.Tensor, y: torch.Tensor, batch: int = 1024) -> float:
    correct = sum(
        int((model(x[i : i + batch]).argmax(1) == y[i : i + batch]).sum())
        for i in range(0, len(x), batch)
    )
    return correct / len(x)


@dataclass
class Variant:
    """One way to classify: an encoder (``source()`` builds it, trained or fresh; None: a
    head on codes computed beforehand) frozen, fine-tuned or trained from scratch, on its
    input form (``grey``: the luminance)."""

    name: str
    source: Callable[[], Any] | None
    mode: str
    grey: bool
    about: dict[str, Any]

    def probe(self, x_unlabelled: torch.Tensor, n_classes: int, hidden: int, device) -> Probe:
        """A fresh probe on this variant's encoder (None: on codes computed beforehand),
        standardized on unlabelled images."""
        encoder = None if self.source is None else self.source().to(device)
        with torch.no_grad():
            first = x_unlabelled[:1] if encoder is None else encoder.encode(x_unlabelled[:1])
        probe = Probe(encoder, int(first.numel()), n_classes, hidden).to(device)
        probe.standardize_on(x_unlabelled[:FEATURE_SAMPLES])
        return probe

    def on_codes(self) -> Variant:
        """This (frozen) variant as a head on codes computed once: the same classifier."""
        return Variant(self.name, None, self.mode, self.grey, self.about)


def variants(encoders: dict[str, dict[str, Any]]) -> list[Variant]:
    """Frozen and fine-tuned for every trained encoder (experiment -> {model_dir, task}),
    then one scratch variant per distinct network (architecture and input form)."""
    out, scratch = [], {}
    for experiment, enc in encoders.items():
        description = json.loads((enc["model_dir"] / "model.json").read_text())
        grey = enc["task"] == "colorize"
        pretext = PRETEXT.get(enc["task"], enc["task"])
        if description["model"] == "stacked_ae":
            pretext = f"{pretext}, stacked layer-wise pretraining"
        about = {"experiment": experiment, "model": description["model"], "pretext": pretext}

        def trained(path=enc["model_dir"]):
            return load_trained(path)[0]

        for mode in ("frozen", "fine-tuned"):
            out.append(Variant(f"{experiment} {mode}", trained, mode, grey, about | {"mode": mode}))
        # one scratch network per encoder: what shapes it, not the decoder's or the loss's keys
        encoder_config = {k: v for k, v in description["config"].items() if k not in NOT_ENCODER}
        key = json.dumps([description["model"], encoder_config, grey], sort_keys=True)
        if key not in scratch:
            name = f"scratch {_architecture(description)}" + (" (grey)" if grey else "")
            if any(v.name == name for v in scratch.values()):  # same words, other network
                name += f" #{len(scratch) + 1}"
            scratch[key] = Variant(
                name,
                lambda d=description: model_from_description(d),
                "scratch",
                grey,
                {
                    "experiment": None,
                    "model": description["model"],
                    "architecture": _architecture(description),
                }
                | {"pretext": None, "mode": "scratch", "same_network_as": [experiment]},
            )
        else:
            scratch[key].about["same_network_as"].append(experiment)
    return out + list(scratch.values())


# model config keys that shape the decoder, the output or the loss, not the encoder
NOT_ENCODER = frozenset(
    {
        "loss",
        "output",
        "output_bias",
        "keep_luminance",
        "out_channels",
        "beta",
        "reconstruction",
        "pretrain_epochs",
        "pretrain_learning_rate",
        "l1_code",
        "contractive",
        "profile_weight",
        "profile_slope_weight",
    }
)


def _architecture(description: dict[str, Any]) -> str:
    """The encoder's network in a few words: the model and its widths (and a kernel size
    other than 3; a VAE's latent size)."""
    model, c = description["model"], description["config"]
    if model in ("vae", "galaxy_vae"):
        widths = list(c["channels"]) if c.get("architecture") == "conv" else [c.get("hidden")]
        return f"{model} {[*widths, c.get('latent_dim')]}"
    if "channels" in c:  # convolutional
        k = c.get("kernel_size", 3)
        return f"{model} {list(c['channels'])}" + (f" k{k}" if k != 3 else "")
    widths = c.get("layers") or [*c.get("hidden", []), c.get("code_size")]
    return f"{model} {list(widths)}"


def pca_logistic_accuracy(
    x_unlabelled: np.ndarray,
    x_labelled: np.ndarray,
    y_labelled: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    k: int,
    seed: int,
) -> float:
    """Test accuracy of logistic regression on ``k`` standardized principal components
    (fitted on every training image, no labels needed) of the labelled images."""
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def flat(x):
        return x.reshape(len(x), -1)

    pca = PCA(min(k, *flat(x_unlabelled).shape), random_state=seed).fit(flat(x_unlabelled))
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    clf.fit(pca.transform(flat(x_labelled)), y_labelled)
    return float(clf.score(pca.transform(flat(x_test)), y_test))


def label_efficiency(
    dataset: str,
    cfg: dict[str, Any],
    encoders: dict[str, dict[str, Any]],
    mlflow_cfg: dict[str, Any],
    prepared: PathLike,
    out: PathLike,
) -> dict[str, Any]:
    """The study of ``label_efficiency.<dataset>`` (``encoders``: experiment -> {model_dir,
    task}); writes its JSON record and tracks it in MLflow."""
    device = runtime_device("auto", cfg["threads"])
    ds = open_store(prepared)
    data = {}
    for split in ("train", "test"):
        index = split_index(ds, split)
        x = np.asarray(ds["target"].isel(sample=index).values, dtype=np.float32)
        data[split] = (x if x.ndim == 4 else x[:, None], ds["label"].values[index].astype(int))
    (x_train, y_train), (x_test, y_test) = data["train"], data["test"]
    n_classes = len(ds.attrs.get("class_names") or np.unique(y_train))
    arrays: dict[bool, tuple[np.ndarray, np.ndarray]] = {}  # the images, or their grey

    def images(grey: bool) -> tuple[np.ndarray, np.ndarray]:
        if grey not in arrays:
            arrays[grey] = tuple(luminance(x)[:, None] if grey else x for x in (x_train, x_test))
        return arrays[grey]

    labels = torch.from_numpy(y_train).long().to(device)
    y_test_t = torch.from_numpy(y_test).long().to(device)
    encoders = {e: {**v, "model_dir": Path(v["model_dir"])} for e, v in encoders.items()}
    counts = [None if n == "all" else int(n) for n in cfg["labels_per_class"]]
    # the labelled images of each count and seed: the same draw for every classifier
    draws = {(n, seed): labelled_subset(y_train, n, seed) for n in counts for seed in cfg["seeds"]}
    rows = []
    lr = cfg["learning_rate"]
    encoder_lr = {"frozen": None, "fine-tuned": lr * cfg["fine_tune_lr_factor"], "scratch": lr}
    for variant in variants(encoders):
        inputs = images(variant.grey)
        if variant.mode == "frozen":  # the codes once: the head alone learns on them
            encoder = variant.source()
            inputs = tuple(encode_all(encoder, x, 1024, device) for x in inputs)
            variant = variant.on_codes()
        xt, xs = (torch.from_numpy(x).to(device) for x in inputs)
        for (per_class, seed), idx in draws.items():
            torch.manual_seed(seed)
            probe = variant.probe(xt, n_classes, cfg["head_hidden"], device)
            fit(probe, xt[idx], labels[idx], cfg, encoder_lr[variant.mode], seed)
            acc = accuracy(probe, xs, y_test_t)
            rows.append(_cell(variant.name, variant.about, per_class, seed, idx, acc))
        log.info("%s: %s", variant.name, _means(rows, variant.name))
    about = {"experiment": None, "model": "logistic regression", "mode": "pca_logistic"}
    for (per_class, seed), idx in draws.items():
        acc = pca_logistic_accuracy(
            x_train, x_train[idx], y_train[idx], x_test, y_test, cfg["pca_components"], seed
        )
        rows.append(_cell("pca_logistic", about, per_class, seed, idx, acc))
    result = {
        "dataset": dataset,
        "n_train": len(x_train),
        "n_test": len(x_test),
        "n_classes": n_classes,
        "settings": {k: cfg[k] for k in sorted(cfg) if k != "encoders"},
        "encoders": {e: v["task"] for e, v in encoders.items()},
        "rows": rows,
        "curves": curves(rows),
    }
    result["beats_scratch"] = beats_scratch(result["curves"])
    steps = [
        ({_metric(c["variant"]): c["accuracy_mean"] for c in result["curves"] if c["n"] == n}, i)
        for i, n in enumerate(sorted({c["n"] for c in result["curves"]}, key=_order))
    ]
    keys = ("variant", "mode", "labels_per_class", "seed", "n_labelled", "accuracy")
    table = {k: [str(r[k]) if k == "labels_per_class" else r[k] for r in rows] for k in keys}
    record_run(
        mlflow_cfg,
        f"label efficiency {dataset}",
        "label_efficiency",
        steps,
        result,
        out,
        tables={"label_efficiency.json": table},
    )
    return result


def _cell(name, about, per_class, seed, idx, acc) -> dict[str, Any]:
    return {
        "variant": name,
        **about,
        "labels_per_class": "all" if per_class is None else per_class,
        "seed": int(seed),
        "n_labelled": len(idx),
        "accuracy": float(acc),
    }


def _order(n) -> float:
    return np.inf if n == "all" else float(n)


def _metric(name: str) -> str:
    """An MLflow metric name for a variant (letters, digits, ``_ - .`` only)."""
    return "accuracy." + re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")


def _means(rows, name) -> str:
    by_n: dict[Any, list[float]] = {}
    for r in rows:
        if r["variant"] == name:
            by_n.setdefault(r["labels_per_class"], []).append(r["accuracy"])
    return ", ".join(f"{n}: {np.mean(v):.3f}" for n, v in by_n.items())
