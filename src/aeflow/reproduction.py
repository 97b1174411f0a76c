"""Our numbers beside the published ones.

The catalog (``published.yaml`` beside this module) holds each published number: its source,
what it measures, its value (or the classical method a claim is measured against), where our
value sits in an experiment's record, which direction is better and the tolerance of a match.
A config's ``reproduction:`` section names the experiment(s) measured against each entry.
:func:`build` turns the records into rows with a verdict; the ``reproduction`` rule writes them
to ``results/reproduction.json`` and a report page. The README's table is generated from the
committed copies in ``docs/reproduction/`` (:mod:`aeflow.readme`), never typed.

No torch here: the plan and the config check read the catalog too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import yaml

CATALOG = Path(__file__).with_name("published.yaml")
RECORDS = ("metrics", "anomaly")  # which record of an experiment holds the metric
VERDICTS = ("matched", "better", "worse", "missing")
DEFAULT_TOLERANCE = 0.05


@cache
def catalog(path: str | Path = CATALOG) -> dict[str, dict[str, Any]]:
    """Every published entry by id, checked and with its defaults filled."""
    with open(path, encoding="utf-8") as f:
        raw = yaml.safe_load(f) or {}
    out = {}
    for key, entry in raw.items():
        where = f"{path}: {key}"
        missing = [
            k for k in ("source", "quantity", "definition", "metric", "better") if k not in entry
        ]
        if missing:
            raise ValueError(f"{where}: missing {', '.join(missing)}")
        if ("published" in entry) == ("versus" in entry):
            raise ValueError(f"{where}: give exactly one of published and versus")
        if entry["better"] not in ("lower", "higher"):
            raise ValueError(f"{where}.better: 'lower' or 'higher', not {entry['better']!r}")
        entry = {"record": "metrics", "tolerance": DEFAULT_TOLERANCE, "beside": {}} | entry
        if entry["record"] not in RECORDS:
            raise ValueError(f"{where}.record: one of {', '.join(RECORDS)}")
        out[key] = entry
    return out


def bindings(section: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """(published id, experiment) pairs of a config's ``reproduction:`` section, in order."""
    pairs = []
    for key, experiments in (section or {}).items():
        for experiment in [experiments] if isinstance(experiments, str) else experiments:
            pairs.append((key, experiment))
    return pairs


def check_section(section: Mapping[str, Any] | None, experiments: Mapping[str, Any]) -> None:
    """Unknown ids or experiments in ``reproduction:``, or an anomaly number bound to an
    experiment without an anomaly section, raise ValueError naming the key."""
    known = catalog()
    for key, experiment in bindings(section):
        if key not in known:
            raise ValueError(f"reproduction.{key}: not a published number (see {CATALOG.name})")
        if experiment not in experiments:
            raise ValueError(f"reproduction.{key}: unknown experiment {experiment!r}")
        if known[key]["record"] == "anomaly" and not experiments[experiment].get("anomaly"):
            raise ValueError(
                f"reproduction.{key}: experiment {experiment!r} has no anomaly section "
                "(the number is an anomaly score's)"
            )


def lookup(record: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted key path; keys may themselves hold dots (``tpr_at_fpr_0.01``).
    None when the record has no such key."""
    node: Any = record
    rest = path
    while rest:
        if not isinstance(node, Mapping):
            return None
        key = next((k for k in node if rest == k or rest.startswith(f"{k}.")), None)
        if key is None:
            return None
        node, rest = node[key], rest[len(key) + 1 :]
    return node


def verdict(ours: float | None, reference: float | None, better: str, tolerance: float):
    """(verdict, relative difference (ours - reference) / |reference|): ``matched`` within
    the tolerance, else ``better`` or ``worse`` in the entry's direction; ``missing`` when
    either value is absent."""
    if not _is_number(ours) or not _is_number(reference):
        return "missing", None
    scale = abs(reference) or 1.0
    rel = (ours - reference) / scale
    if abs(rel) <= tolerance:
        return "matched", rel
    improved = ours < reference if better == "lower" else ours > reference
    return ("better" if improved else "worse"), rel


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def row(
    key: str,
    experiment: str,
    record: Mapping[str, Any],
    data: str,
    config_label: str,
) -> dict[str, Any]:
    """One row: the published entry ``key`` beside ``experiment``'s ``record``, measured on
    ``data`` (a :func:`aeflow.data.sources.raw_provenance` string)."""
    entry = catalog()[key]
    ours = lookup(record, entry["metric"])
    if "versus" in entry:
        reference_label = entry["versus"]["label"]
        reference = lookup(record, entry["versus"]["metric"])
    else:
        reference_label, reference = "published", entry["published"]
    result, rel = verdict(ours, reference, entry["better"], entry["tolerance"])
    why = ""
    if result == "worse":
        why = entry.get("if_worse", "")
    elif result == "missing":
        why = f"the {entry['record']} record of {experiment} has no {entry['metric']}"
    return {
        "id": key,
        "source": entry["source"],
        "quantity": entry["quantity"],
        "definition": " ".join(entry["definition"].split()),
        "better": entry["better"],
        "reference_label": reference_label,
        "reference": reference,
        "ours": ours,
        "relative_difference": rel,
        "tolerance": entry["tolerance"],
        "verdict": result,
        "why": why,
        "beside": {label: lookup(record, path) for label, path in entry["beside"].items()},
        "experiment": experiment,
        "dataset": record.get("dataset"),
        "data": data,
        "config": config_label,
    }


def build(
    section: Mapping[str, Any] | None,
    records: Mapping[str, Mapping[str, Mapping[str, Any]]],
    data: Mapping[str, str],
    config_label: str,
    mlflow_experiment: str,
) -> dict[str, Any]:
    """The reproduction document: ``records[experiment][record kind]`` are the experiments'
    records, ``data[experiment]`` what their data are."""
    from aeflow import __version__

    rows = [
        row(key, e, records[e][catalog()[key]["record"]], data[e], config_label)
        for key, e in bindings(section)
    ]
    counts = {v: sum(r["verdict"] == v for r in rows) for v in VERDICTS}
    return {
        "config": config_label,
        "mlflow_experiment": mlflow_experiment,
        "aeflow_version": __version__,
        "verdicts": counts,
        "rows": rows,
    }


# ---- tables --------------------------------------------------------------------------------------
def fmt(value: Any) -> str:
    """A table cell: three significant digits, integers as they are, – for no value."""
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def _data_label(data: str) -> str:
    """The short form of a provenance string: simulation / real / stand-in / local file."""
    short = {
        "simulation": "our simulation",
        "real": "real",
        "stand-in": "our simulation in the source's file format",
        "local": "local file",
    }
    return short.get(data.split(":", 1)[0], data)


def table_rows(documents: list[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Flat display rows of one or more reproduction documents."""
    out = []
    for doc in documents:
        for r in doc["rows"]:
            reference = fmt(r["reference"])
            if r["reference_label"] != "published":
                reference = f"{r['reference_label']}: {reference}"
            beside = ", ".join(f"{k} {fmt(v)}" for k, v in r["beside"].items())
            notes = []
            if r["relative_difference"] is not None:
                notes.append(f"{r['relative_difference']:+.1%} vs ±{r['tolerance']:.0%}")
            verdict_text = " ".join([r["verdict"], *(f"({n})" for n in notes)])
            if r["why"]:
                verdict_text += f": {r['why']}"
            out.append(
                {
                    "source": r["source"],
                    "quantity": f"{r['quantity']} ({r['better']} is better)",
                    "published / reference": reference,
                    "ours": fmt(r["ours"]),
                    "beside": beside,
                    "data": _data_label(r["data"]),
                    "experiment": f"{r['experiment']} ({r['config']})",
                    "verdict": verdict_text,
                }
            )
    return out


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table; pipes and line breaks in cells escaped."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for cells in rows:
        clean = (" ".join(c.split()).replace("|", "\\|") for c in cells)
        lines.append("| " + " | ".join(clean) + " |")
    return "\n".join(lines) + "\n"


def markdown(documents: list[Mapping[str, Any]]) -> str:
    """The published-vs-ours table of reproduction documents (the README's)."""
    rows = table_rows(documents)
    if not rows:
        return "(no reproduction rows)\n"
    return markdown_table(list(rows[0]), [list(r.values()) for r in rows])
