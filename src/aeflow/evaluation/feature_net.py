"""A small image classifier trained on the real labelled data, whose penultimate layer is
the feature space of the generative metrics (:mod:`aeflow.evaluation.generative`).

No pretrained weights: Inception features mean little for 32 x 32 procedural galaxies, and
a classifier of our own also tells which class a generated image looks like. Images are
float arrays (N, C, S, S) in [0, 1], channels first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from aeflow.models.inference import batched


def _n_downsamplings(image_size: int, target: int = 4) -> int:
    """Stride-2 steps (3x3 kernel, padding 1: size -> ceil(size / 2)) down to <= target."""
    n, size = 0, image_size
    while size > target:
        size, n = (size + 1) // 2, n + 1
    return n


class FeatureClassifier(nn.Module):
    """Conv blocks (3x3 conv, BatchNorm, ReLU) over (N, C, S, S) images, then global
    average pooling, a ``feature_dim`` linear layer with ReLU (the feature space) and a
    linear head to ``n_classes`` logits.

    The first blocks have stride 2 until the maps are at most 4 x 4; ``widths`` are the
    channels of the blocks in order. Small images use the remaining widths as stride-1
    blocks at the lowest resolution; large ones repeat the last width for the extra
    stride-2 blocks. ``config`` holds the constructor arguments.
    """

    def __init__(
        self,
        in_channels: int = 3,
        image_size: int = 32,
        n_classes: int = 3,
        widths: Sequence[int] = (32, 64, 128),
        feature_dim: int = 64,
    ) -> None:
        super().__init__()
        widths = tuple(int(w) for w in widths)
        if in_channels < 1:
            raise ValueError(f"in_channels must be >= 1, got {in_channels}")
        if image_size < 8:
            raise ValueError(f"image_size must be >= 8, got {image_size}")
        if n_classes < 2:
            raise ValueError(f"n_classes must be >= 2, got {n_classes}")
        if not widths or min(widths) < 1:
            raise ValueError(f"widths must be a non-empty sequence of positive ints: {widths}")
        if feature_dim < 1:
            raise ValueError(f"feature_dim must be >= 1, got {feature_dim}")
        self.config: dict[str, Any] = {
            "in_channels": int(in_channels),
            "image_size": int(image_size),
            "n_classes": int(n_classes),
            "widths": list(widths),
            "feature_dim": int(feature_dim),
        }
        n_down = _n_downsamplings(image_size)
        channels = list(widths) + [widths[-1]] * max(0, n_down - len(widths))
        layers: list[nn.Module] = []
        previous = in_channels
        for i, width in enumerate(channels):
            stride = 2 if i < n_down else 1
            layers += [
                nn.Conv2d(previous, width, 3, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
            ]
            previous = width
        self.trunk = nn.Sequential(*layers)
        self.embed = nn.Linear(previous, feature_dim)
        self.head = nn.Linear(feature_dim, n_classes)

    # the training loop averages these terms of loss() per epoch (train_/val_accuracy)
    tracked_terms = ("accuracy",)
    # drawn from while training with augmentation (fit_classifier sets it)
    augment_generator: torch.Generator | None = None

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Cross-entropy of ``batch["image"]`` against ``batch["label"]`` and the accuracy;
        training batches are augmented by :func:`augment_dihedral` when a generator is set."""
        x, y = batch["image"], batch["label"]
        if self.training and self.augment_generator is not None:
            x = augment_dihedral(x, self.augment_generator)
        logits = self(x).float()
        return {
            "loss": F.cross_entropy(logits, y),
            "accuracy": (logits.argmax(1) == y).float().mean(),
        }

    @property
    def feature_dim(self) -> int:
        return self.config["feature_dim"]

    @property
    def n_classes(self) -> int:
        return self.config["n_classes"]

    def _check(self, x: torch.Tensor) -> None:
        c, s = self.config["in_channels"], self.config["image_size"]
        if x.dim() != 4 or tuple(x.shape[1:]) != (c, s, s):
            raise ValueError(f"expected images (N, {c}, {s}, {s}), got {tuple(x.shape)}")

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The feature vectors (N, feature_dim), non-negative (after ReLU)."""
        self._check(x)
        pooled = self.trunk(x).mean(dim=(2, 3))
        return F.relu(self.embed(pooled))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits (N, n_classes)."""
        return self.head(self.features(x))


# ---- data --------------------------------------------------------------------------------
def _images(x: np.ndarray | torch.Tensor, name: str) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    x = x.detach().to("cpu", torch.float32).contiguous()
    if x.dim() != 4 or x.shape[2] != x.shape[3]:
        raise ValueError(f"{name} must be square images (N, C, S, S), got {tuple(x.shape)}")
    return x


def _targets(y: np.ndarray | torch.Tensor, n: int, n_classes: int, name: str) -> torch.Tensor:
    y = torch.as_tensor(np.asarray(y) if not isinstance(y, torch.Tensor) else y)
    y = y.detach().to("cpu").long().reshape(-1)
    if len(y) != n:
        raise ValueError(f"{name} has {len(y)} labels for {n} images")
    if n and (int(y.min()) < 0 or int(y.max()) >= n_classes):
        raise ValueError(f"{name} has labels outside [0, {n_classes})")
    return y


def _labelled_images(x, y, n_classes: int, name: str) -> dict[str, torch.Tensor]:
    """Checked images (N, C, S, S) and labels (N,) of one split, as the loop takes them."""
    images = _images(x, f"{name}_x")
    if len(images) == 0:
        raise ValueError("need non-empty training and validation sets")
    return {"image": images, "label": _targets(y, len(images), n_classes, f"{name}_y")}


def augment_dihedral(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Each image (N, C, S, S) under a random one of the 8 symmetries of the square (rot90
    by 0-3 quarter turns, optionally mirrored): the class of a galaxy does not change."""
    n = len(x)
    turns = torch.randint(0, 4, (n,), generator=generator).to(x.device)
    mirror = torch.randint(0, 2, (n,), generator=generator).bool().to(x.device)
    out = x.clone()
    out[mirror] = out[mirror].flip(-1)
    for k in range(1, 4):
        idx = turns == k
        if idx.any():
            out[idx] = torch.rot90(out[idx], k, dims=(-2, -1))
    return out


# ---- training and inference --------------------------------------------------------------
def fit_classifier(
    train_x: np.ndarray | torch.Tensor,
    train_y: np.ndarray | torch.Tensor,
    val_x: np.ndarray | torch.Tensor,
    val_y: np.ndarray | torch.Tensor,
    *,
    n_classes: int,
    epochs: int = 10,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
    device: str | torch.device = "cpu",
    augment: bool = True,
    widths: Sequence[int] = (32, 64, 128),
    feature_dim: int = 64,
) -> tuple[FeatureClassifier, list[dict[str, float]]]:
    """Train a :class:`FeatureClassifier` on images (N, C, S, S) with integer labels, by the
    shared :class:`~aeflow.training.loop.Trainer`.

    Adam with a cosine-annealed learning rate (stepped per batch), cross-entropy; with
    ``augment`` every training batch goes through :func:`augment_dihedral` (random flips
    and quarter turns). After each epoch the validation set is scored; the returned model
    holds the weights of the epoch with the best validation accuracy (the first of equals)
    and is in eval mode. Initialisation, shuffling and augmentation depend on ``seed`` only
    (the global torch RNG is left untouched), so runs on the CPU are reproducible.

    Returns (model, history): one dict per epoch with ``epoch``, ``train_loss``,
    ``train_accuracy`` (on augmented batches), ``val_loss`` and ``val_accuracy``.
    """
    from aeflow.training.loop import Trainer

    if epochs < 1 or batch_size < 1:
        raise ValueError("epochs and batch_size must be >= 1")
    if lr <= 0:
        raise ValueError(f"lr must be positive, got {lr}")
    device = torch.device(device)
    train = _labelled_images(train_x, train_y, n_classes, "train")
    val = _labelled_images(val_x, val_y, n_classes, "val")
    train_x, val_x = train["image"], val["image"]
    if train_x.shape[1:] != val_x.shape[1:]:
        raise ValueError(f"image shapes differ: {train_x.shape[1:]} vs {val_x.shape[1:]}")

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = FeatureClassifier(
            in_channels=train_x.shape[1],
            image_size=train_x.shape[2],
            n_classes=n_classes,
            widths=widths,
            feature_dim=feature_dim,
        )
    model = model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * -(-len(train_x) // batch_size)
    trainer = Trainer(
        model,
        optimizer,
        device,
        batch_size=batch_size,
        seed=seed,
        amp=False,
        channels_last=False,
        progress=False,
        schedule=torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps),
        monitor="val_accuracy",
        maximize=True,
    )
    model.augment_generator = torch.Generator().manual_seed(seed) if augment else None
    try:
        history = trainer.fit(train, val, epochs)
    finally:
        model.augment_generator = None
    keys = ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy")
    return model.eval(), [{k: record[k] for k in keys} for record in history]


def extract(
    model: FeatureClassifier,
    x: np.ndarray | torch.Tensor,
    batch_size: int = 512,
    device: str | torch.device = "cpu",
) -> tuple[np.ndarray, np.ndarray]:
    """Features (N, feature_dim) and class probabilities (N, n_classes) of images
    (N, C, S, S), as float32 numpy arrays; the model is left in eval mode on ``device``."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    x = _images(x, "x")
    model = model.to(torch.device(device)).eval()
    if len(x) == 0:
        empty = np.empty((0, model.feature_dim), np.float32)
        return empty, np.empty((0, model.n_classes), np.float32)
    both = batched(
        lambda xb: torch.cat([f := model.features(xb), model.head(f)], dim=1),
        x,
        batch_size,
        device,
    )
    feats = torch.from_numpy(both[:, : model.feature_dim])
    logits = torch.from_numpy(both[:, model.feature_dim :])
    return feats.numpy(), torch.softmax(logits, dim=1).numpy()


def predict(
    model: FeatureClassifier,
    x: np.ndarray | torch.Tensor,
    batch_size: int = 512,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """The most probable class of each image (N,) as int64."""
    _, probabilities = extract(model, x, batch_size, device)
    return probabilities.argmax(axis=1).astype(np.int64)


def accuracy(
    model: FeatureClassifier,
    x: np.ndarray | torch.Tensor,
    y: np.ndarray | torch.Tensor,
    batch_size: int = 512,
    device: str | torch.device = "cpu",
) -> float:
    """Fraction of images (N, C, S, S) whose predicted class is the label ``y`` (N,)."""
    pred = predict(model, x, batch_size, device)
    y = np.asarray(y.cpu() if isinstance(y, torch.Tensor) else y).reshape(-1)
    if len(y) != len(pred) or len(y) == 0:
        raise ValueError(f"{len(y)} labels for {len(pred)} images")
    return float((pred == y).mean())
