"""The workflow checks the config before it schedules any job."""

import yaml

from conftest import run_snakemake


def test_workflow_refuses_bad_config_before_any_job(tmp_path, tiny_config):
    tiny_config["experiments"]["saxs_dae"]["train"]["batch_size"] = -4
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump(tiny_config))
    proc = run_snakemake(tmp_path, cfg, "--cores", "1")
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "experiments.saxs_dae.train.batch_size" in out
    assert f"{cfg}: invalid configuration" in out  # the file given, not the default
    assert "config/config.yaml" not in out
    assert not (tmp_path / "data").exists()
    assert not (tmp_path / "results").exists()


def test_own_images_in_hdf5_are_planned_through_the_canonical_npz(tmp_path):
    """A labelled image set in someone's HDF5 file: the plan fetches it into
    data/raw/<dataset>.npz (not .h5) and trains, evaluates and scores it for anomalies."""
    import h5py
    import numpy as np

    with h5py.File(tmp_path / "runs.h5", "w") as f:
        f["hits"] = np.zeros((30, 10, 14), np.uint8)
        f["particle"] = np.arange(30) % 3
    cfg = {
        "mlflow": {"experiment": "own"},
        "datasets": {
            "detector": {
                "kind": "labelled_image_set",
                "source": str(tmp_path / "runs.h5"),
                "keys": {"images": "hits", "labels": "particle"},
                "class_names": ["e", "mu", "pi"],
                "preprocess": {"anomaly_classes": [2]},
            }
        },
        "experiments": {
            "detector_ae": {
                "dataset": "detector",
                "model": "dense_ae",
                "task": "reconstruct",
                "anomaly": {"score": "latent"},
            }
        },
    }
    path = tmp_path / "own.yaml"
    path.write_text(yaml.safe_dump(cfg))
    proc = run_snakemake(tmp_path, path, "--cores", "1", "--dry-run", "--quiet", "rules")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    out = proc.stdout + proc.stderr
    for rule in ("fetch_npz", "prepare", "train", "evaluate", "anomaly"):
        assert rule in out, rule
    assert "fetch_hdf5" not in out
