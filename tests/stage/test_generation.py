"""The feature classifier and the generate stage on simulated galaxies with hand-made
generators (a perfect one, a collapsed one, a conditional one)."""

import json
import types

import numpy as np
import pytest
import torch

from aeflow.config import validate_config
from aeflow.data.split import split_images, split_labels
from aeflow.data.store import open_store
from aeflow.stages import common as stage_common
from aeflow.stages import generate as generate_stage
from aeflow.stages.classifier import train_classifier
from aeflow.stages.data import fetch_raw, prepare
from conftest import GALAXIES

CLASSIFIER = {
    "epochs": 8,
    "batch_size": 64,
    "learning_rate": 1e-3,
    "feature_dim": 32,
    "widths": [16, 32],
    "augment": True,
    "seed": 0,
    "threads": 2,
}
GENERATE = {"n_samples": None, "batch_size": 128, "k": 3, "pca_components": 8, "seed": 0}


@pytest.fixture(scope="module")
def galaxies(tmp_path_factory):
    """Prepared simulated galaxies and their feature classifier."""
    root = tmp_path_factory.mktemp("galaxies")
    cfg = validate_config(
        {"datasets": {"g": GALAXIES}, "experiments": {"e": {"dataset": "g", "model": "gan"}}}
    )["datasets"]["g"]
    fetch_raw("g", cfg, root / "raw.npz")
    prepare("g", cfg, root / "raw.npz", root / "g.zarr")
    record = train_classifier("g", CLASSIFIER, root / "g.zarr", root / "clf", threads=2)
    return root, record


class Replay(torch.nn.Module):
    """A 'generator' that returns given images in turn (ignores the noise)."""

    adversarial = True
    conditional = False
    config = types.SimpleNamespace(latent_dim=2)

    def __init__(self, images: np.ndarray) -> None:
        super().__init__()
        self.images = torch.from_numpy(images)
        self.pos = 0

    def sample(self, n, labels=None, **noise):
        out = self.images[(self.pos + torch.arange(n)) % len(self.images)]
        self.pos += n
        return out


def run_generate(root, tmp_path, monkeypatch, model):
    monkeypatch.setattr(
        generate_stage,
        "trained_on_device",
        lambda cfg, d, threads: (model, {"n_parameters": 0}, torch.device("cpu")),
    )
    monkeypatch.setattr(stage_common, "record_run", _write_record)
    exp = {"dataset": "g", "model": "gan", "train": {"device": "cpu"}, "generate": GENERATE}
    return generate_stage.generate(
        "e", exp, {}, tmp_path / "model", root / "g.zarr", root / "clf", tmp_path / "out"
    )


def _write_record(mlflow_cfg, run_name, stage, metrics, record, out, *args):
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record))


def test_the_classifier_learns_the_galaxy_classes(galaxies):
    _, record = galaxies
    assert record["test_accuracy"] > 0.8
    assert record["class_names"] == ["barred_spiral", "elliptical", "spiral"]
    confusion = np.array(record["confusion"])
    assert confusion.sum() == record["n_test"]
    assert record["history"][-1]["train_loss"] < record["history"][0]["train_loss"]


def test_a_perfect_generator_scores_like_real_data(galaxies, tmp_path, monkeypatch):
    root, _ = galaxies
    ds = open_store(root / "g.zarr")
    test = split_images(ds, "test")
    m = run_generate(root, tmp_path, monkeypatch, Replay(test))
    gen = m["generator"]
    assert gen["frechet_distance"] == pytest.approx(0.0, abs=1e-6)
    assert gen["precision"] == 1.0 and gen["recall"] == 1.0
    assert gen["class_fractions"] == pytest.approx(m["real_class_fractions"], abs=0.1)
    assert gen["mode_coverage"]["classes_below_half"] == []
    # the references: real training images are close, the PCA Gaussian is not as good
    assert m["real_train"]["frechet_distance"] < m["pca_gaussian"]["frechet_distance"]
    samples = open_store(tmp_path / "out/samples.zarr")
    assert samples["image"].shape == (len(test), 3, 16, 16)
    assert np.allclose(samples["image"].values, test)


def test_a_collapsed_generator_is_caught(galaxies, tmp_path, monkeypatch):
    root, _ = galaxies
    ds = open_store(root / "g.zarr")
    test = split_images(ds, "test")
    labels = split_labels(ds, "test")
    ellipticals = test[labels == 1]
    m = run_generate(root, tmp_path, monkeypatch, Replay(ellipticals))
    gen = m["generator"]
    assert gen["class_fractions"][1] > 0.9
    assert sorted(gen["mode_coverage"]["classes_below_half"]) == [0, 2]
    assert gen["recall"] < 0.6 and gen["precision"] > 0.9
    assert gen["frechet_distance"] > m["real_train"]["frechet_distance"]


def test_requested_class_accuracy_of_a_conditional_generator(galaxies, tmp_path, monkeypatch):
    """A generator returning real test images of the class asked for: right (almost) always,
    and asked with the training set's class mix."""
    root, _ = galaxies
    ds = open_store(root / "g.zarr")
    test, labels = split_images(ds, "test"), split_labels(ds, "test")
    asked = []

    class Conditional(Replay):
        conditional = True

        def sample(self, n, labels=None, **noise):
            asked.append(labels.numpy())
            pools = [self.images[labels_ == k] for k in range(3)]
            return torch.stack([pools[k][i % len(pools[k])] for i, k in enumerate(labels)])

    labels_ = torch.from_numpy(labels)
    m = run_generate(root, tmp_path, monkeypatch, Conditional(test))
    assert m["generator"]["requested_class_accuracy"] > 0.8
    assert set(m["generator"]["requested_class_accuracy_per_class"]) == {
        "barred_spiral",
        "elliptical",
        "spiral",
    }
    shares = np.bincount(np.concatenate(asked), minlength=3) / len(np.concatenate(asked))
    train_shares = np.bincount(split_labels(ds, "train"), minlength=3)
    assert shares == pytest.approx(train_shares / train_shares.sum(), abs=0.08)
