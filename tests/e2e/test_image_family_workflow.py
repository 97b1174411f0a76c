"""End to end: the stacked autoencoder (layer-wise pretraining, latent figures), the
compression study and a label-efficiency study on its encoder, on an IDX image set, through
Snakemake. (One experiment per image task,
denoise and super-resolution included, runs stage by stage in tests/stage/test_cli.py.)"""

import json

import pytest
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
        "label_efficiency": {
            "digits28": {
                "encoders": ["stacked"],
                "labels_per_class": [3, "all"],
                "seeds": [0, 1],
                "steps": 20,
            }
        },
        "experiments": {
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
    targets = ["results/eval/stacked/metrics.json"]
    targets += [f"results/figures/stacked/{name}.png" for name in ("latent_space", "latent_walks")]
    targets += ["results/figures/datasets/digits28/compression.png"]
    targets += ["results/figures/datasets/digits28/label_efficiency.png"]
    targets += ["results/summary/metrics.json"]
    proc = run_snakemake(workdir, workdir / "cfg.yaml", "--cores", "2", *targets)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return workdir


def metrics(run, experiment):
    return json.loads((run / f"results/eval/{experiment}/metrics.json").read_text())


def test_stacked_model_is_judged_beside_pca_of_its_code_size(family_run):
    m = metrics(family_run, "stacked")
    assert set(m["baselines"]) == {"pca"}
    assert m["baseline_tuning"]["pca"].endswith("16 components (the model's code size)")
    for block in [m, *m["baselines"].values()]:
        assert -1 <= block["ssim"]["mean"] <= 1
        assert block["bce"] > 0  # outputs and targets in [0, 1]


def test_stacked_model_records_its_pretraining(family_run):
    model = json.loads((family_run / "results/models/stacked/model.json").read_text())
    assert [p["layer"] for p in model["pretraining"]] == [0, 1]
    assert model["n_parameters"] == 784 * 64 * 2 + 64 + 784 + 64 * 16 * 2 + 16 + 64


def test_latent_figures_and_downstream_knn(family_run):
    for name in ("latent_space", "latent_walks"):
        png = family_run / f"results/figures/stacked/{name}.png"
        assert png.read_bytes()[:4] == b"\x89PNG", name
    d = metrics(family_run, "stacked")["downstream"]
    assert d["code_size"] == 16
    assert 0 <= d["accuracy_codes"] <= 1 and 0 <= d["accuracy_pixels"] <= 1


def test_compression_study(family_run):
    r = json.loads((family_run / "results/compression/digits28.json").read_text())
    assert [row["code_size"] for row in r["rows"]] == [2, 16]
    pca = [row["pca_mse"] for row in r["rows"]]
    assert pca[1] < pca[0]  # nested subspaces: more components, less error
    assert all(row["autoencoder_mse"] > 0 for row in r["rows"])
    figure = family_run / "results/figures/datasets/digits28/compression.png"
    assert figure.read_bytes()[:4] == b"\x89PNG"


def test_label_efficiency_study(family_run):
    r = json.loads((family_run / "results/label_efficiency/digits28.json").read_text())
    assert {row["variant"] for row in r["rows"]} == {
        "stacked frozen",
        "stacked fine-tuned",
        "scratch stacked_ae [64, 16]",
        "pca_logistic",
    }
    assert len(r["rows"]) == 4 * 2 * 2  # variants x label counts x seeds
    three = [row for row in r["rows"] if row["labels_per_class"] == 3]
    assert {row["n_labelled"] for row in three} == {3 * r["n_classes"]}
    figure = family_run / "results/figures/datasets/digits28/label_efficiency.png"
    assert figure.read_bytes()[:4] == b"\x89PNG"
    summary = json.loads((family_run / "results/summary/metrics.json").read_text())
    rows = summary["tables"]["label_efficiency"]["rows"]
    assert [row["variant"] for row in rows][:2] == ["stacked frozen", "stacked fine-tuned"]
    assert r["mlflow_run_id"]
