"""End to end: simulated galaxies and air showers, the galaxy VAE and a WGAN-GP, through
Snakemake: classifier, samples, metrics, figures and the summary (the acGAN's scoring is
tested on the generate stage itself, in test_generation.py); and a galaxy colorization on
the same data, judged on its test reconstructions."""

import json

import numpy as np
import pytest
import yaml

from conftest import run_snakemake

TRAIN = {"epochs": 1, "batch_size": 32, "threads": 2}


@pytest.fixture(scope="module")
def generative_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("generative")
    cfg = {
        "mlflow": {"experiment": "aeflow-generative-test"},
        "classifier": {"epochs": 1, "widths": [8, 16], "feature_dim": 16},
        "datasets": {
            "galaxies": {
                "kind": "galaxies",
                "source": "simulate",
                "n_samples": 300,
                "simulate": {"image_size": 16},
                "preprocess": {"image_size": 16},
            },
            "showers": {"kind": "airshowers", "source": "simulate", "n_samples": 400},
        },
        "experiments": {
            "galaxy_vae": {
                "dataset": "galaxies",
                "model": "galaxy_vae",
                "model_params": {"hidden": 32, "latent_dim": 4},
                "train": TRAIN,
            },
            "shower_wgan": {
                "dataset": "showers",
                "model": "wgan_gp",
                "model_params": {"channels": [16, 8]},
                "train": TRAIN,
            },
            # an autoencoder on a generative kind: judged on its reconstructions
            "galaxy_colorize": {
                "dataset": "galaxies",
                "model": "conv_ae",
                "task": "colorize",
                "model_params": {"channels": [8, 8], "loss": "lab", "output_bias": "data_mean"},
                "train": TRAIN,
                "evaluate": {"n_examples": 3},
            },
        },
    }
    (workdir / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    proc = run_snakemake(workdir, workdir / "cfg.yaml", "--cores", "2")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return workdir


def metrics(run, experiment):
    return json.loads((run / f"results/generative/{experiment}/metrics.json").read_text())


def test_every_generative_output_is_written(generative_run):
    results = generative_run / "results"
    assert (results / "classifiers/galaxies/classifier.json").exists()
    assert not (results / "classifiers/showers").exists()  # no labels, no classifier
    for experiment, figures in {
        "galaxy_vae": ["history", "samples", "latent_interpolation"],
        "shower_wgan": ["history", "samples", "observables"],
    }.items():
        for figure in figures:
            assert (results / f"figures/{experiment}/{figure}.png").stat().st_size > 0
        assert not (results / f"eval/{experiment}").exists()  # not a reconstruction
    assert (results / "figures/datasets/galaxies/class_histogram.png").exists()
    summary = (results / "summary/metrics.html").read_text()
    assert "Generative models" in summary and "shower_wgan" in summary


def test_galaxy_metrics_carry_the_references(generative_run):
    m = metrics(generative_run, "galaxy_vae")
    assert m["class_names"] == ["barred_spiral", "elliptical", "spiral"]
    for block in ("generator", "pca_gaussian", "real_train"):
        assert 0 <= m[block]["precision"] <= 1 and 0 <= m[block]["recall"] <= 1
        assert m[block]["frechet_distance"] >= 0
        assert sum(m[block]["class_fractions"]) == pytest.approx(1, abs=1e-3)
    assert m["n_generated"] == m["n_real_test"]  # n_samples null: as many as the test set
    assert m["test_loss"] > 0  # the negative ELBO per image
    shower = metrics(generative_run, "shower_wgan")
    assert shower["n_parameters"] == (
        shower["n_parameters_generator"] + shower["n_parameters_critic"]
    )


def test_shower_observables_are_compared(generative_run):
    m = metrics(generative_run, "shower_wgan")
    assert m["feature_space"] == "pixels (81-d)"
    obs = m["observables"]["generator"]
    assert {"total_signal", "core_x", "core_y", "lateral_slope"} <= set(obs)
    assert all(o["wasserstein"] is None or o["wasserstein"] >= 0 for o in obs.values())
    # real training footprints are much closer to the test set than a 1-epoch WGAN
    real = m["observables"]["real_train"]["total_signal"]["standardized_wasserstein"]
    assert real < 0.5
    import xarray as xr

    samples = xr.open_zarr(generative_run / "results/generative/shower_wgan/samples.zarr")
    assert samples["image"].shape == (m["n_generated"], 1, 9, 9)
    assert np.isfinite(samples["image"].values).all()
    history = (generative_run / "results/models/shower_wgan/history.csv").read_text()
    assert "wasserstein" in history.splitlines()[0]


def test_a_colorization_on_galaxies_is_evaluated_and_drawn(generative_run):
    m = json.loads((generative_run / "results/eval/galaxy_colorize/metrics.json").read_text())
    assert m["mode"] == "images" and set(m["baselines"]) == {"grey", "mean_colour", "linear"}
    assert np.isfinite(m["colour"]["delta_e"]["mean"])
    assert not (generative_run / "results/generative/galaxy_colorize").exists()
    png = generative_run / "results/figures/galaxy_colorize/examples.png"
    assert png.read_bytes()[:4] == b"\x89PNG"
    summary = json.loads((generative_run / "results/summary/metrics.json").read_text())
    row = next(
        r for r in summary["tables"]["images"]["rows"] if r["experiment"] == "galaxy_colorize"
    )
    assert row["model ΔE"] == m["colour"]["delta_e"]["mean"]
