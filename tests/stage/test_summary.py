"""The summary stage: one table per evaluation mode, each suite's title and rows, from
hand-made records (one per mode) and from the records the tiny runs' stages wrote."""

import json
import re
from html import unescape

import pytest

from aeflow.evaluation import suites
from aeflow.stages.summary import summary_sections, summary_table

IMAGES = {
    "experiment": "saxs_dae",
    "dataset": "saxs",
    "model": "skip_dae",
    "modality": "images",
    "n_test": 10,
    "test_loss": 0.012,
    "psnr_db": {"mean": 21.5},
    "ssim": {"mean": 0.71},
    "bce": 0.3,
    "baselines": {
        "identity": {"test_loss": 0.05, "ssim": {"mean": 0.4}},
        "gaussian": {"test_loss": 0.02, "ssim": {"mean": 0.6}, "sigma": 1.0},
    },
    "also_on": {
        "saxs_partial": {
            "n_test": 8,
            "test_loss": 0.015,
            "psnr_db": {"mean": 20.1},
            "ssim": {"mean": 0.69},
            "baselines": {
                "identity": {"test_loss": 0.06, "ssim": {"mean": 0.3}},
                "gaussian": {"test_loss": 0.03, "ssim": {"mean": 0.5}},
            },
        }
    },
}
TRACES = {
    "experiment": "radio_dae",
    "dataset": "radio",
    "model": "conv1d_dae",
    "modality": "traces",
    "noise_model": "galactic",
    "n_signal": 12,
    "n_noise_only": 4,
    "test_loss": 0.02,
    "peak_location_accuracy": 0.75,
    "energy_ratio": {"median": 0.9, "resolution_68": 0.2},
    "pulse_detection": {"false_pulse_rate": 0.25},
    "baselines": {
        "bandpass": {"test_loss": 0.05, "peak_location_accuracy": 0.5},
        "wiener": {"test_loss": 0.04, "peak_location_accuracy": 0.6},
    },
}
GENERATIVE = {
    "experiment": "showers_gan",
    "dataset": "showers",
    "model": "wgan_gp",
    "modality": "generative",
    "generator": {"frechet_distance": 3.0, "precision": 0.7, "recall": 0.5, "diversity": 0.8},
    "pca_gaussian": {"frechet_distance": 5.0, "precision": 0.4, "recall": 0.6},
    "real_train": {"frechet_distance": 0.5},
    "real_test_diversity": 1.0,
}
ANOMALY = {
    "experiment": "jets_ae",
    "dataset": "jets",
    "model": "dense_ae",
    "n_normal": 20,
    "n_anomalous": 20,
    "auroc": 0.8,
    "aupr": 0.75,
    "tpr_at_fpr_0.01": 0.1,
    "background_rejection_at_eff_0.3": 12.5,
    "baselines": {
        "pca": {"auroc": 0.7, "background_rejection_at_eff_0.3": 8.0},
        "jet_mass": {"auroc": 0.9, "background_rejection_at_eff_0.3": 20.0},
    },
}
TITLES = [suites.suite(m).summary_title for m in ("images", "traces", "generative", "anomaly")]


def _write(tmp_path, records: dict) -> dict:
    paths = {}
    for name, record in records.items():
        paths[name] = tmp_path / f"{name}.json"
        paths[name].write_text(json.dumps(record))
    return paths


def test_sections_by_mode_with_rows_in_order():
    sections = summary_sections(
        [
            ("saxs_dae", "", IMAGES),
            ("radio_dae", "", TRACES),
            ("showers_gan", "", GENERATIVE),
            ("jets_ae", "anomaly", ANOMALY),
        ]
    )
    assert list(sections) == TITLES
    images, traces, generative, anomaly = sections.values()
    # one row per evaluated dataset, the test set first
    assert [(r["experiment"], r["evaluated on"]) for r in images] == [
        ("saxs_dae", "saxs"),
        ("saxs_dae", "saxs_partial"),
    ]
    assert images[0]["model MSE"] == 0.012 and images[0]["gaussian MSE"] == 0.02
    assert images[1]["n_test"] == 8 and images[1]["model BCE"] is None
    assert [r["experiment"] for r in traces] == ["radio_dae"]
    assert traces[0]["wiener peak acc."] == 0.6 and traces[0]["DAE peak acc."] == 0.75
    assert generative[0]["model FD"] == 3.0 and generative[0]["real FD"] == 0.5
    assert generative[0]["model diversity / real"] == pytest.approx(0.8)
    assert anomaly[0]["AE AUROC"] == 0.8 and anomaly[0]["jet_mass AUROC"] == 0.9
    assert anomaly[0]["AE 1/eps_B @ eps_S=0.3"] == 12.5


def test_a_seeds_sweep_gets_its_mean_and_spread():
    records = []
    for seed, fd in ((1, 3.0), (2, 5.0), (3, 4.0)):
        m = json.loads(json.dumps(GENERATIVE))
        m |= {"experiment": f"showers_gan_s{seed}", "seed_sweep": "showers_gan", "seed": seed}
        m["generator"] |= {"frechet_distance": fd, "recall": 0.1 * seed}
        records.append((m["experiment"], "", m))
    records.append(("other_gan", "", GENERATIVE))  # not in a sweep: no row of its own
    (generative,) = summary_sections(records).values()
    assert [r["experiment"] for r in generative] == [
        "showers_gan_s1",
        "showers_gan_s2",
        "showers_gan_s3",
        "other_gan",
        "showers_gan (mean ± sd over 3 seeds)",
    ]
    mean = generative[-1]
    assert mean["model FD"] == "4 ± 1"  # sample sd of 3, 5, 4
    assert mean["model recall"] == "0.2 ± 0.1"
    assert mean["PCA FD"] == "5 ± 0"  # the same baseline for every seed
    assert "requested-class acc." not in mean  # not a conditional generator


def test_a_sweep_of_a_conditional_generator_and_of_observables_gets_their_spread():
    records = []
    for seed, accuracy, w in ((0, 0.9, 0.1), (1, 1.0, 0.2), (2, 0.95, 0.3)):
        m = json.loads(json.dumps(GENERATIVE))
        m |= {"experiment": f"g_s{seed}", "seed_sweep": "g", "seed": seed}
        m["generator"] |= {
            "requested_class_accuracy": accuracy,
            "mode_coverage": {"min_ratio": accuracy - 0.1},
        }
        m["observables"] = {
            "generator": {
                "a": {"standardized_wasserstein": w},
                "b": {"standardized_wasserstein": w + 0.2},
            },
            "pca_gaussian": {
                "a": {"standardized_wasserstein": 0.5},
                "b": {"standardized_wasserstein": None},
            },
        }
        records.append((m["experiment"], "", m))
    (generative,) = summary_sections(records).values()
    mean = generative[-1]
    assert mean["requested-class acc."] == "0.95 ± 0.05"
    assert mean["min class share / real"] == "0.85 ± 0.05"
    assert mean["model mean W1/sigma of observables"] == "0.3 ± 0.1"  # (w + w + 0.2) / 2
    assert mean["PCA mean W1/sigma of observables"] == "0.5 ± 0"  # the undefined one left out
    # a below 0.5 on every seed; b's PCA value undefined: not counted as below
    assert mean["observables below PCA"] == "1 of 2 on every seed"
    first = generative[0]
    assert (first["model W1/sigma a"], first["PCA W1/sigma a"]) == (0.1, 0.5)
    assert first["observables below PCA"] == "1 of 2"


def test_records_of_one_mode_share_a_table_and_old_records_are_images():
    old = {k: v for k, v in IMAGES.items() if k not in ("modality", "also_on")}
    sections = summary_sections(
        [("b", "", TRACES), ("a", "", IMAGES), ("c", "", TRACES), ("old", "", old)]
    )
    assert list(sections) == TITLES[1::-1]  # traces first: the order records come in
    assert [r["experiment"] for r in sections[TITLES[1]]] == ["b", "c"]
    assert [r["experiment"] for r in sections[TITLES[0]]] == ["a", "a", "old"]


def test_summary_page(tmp_path):
    metrics = _write(tmp_path, {"saxs_dae": IMAGES, "radio_dae": TRACES, "showers_gan": GENERATIVE})
    (tmp_path / "anomaly").mkdir()
    anomaly = _write(tmp_path / "anomaly", {"jets_ae": ANOMALY})
    out = tmp_path / "summary" / "metrics.html"
    summary_table(metrics, out, anomaly)
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<html>") and html.rstrip().endswith("</html>")
    titles = [unescape(t) for t in re.findall(r"<h3>(.*?)</h3>", html)]
    assert titles == TITLES
    for experiment in ("saxs_dae", "radio_dae", "showers_gan", "jets_ae", "saxs_partial"):
        assert f"<td>{experiment}</td>" in html, experiment
    assert html.count("<table") == 4


def test_tables_hold_the_rows_their_columns_apply_to():
    """Rows of different tasks in one section get tables of their own; a row whose metrics
    are a subset of a table's joins it with dashes; no column is blank throughout."""
    from aeflow.plotting.figures import applicable_groups, summary_table_html

    saxs = {"experiment": "saxs_dae", "evaluated on": "saxs", "model MSE": 0.001, "pca MSE": None}
    saxs_other = saxs | {"evaluated on": "saxs_partial"}
    fashion = {"experiment": "fashion_ae", "model MSE": 0.01, "pca MSE": 0.02, "k-NN": 0.8}
    conv = {"experiment": "fashion_conv_ae", "model MSE": 0.02, "pca MSE": 0.01, "k-NN": None}
    rows = [saxs, fashion, saxs_other, conv]
    groups = applicable_groups(rows)
    assert [[r["experiment"] for r in g] for g in groups] == [
        ["saxs_dae", "saxs_dae"],
        ["fashion_ae", "fashion_conv_ae"],
    ]
    page = summary_table_html({"Images": rows})
    assert page.count("<table") == 2 and page.count("<h3>") == 1
    assert "NaN" not in page and page.count("–") == 1  # conv's k-NN; saxs has no pca column
    assert page.split("<table")[1].count("pca MSE") == 0


def test_without_anomaly_records(tmp_path):
    out = tmp_path / "metrics.html"
    summary_table(_write(tmp_path, {"saxs_dae": IMAGES}), out)
    found = re.findall(r"<h3>(.*?)</h3>", out.read_text(encoding="utf-8"))
    assert [unescape(t) for t in found] == TITLES[:1]


def test_summary_of_the_records_the_stages_wrote(tiny_runs, tmp_path):
    """The records of evaluate, generate and anomaly are what the suites' tables read."""
    plan = tiny_runs.plan
    for e in tiny_runs.config["experiments"]:
        tiny_runs.outputs(e)
    metrics = {e: tiny_runs.path(plan.record(e)) for e in tiny_runs.config["experiments"]}
    anomaly = {
        e: tiny_runs.anomaly_scored(e) / "thresholds.json" for e in plan.anomaly_experiments()
    }
    out = tmp_path / "metrics.html"
    summary_table(metrics, out, anomaly)
    html = out.read_text(encoding="utf-8")
    # the tiny config's experiments in order: images, traces, a signal detector, ...
    modes = ("images", "traces", "detection", "generative", "anomaly")
    titles = [suites.suite(m).summary_title for m in modes]
    assert [unescape(t) for t in re.findall(r"<h3>(.*?)</h3>", html)] == titles
    for experiment in tiny_runs.config["experiments"]:
        assert f"<td>{experiment}</td>" in html, experiment
    assert "NaN" not in html and "None" not in html


def test_compression_study_with_hidden_layers(tiny_runs):
    """Each code size's autoencoder has the configured hidden layers; PCA beside it."""
    from aeflow.atomic import read_json

    record = read_json(tiny_runs.compressed())
    assert record["model_params"]["hidden"] == [16] and record["pixels"] == 64
    assert [r["code_size"] for r in record["rows"]] == [2, 8]
    # 64-16-2-16-64 with biases
    assert (
        record["rows"][0]["n_parameters"]
        == (64 * 16 + 16) + (16 * 2 + 2) + 2 * 16 + 16 + 16 * 64 + 64
    )
    pca = [r["pca_mse"] for r in record["rows"]]
    assert pca[1] < pca[0]  # more components, less error
    assert all(r["autoencoder_mse"] > 0 for r in record["rows"])


def test_summary_tables_as_json_with_the_best_baseline(tmp_path):
    metrics = _write(tmp_path, {"saxs_dae": IMAGES, "radio_dae": TRACES})
    out_json = tmp_path / "summary" / "metrics.json"
    about = {"config": "config.yaml", "mlflow_experiment": "aeflow-x"}
    summary_table(metrics, tmp_path / "metrics.html", None, out_json, about)
    doc = json.loads(out_json.read_text())
    assert doc["mlflow_experiment"] == "aeflow-x" and list(doc["tables"]) == ["images", "traces"]
    images = doc["tables"]["images"]
    assert images["title"] == suites.suite("images").summary_title
    first, partial = images["rows"]
    assert first["model"] == "skip_dae" and first["parameters"] is None  # not in the record
    assert (first["best baseline"], first["best baseline MSE"]) == ("gaussian", 0.02)
    assert (partial["best baseline"], partial["best baseline MSE"]) == ("gaussian", 0.03)
