"""Stage ``summary``: one HTML page with a table per evaluation mode - every experiment (and
every dataset it was evaluated on) beside its baselines. Each suite owns its table."""

from __future__ import annotations

from typing import Any

from aeflow.atomic import atomic_path, read_json
from aeflow.evaluation.suites import SUITES
from aeflow.plotting.figures import summary_table_html
from aeflow.stages import PathLike


def summary_sections(records: list[tuple[str, str, dict[str, Any]]]) -> dict[str, list]:
    """Table title -> rows, from (experiment, mode, record) in order; a record without its
    mode is judged by the ``modality`` it names (images for records before that key)."""
    sections: dict[str, list] = {}
    for experiment, mode, record in records:
        suite = SUITES[mode or record.get("modality", "images")]
        sections.setdefault(suite.summary_title, []).extend(suite.summary_rows(experiment, record))
    return sections


def summary_table(
    metrics_files: dict[str, PathLike],
    out: PathLike,
    anomaly_files: dict[str, PathLike] | None = None,
) -> None:
    """The summary page from every experiment's metrics record (evaluate or generate) and
    every anomaly record (thresholds.json)."""
    records = [(e, "", read_json(p)) for e, p in metrics_files.items()]
    records += [(e, "anomaly", read_json(p)) for e, p in (anomaly_files or {}).items()]
    with atomic_path(out) as tmp:
        tmp.write_text(summary_table_html(summary_sections(records)), encoding="utf-8")
