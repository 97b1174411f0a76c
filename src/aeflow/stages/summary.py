"""Stage ``summary``: one HTML page with a table per evaluation mode - every experiment (and
every dataset it was evaluated on) beside its baselines - and the same tables as JSON (the
README's result tables are generated from a committed copy: :mod:`aeflow.readme`). Each suite
owns its table."""

from __future__ import annotations

from typing import Any

from aeflow.atomic import atomic_path, read_json, write_json
from aeflow.evaluation import suites
from aeflow.plotting.figures import summary_table_html
from aeflow.stages import PathLike


def summary_tables(records: list[tuple[str, str, dict[str, Any]]]) -> dict[str, dict]:
    """Mode -> {title, rows}, from (experiment, mode, record) in order; a record without its
    mode is judged by the ``mode`` it names, else by its ``modality`` (images for records
    before that key)."""
    tables: dict[str, dict] = {}
    for experiment, mode, record in records:
        mode = mode or record.get("mode") or record.get("modality", "images")
        suite = suites.suite(mode)
        table = tables.setdefault(mode, {"title": suite.summary_title, "rows": []})
        table["rows"].extend(suite.summary_rows(experiment, record))
    anomaly = [(e, r) for e, mode, r in records if mode == "anomaly"]
    if anomaly:  # the mean of each sweep over its held-out classes, after its rows
        tables["anomaly"]["rows"].extend(suites.suite("anomaly").sweep_rows(anomaly))
    generative = [(e, r) for e, mode, r in records if r.get("modality") == "generative"]
    if any(r.get("seed_sweep") for _, r in generative):  # each seeds sweep: mean ± sd
        tables["generative"]["rows"].extend(suites.suite("generative").sweep_rows(generative))
    return tables


def summary_sections(records: list[tuple[str, str, dict[str, Any]]]) -> dict[str, list]:
    """Table title -> rows (the page's sections), in the order of :func:`summary_tables`."""
    return _sections(summary_tables(records))


def _sections(tables: dict[str, dict]) -> dict[str, list]:
    return {t["title"]: t["rows"] for t in tables.values()}


def summary_table(
    metrics_files: dict[str, PathLike],
    out: PathLike,
    anomaly_files: dict[str, PathLike] | None = None,
    out_json: PathLike | None = None,
    about: dict[str, Any] | None = None,
    label_efficiency_files: list[PathLike] | None = None,
) -> None:
    """The summary page from every experiment's metrics record (evaluate or generate),
    every anomaly record (thresholds.json) and every label-efficiency study; with
    ``out_json`` the tables as JSON too: ``about`` (the config, the MLflow experiment) and
    ``tables`` (mode -> {title, rows})."""
    records = [(e, "", read_json(p)) for e, p in metrics_files.items()]
    records += [(e, "anomaly", read_json(p)) for e, p in (anomaly_files or {}).items()]
    tables = summary_tables(records)
    if label_efficiency_files:
        from aeflow.evaluation import label_efficiency as le

        rows = [row for p in label_efficiency_files for row in le.summary_rows(read_json(p))]
        tables["label_efficiency"] = {"title": le.SUMMARY_TITLE, "rows": rows}
    if out_json is not None:
        write_json(out_json, (about or {}) | {"tables": tables})
    with atomic_path(out) as tmp:
        tmp.write_text(summary_table_html(_sections(tables)), encoding="utf-8")
