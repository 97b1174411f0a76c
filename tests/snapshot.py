"""Snapshot of a workflow's outputs, to check that a refactoring leaves behaviour unchanged.

    python tests/snapshot.py record <root> <out.json>   # every workflow dir under <root>
    python tests/snapshot.py compare <before.json> <after.json>

A snapshot holds, per workflow directory (one that has ``results/``): the set of files it
produced (figures, stores, JSON records; logs and MLflow internals left out) and every number
and string in every ``metrics.json``, ``thresholds.json``, ``classifier.json`` and
compression record, keyed by its JSON path. Run ids, timings and absolute paths are left out:
they differ between any two runs.
"""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

# Keys whose values differ between any two runs (ids, wall-clock, temporary paths).
VOLATILE = re.compile(r"(mlflow_run_id|run_id|seconds|history|raw_file|tracking_uri)$")
RECORDS = ("metrics.json", "thresholds.json", "classifier.json")
SKIP_DIRS = ("results/logs", "results/mlartifacts", "results/mlruns", "results/checkpoints")


def _flatten(obj, prefix: str, out: dict) -> None:
    if isinstance(obj, dict):
        for key, value in obj.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if not VOLATILE.search(str(key)):
                _flatten(value, path, out)
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            _flatten(value, f"{prefix}[{i}]", out)
    else:
        out[prefix] = obj


def _files(workdir: Path) -> list[str]:
    found = set()
    for path in workdir.rglob("*"):
        rel = path.relative_to(workdir).as_posix()
        if not rel.startswith(("results/", "data/")) or rel.startswith(SKIP_DIRS):
            continue
        # a Zarr store counts as one output, not its chunks
        store = re.match(r"(.*?\.zarr)(/|$)", rel)
        if store:
            found.add(store.group(1))
        elif path.is_file() and not rel.startswith("results/mlflow.db"):
            found.add(rel)
    return sorted(found)


def record(root: Path) -> dict:
    snapshot = {}
    for results in sorted(root.rglob("results")):
        workdir = results.parent
        if not results.is_dir() or "results" in workdir.parts[len(root.parts) :]:
            continue
        numbers: dict = {}
        for path in sorted(results.rglob("*.json")):
            rel = path.relative_to(workdir).as_posix()
            if rel.startswith(SKIP_DIRS):  # MLflow's copies of the records
                continue
            if path.name in RECORDS or rel.startswith("results/compression/"):
                _flatten(json.loads(path.read_text()), rel, numbers)
        key = workdir.relative_to(root).as_posix()
        key = re.sub(r"\d+$", "", key)  # pytest's numbered temp dirs
        snapshot[key] = {"files": _files(workdir), "values": numbers}
    return snapshot


def _same(a, b, rel_tol: float) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) and math.isnan(b):
            return True
        return math.isclose(a, b, rel_tol=rel_tol, abs_tol=1e-12)
    return a == b


def compare(before: dict, after: dict, rel_tol: float = 0.0) -> list[str]:
    """Differences between two snapshots, one line each (empty: identical)."""
    lines = []
    for key in sorted(set(before) | set(after)):
        if key not in after or key not in before:
            lines.append(f"{key}: only {'before' if key in before else 'after'}")
            continue
        b, a = before[key], after[key]
        for f in sorted(set(b["files"]) ^ set(a["files"])):
            lines.append(f"{key}: file {f} only {'before' if f in b['files'] else 'after'}")
        for v in sorted(set(b["values"]) | set(a["values"])):
            x, y = b["values"].get(v, "<absent>"), a["values"].get(v, "<absent>")
            if not _same(x, y, rel_tol):
                lines.append(f"{key}: {v}: {x!r} -> {y!r}")
    return lines


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "record":
        snap = record(Path(argv[1]))
        Path(argv[2]).write_text(json.dumps(snap, indent=1, sort_keys=True, default=str))
        n = sum(len(s["values"]) for s in snap.values())
        print(f"{len(snap)} workflow dirs, {n} values -> {argv[2]}")
        return 0
    if len(argv) in (3, 4) and argv[0] == "compare":
        tol = float(argv[3]) if len(argv) == 4 else 0.0
        before, after = (json.loads(Path(p).read_text()) for p in argv[1:3])
        diff = compare(before, after, tol)
        print("\n".join(diff) or "identical")
        n = sum(len(s["values"]) for s in before.values())
        print(f"{len(diff)} differences in {len(before)} workflow dirs, {n} values")
        return 1 if diff else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
