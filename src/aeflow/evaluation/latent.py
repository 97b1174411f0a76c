"""The code space of a bottleneck autoencoder: codes of a data set, k-NN classification on
codes against raw pixels (downstream use), and the latent operations of the lectures -
interpolation, arithmetic of class means, decoding noisy codes and pure noise."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def decode_all(model, codes: np.ndarray, code_shape: tuple[int, ...], size, device) -> np.ndarray:
    """Images (N, H, W), or colour images (N, C, H, W), decoded from flat codes (N,
    prod(code_shape)) to the ``size`` (H, W) of the last two axes."""
    import torch

    with torch.no_grad():
        z = torch.from_numpy(np.asarray(codes, np.float32)).reshape(len(codes), *code_shape)
        out = model.decode(z.to(device), tuple(size)[-2:]).float().cpu().numpy()
    return out[:, 0] if out.shape[1] == 1 else out


def knn_classifier(train_x: np.ndarray, train_y: np.ndarray, k: int = 5):
    """A k-nearest-neighbour classifier (Euclidean) fitted on flattened ``train_x``."""
    from sklearn.neighbors import KNeighborsClassifier

    return KNeighborsClassifier(n_neighbors=k).fit(train_x.reshape(len(train_x), -1), train_y)


def interpolate(z_a: np.ndarray, z_b: np.ndarray, n: int) -> np.ndarray:
    """``n`` codes on the straight line from ``z_a`` to ``z_b`` (both included)."""
    t = np.linspace(0.0, 1.0, n)[:, None]
    return (1 - t) * z_a[None] + t * z_b[None]


def class_arithmetic(codes: np.ndarray, labels: np.ndarray, a: int, b: int, c: int) -> np.ndarray:
    """Mean codes of classes a, b, c and ``mean_a - mean_b + mean_c`` (4, code_size)."""
    means = [codes[labels == k].mean(axis=0) for k in (a, b, c)]
    return np.stack([*means, means[0] - means[1] + means[2]])


def project_2d(codes: np.ndarray) -> tuple[np.ndarray, str]:
    """The codes themselves if two-dimensional, else their first two principal components."""
    if codes.shape[1] == 2:
        return codes, "code"
    from sklearn.decomposition import PCA

    return PCA(n_components=2, random_state=0).fit_transform(codes), "code PC"


def latent_grid(decode: Callable[[np.ndarray], np.ndarray], codes: np.ndarray, n: int = 15):
    """Decoded images on an n x n grid spanning the 1st-99th percentile of 2-D ``codes``;
    returns (images (n, n, [C,] H, W), x values, y values), y increasing upwards."""
    lo, hi = np.percentile(codes, [1, 99], axis=0)
    xs, ys = np.linspace(lo[0], hi[0], n), np.linspace(lo[1], hi[1], n)
    grid = np.array([[x, y] for y in ys[::-1] for x in xs], dtype=np.float32)
    images = decode(grid)
    return images.reshape(n, n, *images.shape[1:]), xs, ys


def knn_downstream(
    model, ds, batch_size: int, device, block_samples: int, k: int = 5, max_train: int = 10000
):
    """k-NN classification of the test labels from the codes vs from the raw pixels, both
    fitted on (up to ``max_train``) training samples: what the code keeps of the class. The
    test set is classified ``block_samples`` at a time."""
    from aeflow.data.split import split_index
    from aeflow.evaluation.suites.common import split_blocks
    from aeflow.models.inference import encode_all

    train = split_index(ds, "train")[:max_train]
    x_train, y_train = ds["input"].isel(sample=train).values, ds["label"].values[train]
    c_train = encode_all(model, x_train, batch_size, device)
    classifiers = {
        "codes": knn_classifier(c_train, y_train, k),
        "pixels": knn_classifier(x_train, y_train, k),
    }
    correct = {"codes": 0, "pixels": 0}  # test samples classified right
    n_test = 0
    for part in split_blocks(ds, "test", block_samples):
        x_test, y_test = part["input"].values, part["label"].values
        features = {"codes": encode_all(model, x_test, batch_size, device), "pixels": x_test}
        for name, x in features.items():
            predicted = classifiers[name].predict(x.reshape(len(x), -1))
            correct[name] += int((predicted == y_test).sum())
        n_test += len(y_test)
    return {
        "method": f"{k}-nearest neighbours (Euclidean), fitted on {len(train)} training samples",
        "code_size": int(c_train.shape[1]),
        "accuracy_codes": correct["codes"] / n_test,
        "accuracy_pixels": correct["pixels"] / n_test,
    }
