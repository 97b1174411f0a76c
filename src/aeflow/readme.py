"""The README's generated tables: every measured number in them comes from a run's own outputs.

A generated table sits between two HTML comments. The opening one says what to build:

    <!-- make readme: reproduction -->
    (the published-vs-ours table of every docs/reproduction/*.json)
    <!-- end of generated table -->

    <!-- make readme: traces of aeflow-default
         rows: radio_galactic_dae, radio_uniform_dae
         columns: noise, DAE peak acc. as DAE, raw trace peak acc. as raw trace -->
    (a table of the run's summary page)
    <!-- end of generated table -->

The second form takes the table of one evaluation mode (``images``, ``traces``, ``anomaly``,
``generative``) from ``docs/summary/<MLflow experiment>.json``, a committed copy of a run's
``results/summary/metrics.json``. ``rows`` picks experiments in the order listed (every row
of an experiment: ``also_on`` datasets too; all rows when absent; in tables without an
experiment column, such as ``label_efficiency``, the dataset's rows); ``columns`` picks the
summary columns in order, each optionally renamed with ``as``.

``make readme`` (``python -m aeflow.readme --collect results``) copies the run's documents
into ``docs/`` and rewrites every generated table; ``--check`` (in ``make lint``) fails when
a table is stale or names a column or experiment the document lacks.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aeflow import reproduction

DOCS = Path("docs")
END = "<!-- end of generated table -->"
_SECTION = re.compile(r"<!-- make readme: (?P<spec>.*?) -->\n(?P<body>.*?)" + re.escape(END), re.S)


def parse_spec(spec: str, where: str) -> dict[str, Any]:
    """``reproduction`` or ``<mode> of <document>`` with optional ``rows:`` and ``columns:``
    lines; ValueError naming ``where`` otherwise."""
    first, *lines = [line.strip() for line in spec.strip().splitlines()]
    if first == "reproduction" and not lines:
        return {"kind": "reproduction"}
    m = re.fullmatch(r"(\w+) of ([\w.-]+)", first)
    if not m:
        raise ValueError(f"{where}: '{first}' is not 'reproduction' or '<mode> of <document>'")
    out: dict[str, Any] = {"kind": "summary", "mode": m[1], "document": m[2], "rows": None}
    for line in lines:
        key, _, value = line.partition(":")
        items = [v.strip() for v in value.split(",") if v.strip()]
        if key == "rows":
            out["rows"] = items
        elif key == "columns":
            out["columns"] = [tuple(re.split(r"\s+as\s+", c, maxsplit=1)) for c in items]
        else:
            raise ValueError(f"{where}: unknown line {line!r} (rows: or columns:)")
    if "columns" not in out:
        raise ValueError(f"{where}: a summary table needs a columns: line")
    return out


def summary_markdown(spec: Mapping[str, Any], document: Mapping[str, Any], where: str) -> str:
    """The table a summary spec asks for, from a summary document."""
    table = document["tables"].get(spec["mode"])
    if table is None:
        raise ValueError(f"{where}: {spec['document']} has no {spec['mode']} table")
    rows = table["rows"]
    if spec["rows"] is not None:
        by_experiment = {
            e: [r for r in rows if r.get("experiment", r.get("dataset")) == e] for e in spec["rows"]
        }
        missing = [e for e, found in by_experiment.items() if not found]
        if missing:
            raise ValueError(f"{where}: {spec['document']} has no rows of {', '.join(missing)}")
        rows = [r for found in by_experiment.values() for r in found]
    columns = spec["columns"]
    known = {k for r in rows for k in r}
    unknown = [c[0] for c in columns if c[0] not in known]
    if unknown:
        raise ValueError(f"{where}: {spec['mode']} rows have no column(s) {', '.join(unknown)}")
    header = [c[-1] for c in columns]
    cells = [[reproduction.fmt(r.get(c[0])) for c in columns] for r in rows]
    return reproduction.markdown_table(header, cells)


def load_documents(docs: Path = DOCS) -> dict[str, Any]:
    """The committed documents: reproduction documents (a list) and summary documents by
    name."""
    return {
        "reproduction": [_read(p) for p in sorted((docs / "reproduction").glob("*.json"))],
        "summary": {p.stem: _read(p) for p in sorted((docs / "summary").glob("*.json"))},
    }


def _read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def rewrite(text: str, documents: Mapping[str, Any], where: str = "README.md") -> str:
    """``text`` with every generated table rebuilt from ``documents``."""

    def build(m: re.Match) -> str:
        spec = parse_spec(m["spec"], where)
        if spec["kind"] == "reproduction":
            body = reproduction.markdown(documents["reproduction"])
        else:
            document = documents["summary"].get(spec["document"])
            if document is None:
                raise ValueError(f"{where}: no docs/summary/{spec['document']}.json")
            body = summary_markdown(spec, document, f"{where}: {spec['mode']} table")
        return f"<!-- make readme: {m['spec']} -->\n{body}{END}"

    return _SECTION.sub(build, text)


def collect(results: Path, docs: Path = DOCS) -> list[Path]:
    """Copy a run's reproduction and summary documents into ``docs`` under the run's MLflow
    experiment name; the copies made."""
    made = []
    for source, folder in (
        (results / "reproduction.json", docs / "reproduction"),  # published vs ours
        (results / "summary" / "metrics.json", docs / "summary"),  # the summary page's tables
    ):
        if source.exists():
            name = _read(source)["mlflow_experiment"]
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, folder / f"{name}.json")
            made.append(folder / f"{name}.json")
    return made


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m aeflow.readme",
        description="Rewrite (or --check) the README's generated tables from docs/reproduction "
        "and docs/summary (committed copies of a run's results).",
    )
    parser.add_argument("--readme", default="README.md")
    parser.add_argument("--check", action="store_true", help="exit 1 if a table is stale")
    parser.add_argument(
        "--collect",
        metavar="RESULTS",
        help="first copy RESULTS/reproduction.json and RESULTS/summary/metrics.json into docs/",
    )
    args = parser.parse_args(argv)
    if args.collect:
        for path in collect(Path(args.collect)):
            print(f"kept {path}")
    readme = Path(args.readme)
    text = readme.read_text(encoding="utf-8")
    try:
        new = rewrite(text, load_documents(), str(readme))
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 1
    if args.check:
        if new != text:
            print(f"{readme}: a generated table is stale: run make readme", file=sys.stderr)
            return 1
        return 0
    if new != text:
        readme.write_text(new, encoding="utf-8")
        print(f"{readme}: generated tables rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
