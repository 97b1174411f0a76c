"""The README's generated tables: specs, rendering from summary documents, collecting a run's
documents, and the repository's README being current."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aeflow import readme

REPO = Path(__file__).resolve().parents[2]
SUMMARY = {
    "config": "config.yaml",
    "mlflow_experiment": "aeflow-test",
    "tables": {
        "traces": {
            "title": "Radio traces",
            "rows": [
                {"experiment": "b_dae", "noise": "uniform", "DAE peak acc.": 0.71234},
                {"experiment": "a_dae", "noise": "galactic", "DAE peak acc.": 0.5},
                {"experiment": "a_dae", "noise": "cosine", "DAE peak acc.": None},
            ],
        }
    },
}
SPEC = """traces of aeflow-test
     rows: a_dae, b_dae
     columns: noise, DAE peak acc. as DAE"""


def _section(spec: str, body: str = "old\n") -> str:
    return f"intro\n<!-- make readme: {spec} -->\n{body}{readme.END}\noutro\n"


def test_specs():
    assert readme.parse_spec("reproduction", "R") == {"kind": "reproduction"}
    spec = readme.parse_spec(SPEC, "R")
    assert spec["mode"] == "traces" and spec["document"] == "aeflow-test"
    assert spec["rows"] == ["a_dae", "b_dae"]
    assert spec["columns"] == [("noise",), ("DAE peak acc.", "DAE")]
    with pytest.raises(ValueError, match=r"R: 'tables' is not 'reproduction'"):
        readme.parse_spec("tables", "R")
    with pytest.raises(ValueError, match="R: unknown line 'order: x'"):
        readme.parse_spec("traces of x\norder: x\ncolumns: a", "R")
    with pytest.raises(ValueError, match="needs a columns: line"):
        readme.parse_spec("traces of x", "R")


def test_a_summary_table_rows_in_the_listed_order_columns_renamed():
    documents = {"reproduction": [], "summary": {"aeflow-test": SUMMARY}}
    new = readme.rewrite(_section(SPEC), documents)
    assert new.startswith("intro\n<!-- make readme: traces") and new.endswith("outro\n")
    body = new.split("-->\n", 1)[1].split(readme.END)[0]
    assert body.splitlines() == [
        "| noise | DAE |",
        "|---|---|",
        "| galactic | 0.5 |",
        "| cosine | – |",  # every row of a listed experiment; no value is a dash
        "| uniform | 0.712 |",
    ]
    assert readme.rewrite(new, documents) == new  # idempotent


def test_a_table_naming_what_the_document_lacks_is_an_error():
    documents = {"reproduction": [], "summary": {"aeflow-test": SUMMARY}}
    with pytest.raises(ValueError, match="no rows of c_dae"):
        readme.rewrite(_section(SPEC.replace("b_dae", "c_dae")), documents)
    with pytest.raises(ValueError, match=r"no column.* Wiener peak acc\."):
        readme.rewrite(_section(SPEC + ", Wiener peak acc."), documents)
    with pytest.raises(ValueError, match="aeflow-test has no images table"):
        readme.rewrite(_section(SPEC.replace("traces of", "images of")), documents)
    with pytest.raises(ValueError, match=r"no docs/summary/other\.json"):
        readme.rewrite(_section(SPEC.replace("aeflow-test", "other")), documents)


def test_collect_keeps_a_runs_documents_under_its_mlflow_experiment(tmp_path):
    results = tmp_path / "results"
    (results / "summary").mkdir(parents=True)
    (results / "summary" / "metrics.json").write_text(json.dumps(SUMMARY))
    made = readme.collect(results, tmp_path / "docs")
    assert made == [tmp_path / "docs" / "summary" / "aeflow-test.json"]  # no reproduction.json
    (results / "reproduction.json").write_text(json.dumps({"mlflow_experiment": "x", "rows": []}))
    made = readme.collect(results, tmp_path / "docs")
    assert made[0] == tmp_path / "docs" / "reproduction" / "x.json" and len(made) == 2
    documents = readme.load_documents(tmp_path / "docs")
    assert documents["summary"]["aeflow-test"] == SUMMARY
    assert documents["reproduction"] == [{"mlflow_experiment": "x", "rows": []}]


def test_the_readme_tables_are_generated_from_the_committed_documents(monkeypatch, capsys):
    """What make lint checks: every generated table of README.md renders docs/ as it is."""
    monkeypatch.chdir(REPO)
    assert sorted((REPO / "docs" / "reproduction").glob("*.json"))
    assert readme.main(["--check"]) == 0, capsys.readouterr().err
