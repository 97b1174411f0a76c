"""The reproduction stage on the records the tiny runs wrote: one row per binding, the
value read from the right record, the data's provenance, the report page."""

import json

from aeflow import reproduction
from aeflow.atomic import read_json
from aeflow.stages.reproduction import reproduction_table


def test_rows_from_the_records_the_stages_wrote(tiny_runs, tmp_path):
    section = {"book_saxs_val_loss": "saxs_dae", "qcd_or_what_jets_auroc": "jets_ae"}
    config = dict(tiny_runs.config, reproduction=section)
    plan = type(tiny_runs.plan)(config)
    records = plan.reproduction_records()
    assert records == {
        "saxs_dae": {"metrics": "results/eval/saxs_dae/metrics.json"},
        "jets_ae": {"anomaly": "results/anomaly/jets_ae/thresholds.json"},
    }
    tiny_runs.outputs("saxs_dae")
    tiny_runs.anomaly_scored("jets_ae")
    files = {e: {k: tiny_runs.path(p) for k, p in r.items()} for e, r in records.items()}
    prepared = {e: tiny_runs.path(f"results/prepared/{plan.dataset_of(e)}.zarr") for e in records}
    out_json, out_html = tmp_path / "reproduction.json", tmp_path / "reproduction.html"
    doc = reproduction_table(section, files, prepared, "tiny.yaml", "x", out_json, out_html)

    assert read_json(out_json) == json.loads(json.dumps(doc))
    saxs, jets = doc["rows"]
    metrics = read_json(files["saxs_dae"]["metrics"])
    assert saxs["ours"] == metrics["test_loss"] and saxs["reference"] == 4.29e-4
    assert saxs["beside"]["speckle input"] == metrics["baselines"]["identity"]["test_loss"]
    assert saxs["data"].startswith("simulation")
    assert saxs["config"] == "tiny.yaml" and saxs["experiment"] == "saxs_dae"
    thresholds = read_json(files["jets_ae"]["anomaly"])
    assert jets["ours"] == thresholds["auroc"]
    assert jets["beside"]["jet mass"] == thresholds["baselines"]["jet_mass"]["auroc"]
    for r in doc["rows"]:
        assert r["verdict"] in reproduction.VERDICTS
        assert (r["verdict"] == "worse") == bool(r["why"])
    assert sum(doc["verdicts"].values()) == 2
    page = out_html.read_text(encoding="utf-8")
    assert "Deep Learning for Physics Research" in page and "our simulation" in page
