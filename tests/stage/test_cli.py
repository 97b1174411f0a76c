import json

import pytest
import yaml

from aeflow.cli import main


def test_check_prints_the_filled_config(tmp_path, tiny_config, capsys):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(tiny_config))
    assert main(["check", "--config", str(path)]) == 0
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["experiments"]["saxs_dae"]["train"]["lr_plateau"]["factor"] == 0.67


def test_fetch_and_prepare_by_hand(tmp_path, tiny_config, monkeypatch):
    monkeypatch.chdir(tmp_path)
    tiny_config["datasets"]["saxs"]["n_samples"] = 12
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(tiny_config))
    assert main(["fetch", "--config", "c.yaml", "--dataset", "saxs"]) == 0
    assert main(["prepare", "--config", "c.yaml", "--dataset", "saxs"]) == 0
    assert (tmp_path / "results/prepared/saxs.zarr").is_dir()


def test_errors_name_the_problem(tmp_path, tiny_config, capsys):
    tiny_config["datasets"]["saxs"]["n_samples"] = "many"
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(tiny_config))
    assert main(["check", "--config", str(path)]) == 2
    assert "datasets.saxs.n_samples" in capsys.readouterr().err
    tiny_config["datasets"]["saxs"]["n_samples"] = 5
    path.write_text(yaml.safe_dump(tiny_config))
    assert main(["train", "--config", str(path), "--experiment", "nope"]) == 2
    assert "no entry 'nope'" in capsys.readouterr().err
    assert main(["anomaly", "--config", str(path), "--experiment", "saxs_dae"]) == 2
    assert "experiments.saxs_dae: no anomaly section" in capsys.readouterr().err


def test_a_generative_experiment_by_hand(tmp_path, monkeypatch, capsys):
    """fetch, prepare, the feature classifier, train and generate on tiny galaxies; the
    reconstruction stage refuses a generative experiment, and generate wants the classifier."""
    monkeypatch.chdir(tmp_path)
    cfg = {
        "mlflow": {"tracking_uri": "sqlite:///results/mlflow.db", "experiment": "cli-gen"},
        "classifier": {"epochs": 1, "widths": [8], "feature_dim": 8},
        "datasets": {
            "g": {
                "kind": "galaxies",
                "source": "simulate",
                "n_samples": 120,
                "simulate": {"image_size": 16},
                "preprocess": {"image_size": 8},
            }
        },
        "experiments": {
            "w": {
                "dataset": "g",
                "model": "wgan_gp",
                "model_params": {"channels": [8, 8], "n_critic": 2},
                "train": {"epochs": 1, "batch_size": 16},
            }
        },
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    run = ["--config", "c.yaml"]
    for stage in ("fetch", "prepare"):
        assert main([stage, *run, "--dataset", "g"]) == 0
    assert main(["init-mlflow", *run]) == 0
    assert main(["train", *run, "--experiment", "w"]) == 0
    capsys.readouterr()
    assert main(["evaluate", *run, "--experiment", "w"]) == 2
    assert "a generative experiment: use 'aeflow generate'" in capsys.readouterr().err
    assert main(["generate", *run, "--experiment", "w"]) == 2
    assert "aeflow classifier --dataset g" in capsys.readouterr().err
    assert main(["classifier", *run, "--dataset", "g"]) == 0
    assert 0 <= json.loads(capsys.readouterr().out)["test_accuracy"] <= 1
    assert main(["generate", *run, "--experiment", "w"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["frechet_distance"] >= 0 and 0 <= scores["precision"] <= 1
    assert (tmp_path / "results/generative/w/samples.zarr").is_dir()


def test_damaged_files_are_named_in_one_line(tmp_path, monkeypatch, capsys):
    """A truncated raw file, a damaged store chunk and a missing tracking store: one line on
    stderr naming the file (no traceback), and --debug shows the traceback."""
    import numpy as np

    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    target = rng.uniform(1, 100, (40, 16, 16)).astype(np.float32)
    np.savez(tmp_path / "beam.npz", target_images=target, speckle_images=rng.poisson(target))
    data = (tmp_path / "beam.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    cfg = {
        "mlflow": {"tracking_uri": "sqlite:///results/mlflow.db", "experiment": "cli-damage"},
        "datasets": {
            "cut": {"kind": "saxs", "source": str(tmp_path / "cut.npz")},
            "beam": {"kind": "saxs", "source": str(tmp_path / "beam.npz")},
        },
        "experiments": {"e": {"dataset": "beam", "model": "skip_dae", "train": {"epochs": 1}}},
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    run = ["--config", str(tmp_path / "c.yaml")]

    assert main(["fetch", "--dataset", "cut", *run]) == 2  # read when it is copied in
    err = capsys.readouterr().err.strip()
    assert "cut.npz" in err and "truncated or damaged" in err and len(err.splitlines()) == 1

    assert main(["train", "--experiment", "e", *run]) == 2  # nothing fetched yet
    assert "beam.zarr" in capsys.readouterr().err
    for stage in ("fetch", "prepare"):
        assert main([stage, "--dataset", "beam", *run]) == 0
    assert main(["train", "--experiment", "e", *run]) == 1  # no init-mlflow yet
    assert "aeflow init-mlflow" in capsys.readouterr().err

    chunk = sorted((tmp_path / "results/prepared/beam.zarr/input/c").rglob("*"))[-1]
    chunk.write_bytes(chunk.read_bytes()[:-1])
    assert main(["init-mlflow", *run]) == 0
    assert main(["train", "--experiment", "e", *run]) == 2
    err = capsys.readouterr().err.strip()
    assert "beam.zarr" in err and "array 'input'" in err and len(err.splitlines()) == 1
    with pytest.raises(ValueError, match="does not match its checksum"):
        main(["train", "--experiment", "e", "--debug", *run])


def test_verify_names_the_damaged_stores(tmp_path, tiny_config, monkeypatch, capsys):
    import numpy as np
    import xarray as xr

    from aeflow.data.store import write_store

    monkeypatch.chdir(tmp_path)
    ds = xr.Dataset({"input": (("sample", "x"), np.arange(600.0).reshape(300, 2))})
    for name in ("a", "b"):
        write_store(ds, tmp_path / f"results/prepared/{name}.zarr", sample_chunk=100)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(tiny_config))
    assert main(["verify", "--config", str(cfg)]) == 0
    assert capsys.readouterr().out.count("ok ") == 2
    chunk = sorted((tmp_path / "results/prepared/b.zarr/input/c").rglob("*"))[-1]
    chunk.write_bytes(b"\0" + chunk.read_bytes()[1:])
    assert main(["verify", "--config", str(cfg)]) == 2
    captured = capsys.readouterr()
    assert "ok       results/prepared/a.zarr" in captured.out
    assert "DAMAGED  results/prepared/b.zarr: array 'input'" in captured.out
    assert (
        "1 of 2 stores damaged" in captured.err and "rm -r results/prepared/b.zarr" in captured.err
    )


@pytest.fixture(scope="module")
def lecture_run(tmp_path_factory):
    """config/lectures.yaml as shipped (only shrunk: 1 epoch, a tiny MNIST-layout directory)
    through every stage by hand: one experiment per image task (reconstruct, denoise,
    super-resolution) and the VAE. Returns (directory, config, the reproduction stdout)."""
    from pathlib import Path

    from conftest import write_idx_set

    tmp_path = tmp_path_factory.mktemp("lectures")
    repo = Path(__file__).resolve().parents[2]
    cfg = yaml.safe_load((repo / "config" / "lectures.yaml").read_text())
    write_idx_set(tmp_path / "mnist", n_train=64, n_test=32)
    cfg["datasets"]["mnist"]["source"] = str(tmp_path / "mnist")
    for exp in cfg["experiments"].values():
        exp["train"] = dict(exp["train"], epochs=1, threads=1)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path)
        (tmp_path / "lectures.yaml").write_text(yaml.safe_dump(cfg))
        c = ["--config", "lectures.yaml"]
        for stage in ("fetch", "prepare"):
            assert main([stage, *c]) == 0
        assert main(["init-mlflow", *c]) == 0
        for experiment in cfg["experiments"]:
            assert main(["train", *c, "--experiment", experiment]) == 0
            assert main(["evaluate", *c, "--experiment", experiment]) == 0
        assert main(["reproduction", *c]) == 0
    return tmp_path, cfg


def _metrics(run, experiment):
    return json.loads((run / f"results/eval/{experiment}/metrics.json").read_text())


def test_the_lecture_config_by_hand_up_to_its_reproduction_table(lecture_run):
    """Its four published numbers get rows measured on the tiny directory."""
    tmp_path, _ = lecture_run
    doc = json.loads((tmp_path / "results/reproduction.json").read_text())
    assert doc["verdicts"]["missing"] == 0
    assert [r["id"] for r in doc["rows"]] == [
        "lecture_mnist_conv_ae",
        "lecture_mnist_denoise",
        "lecture_mnist_superres",
        "lecture_mnist_vae",
    ]
    assert {r["config"] for r in doc["rows"]} == {"lectures.yaml"}
    assert all(r["data"].startswith("local: IDX files in ") for r in doc["rows"])
    vae = _metrics(tmp_path, "mnist_vae")
    assert doc["rows"][3]["ours"] == vae["test_objective"] > 0
    assert doc["mlflow_experiment"] == "aeflow-lectures"


def test_each_task_has_its_baselines(lecture_run):
    run, _ = lecture_run
    assert set(_metrics(run, "mnist_denoise")["baselines"]) == {"identity", "gaussian", "median"}
    assert set(_metrics(run, "mnist_superres")["baselines"]) == {"identity", "bicubic"}
    assert set(_metrics(run, "mnist_vae")["baselines"]) == {"pca"}
    for name in ("mnist_conv_ae", "mnist_denoise", "mnist_superres", "mnist_vae"):
        m = _metrics(run, name)
        for block in [m, *m["baselines"].values()]:
            assert -1 <= block["ssim"]["mean"] <= 1
            assert block["bce"] > 0  # outputs and targets in [0, 1]


def test_corrupted_inputs_are_what_the_task_says(lecture_run):
    import numpy as np
    import xarray as xr

    run, _ = lecture_run
    pred = xr.open_zarr(run / "results/eval/mnist_superres/predictions.zarr")
    x = pred["input"].values
    np.testing.assert_array_equal(x[:, ::2, ::2], x[:, 1::2, 1::2])  # 2x2 blocks of one value
    np.testing.assert_allclose(
        x[:, ::2, ::2], pred["target"].values.reshape(-1, 14, 2, 14, 2).mean(axis=(2, 4)), atol=1e-6
    )
    noisy = xr.open_zarr(run / "results/eval/mnist_denoise/predictions.zarr")
    delta = noisy["input"].values - noisy["target"].values
    assert 0.1 < delta.mean() < 0.5  # mean-0.5 noise, clipped to [0, 1]
    assert float(noisy["input"].min()) >= 0 and float(noisy["input"].max()) <= 1


def test_codes_are_judged_downstream_by_knn(lecture_run):
    run, _ = lecture_run
    d = _metrics(run, "mnist_vae")["downstream"]
    assert d["code_size"] == 2
    assert 0 <= d["accuracy_codes"] <= 1 and 0 <= d["accuracy_pixels"] <= 1
