"""The label-efficiency study's parts on hand-made data: the labelled draw, a probe that
learns, the curves and the comparison with training from scratch."""

import numpy as np
import pytest
import torch

from aeflow.evaluation import label_efficiency as lev
from aeflow.stages import label_efficiency as le


def test_labelled_subset_draws_per_class_and_per_seed():
    labels = np.repeat([0, 1, 2], [50, 40, 5])
    idx = le.labelled_subset(labels, 10, seed=0)
    assert np.bincount(labels[idx]).tolist() == [10, 10, 5]  # a small class: all of it
    assert np.all(np.diff(idx) > 0)  # ascending, no repeats
    np.testing.assert_array_equal(idx, le.labelled_subset(labels, 10, seed=0))
    assert not np.array_equal(idx, le.labelled_subset(labels, 10, seed=1))
    np.testing.assert_array_equal(le.labelled_subset(labels, None, seed=3), np.arange(95))


def test_a_probe_learns_separable_classes_from_few_labels():
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[5.0, 0.0], [-5.0, 0.0], [0.0, 5.0]])
    y = torch.arange(3).repeat(100)
    x = centres[y] + torch.randn(300, 2, generator=g)
    probe = le.Probe(None, 2, 3, hidden=16)
    probe.standardize_on(x)
    before = le.accuracy(probe, x, y)
    idx = torch.from_numpy(le.labelled_subset(y.numpy(), 5, seed=0))
    cfg = {
        "learning_rate": 1e-2,
        "weight_decay": 0.0,
        "batch_size": 64,
        "steps": 200,
        "min_epochs": 0,
    }
    le.fit(probe, x[idx], y[idx], cfg, None, seed=0)
    assert le.accuracy(probe, x, y) > 0.95 > before


def test_a_frozen_encoder_keeps_its_weights_and_a_fine_tuned_one_moves():
    from aeflow.models import build_model

    x, y = torch.rand(40, 1, 8, 8), torch.arange(2).repeat(20)
    cfg = {
        "learning_rate": 1e-2,
        "weight_decay": 0.0,
        "batch_size": 16,
        "steps": 5,
        "min_epochs": 0,
    }
    for encoder_lr, moved in ((None, False), (1e-2, True)):
        enc = build_model("conv_ae", {"channels": [4]}, image_size=8)
        start = [p.detach().clone() for p in enc.encoder.parameters()]
        probe = le.Probe(enc, 4 * 4 * 4, 2, hidden=8)
        le.fit(probe, x, y, cfg, encoder_lr, seed=0)
        after = list(enc.encoder.parameters())
        assert any(not torch.equal(a, b) for a, b in zip(start, after, strict=True)) == moved


def _rows():
    """Hand-made accuracies: the fine-tuned encoder clearly above scratch at 10 labels, level
    at all; the frozen one below."""
    rows = []
    table = {
        ("e fine-tuned", "fine-tuned"): {10: [0.80, 0.82, 0.81], "all": [0.90, 0.91, 0.92]},
        ("e frozen", "frozen"): {10: [0.60, 0.62, 0.61], "all": [0.85, 0.86, 0.87]},
        ("scratch m", "scratch"): {10: [0.70, 0.71, 0.72], "all": [0.91, 0.90, 0.92]},
    }
    for (variant, mode), by_n in table.items():
        for n, accs in by_n.items():
            for seed, acc in enumerate(accs):
                about = {"mode": mode, "experiment": None if mode == "scratch" else "e"}
                if mode == "scratch":
                    about["same_network_as"] = ["e"]
                rows.append(le._cell(variant, about, None if n == "all" else n, seed, [0], acc))
    return rows


def test_curves_and_the_comparison_with_scratch():
    curves = lev.curves(_rows())
    by = {(c["variant"], c["n"]): c for c in curves}
    assert by[("e fine-tuned", 10)]["accuracy_mean"] == pytest.approx(0.81)
    assert by[("e fine-tuned", 10)]["accuracy_sd"] == pytest.approx(0.01)  # sample sd
    beats = lev.beats_scratch(curves)
    assert beats["e fine-tuned"]["clearly_above"] == [10]
    assert beats["e fine-tuned"]["above"] == [10]  # at all: 0.91 vs 0.91, not above
    assert beats["e fine-tuned"]["gain"]["10"] == pytest.approx(0.10)
    assert beats["e frozen"]["above"] == []
    rows = lev.summary_rows({"dataset": "d", "curves": curves, "beats_scratch": beats})
    fine = next(r for r in rows if r["variant"] == "e fine-tuned")
    assert fine["10 per class"] == "0.810 ± 0.010" and fine["beats scratch at"] == "10"
    assert next(r for r in rows if r["variant"] == "e frozen")["beats scratch at"] == "none"


def test_metric_names_are_ones_mlflow_takes():
    assert le._metric("scratch conv_ae [32, 64] (grey)") == "accuracy.scratch_conv_ae_32_64_grey"


def test_many_labels_get_min_epochs_passes():
    cfg = {"steps": 200, "min_epochs": 3, "batch_size": 64}
    assert le.n_steps(cfg, 30) == 200  # few labels: the steps
    assert le.n_steps(cfg, 10800) == 507  # 3 passes of 10,800 images at 64 (rounded up)
    assert le.n_steps(cfg | {"min_epochs": 2.5}, 10800) == 422  # an int for any number


def test_scratch_networks_are_one_per_encoder_network(tmp_path):
    """Encoders that differ only in the decoder or the loss share one scratch network; two
    VAEs of other sizes do not, and their names say how they differ."""
    import json

    def model_dir(name, model, config):
        d = tmp_path / name
        d.mkdir()
        (d / "model.json").write_text(json.dumps({"model": model, "config": config}))
        return {"model_dir": d, "task": "reconstruct"}

    conv = {"channels": [16, 32], "kernel_size": 3, "in_channels": 3}
    encoders = {
        "a": model_dir("a", "conv_ae", conv | {"loss": "mse"}),
        "b": model_dir("b", "conv_ae", conv | {"loss": "lab", "output_bias": "data_mean"}),
        "v1": model_dir("v1", "vae", {"architecture": "dense", "hidden": 64, "latent_dim": 2}),
        "v2": model_dir("v2", "vae", {"architecture": "dense", "hidden": 64, "latent_dim": 8}),
    }
    scratch = [v for v in le.variants(encoders) if v.mode == "scratch"]
    assert [v.name for v in scratch] == [
        "scratch conv_ae [16, 32]",
        "scratch vae [64, 2]",
        "scratch vae [64, 8]",
    ]
    assert scratch[0].about["same_network_as"] == ["a", "b"]
