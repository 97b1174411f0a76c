"""Self-supervised pretraining through the stages: a galaxy colorization judged in colour
beside its baselines, and the label-efficiency study on its encoder and a reconstruction
autoencoder's (the tiny runs of tests/tiny_runs.py)."""

import json
from pathlib import Path

import numpy as np
import pytest

from aeflow.atomic import read_json
from aeflow.data.split import split_index
from aeflow.data.store import open_store
from aeflow.evaluation import label_efficiency as lev
from aeflow.evaluation.colour import luminance
from aeflow.stages import label_efficiency as le
from aeflow.stages.summary import summary_table


def test_a_colorization_is_judged_in_colour_beside_its_baselines(tiny_runs):
    out = tiny_runs.evaluated("galaxy_colorize")
    m = read_json(out / "metrics.json")
    assert set(m["baselines"]) == {"grey", "mean_colour", "linear"}
    for block in (m, *m["baselines"].values()):
        colour = block["colour"]
        assert colour["delta_e"]["mean"] > 0 and colour["chroma_error"] > 0
        assert {"pearson_r", "bias", "rms"} <= set(colour["gradient"])
    assert m["baselines"]["grey"]["colour"]["gradient"]["pearson_r"] is None  # no colour
    pred = open_store(out / "predictions.zarr")
    assert pred["input"].dims == ("sample", "y", "x")  # one grey channel in ...
    assert pred["prediction"].dims == ("sample", "channel", "y", "x")  # ... three out
    assert pred.sizes["channel"] == 3
    np.testing.assert_allclose(
        pred["input"].values, luminance(pred["target"].values), rtol=1e-5, atol=1e-6
    )
    # the network was built for it: one channel in, three out
    desc = read_json(tiny_runs.trained("galaxy_colorize") / "model.json")
    assert desc["config"]["in_channels"] == 1 and desc["config"]["out_channels"] == 3


def test_the_label_efficiency_record(tiny_runs, tmp_path):
    record = read_json(tiny_runs.label_efficiency("galaxies"))
    ds = open_store(tiny_runs.prepared("galaxies"))
    n_train = len(split_index(ds, "train"))
    assert record["n_train"] == n_train and record["n_classes"] == 3
    variants = {r["variant"] for r in record["rows"]}
    # frozen and fine-tuned per encoder; one scratch per network (grey and colour input
    # differ); logistic regression on PCA features
    assert variants == {
        "galaxy_colorize frozen",
        "galaxy_colorize fine-tuned",
        "galaxy_ae frozen",
        "galaxy_ae fine-tuned",
        "scratch conv_ae [4, 8] (grey)",
        "scratch conv_ae [4, 8]",
        "pca_logistic",
    }
    assert len(record["rows"]) == len(variants) * 2 * 2  # label counts x seeds
    for r in record["rows"]:
        assert 0 <= r["accuracy"] <= 1
        assert r["n_labelled"] == (3 * 2 if r["labels_per_class"] == 2 else n_train)
    curve = {(c["variant"], c["n"]): c for c in record["curves"]}
    assert curve[("galaxy_ae frozen", 2)]["seeds"] == 2
    assert set(record["beats_scratch"]) == {v for v in variants if "frozen" in v or "tuned" in v}
    rows = lev.summary_rows(record)
    assert {r["variant"] for r in rows} == variants
    assert all("2 per class" in r and "all labels" in r for r in rows)
    # in MLflow: the means per label count, and every accuracy as a table
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tiny_runs.mlflow["tracking_uri"])
    run = client.get_run(record["mlflow_run_id"])
    assert "accuracy.galaxy_ae_frozen" in run.data.metrics
    # (read from the run itself: MlflowClient.load_table searches the global tracking URI)
    path = client.download_artifacts(run.info.run_id, "label_efficiency.json", str(tmp_path))
    table = json.loads(Path(path).read_text())
    table = {c: [row[i] for row in table["data"]] for i, c in enumerate(table["columns"])}
    assert "label_efficiency.json" in run.data.tags.get("mlflow.loggedArtifacts", "")
    assert len(table["variant"]) == len(record["rows"]) and set(table["variant"]) == variants


def test_a_study_on_grey_images(tiny_runs):
    record = read_json(tiny_runs.label_efficiency("digits"))
    assert {r["variant"] for r in record["rows"]} == {
        "digits_ae frozen",
        "digits_ae fine-tuned",
        "scratch dense_ae [2]",
        "pca_logistic",
    }
    assert {r["n_labelled"] for r in record["rows"]} == {2 * record["n_classes"]}


def test_the_classifiers_see_only_the_drawn_labels(tiny_runs, tmp_path, monkeypatch):
    """Every classifier of the study - the networks' heads and the logistic regression -
    is handed exactly per_class labelled images of each class, those of the draw."""
    seen = []
    fit, logistic = le.fit, le.pca_logistic_accuracy

    def spy_fit(probe, x, y, *args, **kwargs):
        seen.append(("net", len(x), np.bincount(y.cpu().numpy(), minlength=3)))
        return fit(probe, x, y, *args, **kwargs)

    def spy_logistic(x_unlabelled, x_labelled, y_labelled, *args):
        seen.append(("logistic", len(x_labelled), np.bincount(y_labelled, minlength=3)))
        return logistic(x_unlabelled, x_labelled, y_labelled, *args)

    monkeypatch.setattr(le, "fit", spy_fit)
    monkeypatch.setattr(le, "pca_logistic_accuracy", spy_logistic)
    study = dict(tiny_runs.config["label_efficiency"]["galaxies"], labels_per_class=[3])
    encoders = {"galaxy_ae": {"model_dir": tiny_runs.trained("galaxy_ae"), "task": "reconstruct"}}
    prepared = tiny_runs.prepared("galaxies")
    le.label_efficiency(
        "galaxies", study, encoders, tiny_runs.mlflow, prepared, tmp_path / "r.json"
    )
    # (frozen, fine-tuned, scratch) x 2 seeds, then the logistic regression x 2 seeds
    assert [s[0] for s in seen] == ["net"] * 6 + ["logistic"] * 2
    for _, n, per_class in seen:
        assert n == 9 and per_class.tolist() == [3, 3, 3]


def test_the_summary_page_has_the_label_efficiency_table(tiny_runs, tmp_path):
    import json

    out_json = tmp_path / "metrics.json"
    path = tiny_runs.label_efficiency("galaxies")
    summary_table({}, tmp_path / "summary.html", None, out_json, {}, [path])
    table = json.loads(out_json.read_text())["tables"]["label_efficiency"]
    assert table["title"] == lev.SUMMARY_TITLE
    assert len(table["rows"]) == 7
    assert "galaxy_colorize fine-tuned" in (tmp_path / "summary.html").read_text()


@pytest.mark.parametrize(
    ("study", "message"),
    [
        ({"encoders": ["nope"]}, "label_efficiency.galaxies.encoders: unknown experiment 'nope'"),
        ({"encoders": ["digits_ae"]}, "'digits_ae' was trained on 'digits', not 'galaxies'"),
    ],
)
def test_a_bad_study_names_the_key(tiny_runs, study, message):
    from aeflow.config import ConfigError, validate_config

    cfg = {
        k: v
        for k, v in tiny_runs.config.items()
        if k in ("datasets", "experiments", "mlflow", "compression")
    }
    cfg["label_efficiency"] = {"galaxies": study}
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        validate_config(cfg)
    # an anomaly experiment saw only the classes its labels picked
    cfg["label_efficiency"] = {"digits": {"encoders": ["digits_held_out"]}}
    with pytest.raises(ConfigError, match="'digits_held_out' trained on the normal classes"):
        validate_config(cfg)
