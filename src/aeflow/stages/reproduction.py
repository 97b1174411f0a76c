"""Stage ``reproduction``: every published number of the config's ``reproduction:`` section
beside the experiment measured against it (:mod:`aeflow.reproduction`), as
``results/reproduction.json`` and a report page."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from aeflow import reproduction
from aeflow.atomic import atomic_path, read_json, write_json
from aeflow.data.store import open_store
from aeflow.plotting.figures import summary_table_html
from aeflow.stages import PathLike

log = logging.getLogger(__name__)


def data_provenance(prepared: PathLike) -> str:
    """What the data of a prepared store are (its ``raw_provenance`` attr; stores made
    before that attr say only their source)."""
    attrs = open_store(prepared).attrs
    return attrs.get("raw_provenance") or f"source: {attrs.get('source')}"


def reproduction_table(
    section: Mapping[str, Any],
    records: Mapping[str, Mapping[str, PathLike]],
    prepared: Mapping[str, PathLike],
    config_label: str,
    mlflow_experiment: str,
    out_json: PathLike,
    out_html: PathLike,
) -> dict[str, Any]:
    """``records``: experiment -> {record kind: path}; ``prepared``: experiment -> its
    dataset's store."""
    loaded = {e: {k: read_json(p) for k, p in kinds.items()} for e, kinds in records.items()}
    by_store = {p: data_provenance(p) for p in set(prepared.values())}  # shared stores once
    data = {e: by_store[p] for e, p in prepared.items()}
    doc = reproduction.build(section, loaded, data, config_label, mlflow_experiment)
    write_json(out_json, doc)
    title = f"Published numbers beside ours ({config_label}): " + ", ".join(
        f"{n} {v}" for v, n in doc["verdicts"].items() if n
    )
    with atomic_path(out_html) as tmp:
        page = summary_table_html({title: reproduction.table_rows([doc])})
        tmp.write_text(page, encoding="utf-8")
    log.info("reproduction: %s", doc["verdicts"])
    return doc
