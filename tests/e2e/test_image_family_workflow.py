"""End to end: one experiment per image task (reconstruct, denoise, super-resolution) and the
VAE and stacked autoencoder, on an IDX image set, through Snakemake."""

import json

import numpy as np
import pytest
import xarray as xr
import yaml

from conftest import run_snakemake, write_idx_set

TRAIN = {"epochs": 2, "batch_size": 64}


@pytest.fixture(scope="module")
def family_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("family")
    write_idx_set(workdir / "idx", n_train=200, n_test=60)
    cfg = {
        "mlflow": {"experiment": "aeflow-family-test"},
        "datasets": {"digits28": {"kind": "images", "collection": "mnist", "source": "idx"}},
        "compression": {"dataset": "digits28", "code_sizes": [2, 16], "epochs": 1},
        "experiments": {
            "denoise": {
                "dataset": "digits28",
                "model": "conv_ae",
                "task": "denoise",
                "corrupt": {"noise_mean": 0.5, "noise_sd": 0.5},
                "train": TRAIN,
            },
            "superres": {
                "dataset": "digits28",
                "model": "conv_ae",
                "task": "superres",
                "corrupt": {"downsample": 2},
                "train": TRAIN,
            },
            "vae": {"dataset": "digits28", "model": "vae", "task": "reconstruct", "train": TRAIN},
            "stacked": {
                "dataset": "digits28",
                "model": "stacked_ae",
                "model_params": {"layers": [64, 16], "pretrain_epochs": 1},
                "task": "reconstruct",
                "train": TRAIN,
            },
        },
    }
    (workdir / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    # what the tests read (the per-experiment history/examples figures of images are
    # covered by the SAXS workflow test)
    targets = [f"results/eval/{e}/metrics.json" for e in cfg["experiments"]]
    targets += [
        f"results/figures/{e}/{name}.png"
        for e in ("vae", "stacked", "denoise")
        for name in ("latent_space", "latent_walks")
    ]
    targets += ["results/figures/datasets/digits28/compression.png"]
    proc = run_snakemake(workdir, workdir / "cfg.yaml", "--cores", "2", *targets)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return workdir


def metrics(run, experiment):
    return json.loads((run / f"results/eval/{experiment}/metrics.json").read_text())


def test_each_task_has_its_baselines(family_run):
    assert set(metrics(family_run, "denoise")["baselines"]) == {"identity", "gaussian", "median"}
    assert set(metrics(family_run, "superres")["baselines"]) == {"identity", "bicubic"}
    assert set(metrics(family_run, "vae")["baselines"]) == {"pca"}
    assert metrics(family_run, "stacked")["baseline_tuning"]["pca"].endswith(
        "16 components (the model's code size)"
    )
    for name in ("denoise", "superres", "vae", "stacked"):
        m = metrics(family_run, name)
        for block in [m, *m["baselines"].values()]:
            assert -1 <= block["ssim"]["mean"] <= 1
            assert block["bce"] > 0  # outputs and targets in [0, 1]


def test_corrupted_inputs_are_what_the_task_says(family_run):
    pred = xr.open_zarr(family_run / "results/eval/superres/predictions.zarr")
    x = pred["input"].values
    np.testing.assert_array_equal(x[:, ::2, ::2], x[:, 1::2, 1::2])  # 2x2 blocks of one value
    np.testing.assert_allclose(
        x[:, ::2, ::2], pred["target"].values.reshape(-1, 14, 2, 14, 2).mean(axis=(2, 4)), atol=1e-6
    )
    noisy = xr.open_zarr(family_run / "results/eval/denoise/predictions.zarr")
    delta = noisy["input"].values - noisy["target"].values
    assert 0.1 < delta.mean() < 0.5  # mean-0.5 noise, clipped to [0, 1]
    assert float(noisy["input"].min()) >= 0 and float(noisy["input"].max()) <= 1


def test_stacked_model_records_its_pretraining(family_run):
    model = json.loads((family_run / "results/models/stacked/model.json").read_text())
    assert [p["layer"] for p in model["pretraining"]] == [0, 1]
    assert model["n_parameters"] == 784 * 64 * 2 + 64 + 784 + 64 * 16 * 2 + 16 + 64


def test_latent_figures_and_downstream_knn(family_run):
    for experiment in ("vae", "stacked", "denoise"):
        for name in ("latent_space", "latent_walks"):
            png = family_run / f"results/figures/{experiment}/{name}.png"
            assert png.read_bytes()[:4] == b"\x89PNG", (experiment, name)
    d = metrics(family_run, "vae")["downstream"]
    assert d["code_size"] == 2
    assert 0 <= d["accuracy_codes"] <= 1 and 0 <= d["accuracy_pixels"] <= 1
    assert metrics(family_run, "stacked")["downstream"]["code_size"] == 16


def test_compression_study(family_run):
    r = json.loads((family_run / "results/compression/digits28.json").read_text())
    assert [row["code_size"] for row in r["rows"]] == [2, 16]
    pca = [row["pca_mse"] for row in r["rows"]]
    assert pca[1] < pca[0]  # nested subspaces: more components, less error
    assert all(row["autoencoder_mse"] > 0 for row in r["rows"])
    figure = family_run / "results/figures/datasets/digits28/compression.png"
    assert figure.read_bytes()[:4] == b"\x89PNG"
