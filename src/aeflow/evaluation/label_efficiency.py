"""The label-efficiency study's numbers: per variant and label count the accuracy's mean and
spread over seeds, where a pretrained encoder beats its network from scratch, and the
summary table (no torch: the summary page reads these)."""

from __future__ import annotations

from typing import Any

import numpy as np


def curves(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per variant and label count: the accuracy's mean and sample sd over seeds."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["variant"], r["labels_per_class"]), []).append(r)
    out = []
    for (variant, n), rs in groups.items():
        acc = np.array([r["accuracy"] for r in rs])
        out.append(
            {
                "variant": variant,
                "mode": rs[0]["mode"],
                "experiment": rs[0].get("experiment"),
                "n": n,
                "n_labelled": int(np.mean([r["n_labelled"] for r in rs])),
                "accuracy_mean": float(acc.mean()),
                "accuracy_sd": float(acc.std(ddof=1)) if len(acc) > 1 else 0.0,
                "seeds": len(acc),
                "same_network_as": rs[0].get("same_network_as"),
            }
        )
    return out


def beats_scratch(curve: list[dict[str, Any]]) -> dict[str, Any]:
    """For every pretrained variant, the label counts at which its mean accuracy is above
    that of the same network from scratch, and above it by more than the two spreads
    combined (sqrt(sd1^2 + sd2^2))."""
    scratch = {}
    for c in curve:
        if c["mode"] == "scratch":
            for e in c["same_network_as"]:
                scratch[(e, c["n"])] = c
    out: dict[str, Any] = {}
    for c in curve:
        base = scratch.get((c["experiment"], c["n"]))
        if c["mode"] not in ("frozen", "fine-tuned") or base is None:
            continue
        entry = out.setdefault(c["variant"], {"above": [], "clearly_above": [], "gain": {}})
        gain = c["accuracy_mean"] - base["accuracy_mean"]
        entry["gain"][str(c["n"])] = gain
        if gain > 0:
            entry["above"].append(c["n"])
        if gain > np.hypot(c["accuracy_sd"], base["accuracy_sd"]):
            entry["clearly_above"].append(c["n"])
    return out


SUMMARY_TITLE = (
    "Label efficiency: test accuracy of a classifier head on pretrained encoders (frozen, "
    "fine-tuned) beside the same networks from scratch and logistic regression on PCA "
    "features, by labelled training images per class (mean ± sd over seeds)"
)


def summary_rows(record: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per variant of a study: its accuracy at each label count as ``mean ± sd``,
    and the label counts where a pretrained encoder beats its network from scratch by more
    than the spreads."""
    rows: dict[str, dict[str, Any]] = {}
    for c in record["curves"]:
        row = rows.setdefault(
            c["variant"],
            {"dataset": record["dataset"], "variant": c["variant"], "mode": c["mode"]},
        )
        row[_column(c["n"])] = f"{c['accuracy_mean']:.3f} ± {c['accuracy_sd']:.3f}"
    for variant, entry in record.get("beats_scratch", {}).items():
        clear = entry["clearly_above"]
        rows[variant]["beats scratch at"] = ", ".join(map(str, clear)) if clear else "none"
    return list(rows.values())


def _column(n) -> str:
    return "all labels" if n == "all" else f"{n} per class"
