"""The figure stage: every figure of the plan's table drawn from the files the plan names for
it, out of the tiny runs' stage outputs (tests/tiny_runs.py) or hand-made records; experiment
figures are attached to the training run in MLflow."""

import json

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from aeflow.data import kinds
from aeflow.plan import FIGURES, figure_path
from aeflow.stages import figures
from aeflow.stages.figures import FigureInputs, draw

PNG = b"\x89PNG\r\n\x1a\n"


def _png(path) -> tuple[int, int]:
    """(width, height) of a PNG file, after checking its signature."""
    data = path.read_bytes()
    assert data[:8] == PNG, f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def _target(tiny_runs, figure) -> str | None:
    """The first experiment (or dataset) of the tiny runs the plan gives this figure."""
    plan, cfg = tiny_runs.plan, tiny_runs.config
    if figure.dataset_scope:
        return next((d for d in cfg["datasets"] if figure.name in plan.dataset_figures(d)), None)
    return next((e for e in cfg["experiments"] if figure.name in plan.figures(e)), None)


def _class_histogram_inputs(tmp_path) -> FigureInputs:
    """Two generators' records of a labelled dataset, as the generate stage writes them."""
    names = ["barred_spiral", "elliptical", "spiral"]
    paths = []
    for experiment, model, fractions in (("g1", "gan", [0.2, 0.5, 0.3]), ("g2", "acgan", None)):
        record = {
            "experiment": experiment,
            "model": model,
            "class_names": names,
            "real_class_fractions": [0.3, 0.3, 0.4],
            "classifier_test_accuracy": 0.9,
            "generator": {"class_fractions": fractions or [0.34, 0.33, 0.33]},
            "pca_gaussian": {"class_fractions": [0.6, 0.2, 0.2]},
        }
        paths.append(tmp_path / f"{experiment}.json")
        paths[-1].write_text(json.dumps(record))
    return FigureInputs("galaxies", {"generated": paths}, kind=kinds.traits("galaxies"))


def _held_out_inputs(tmp_path) -> FigureInputs:
    """Three held-out-class records of one sweep, as the anomaly stage writes them."""
    paths = []
    for k, (ae, pca) in enumerate([(0.9, 0.8), (0.6, 0.7), (0.95, 0.9)]):
        record = {
            "sweep": "fa",
            "anomalous": f"class {k}",
            "auroc": ae,
            "baselines": {"pca": {"auroc": pca}, "isolation_forest": {"auroc": 0.5}},
        }
        paths.append(tmp_path / f"fa_c{k}.json")
        paths[-1].write_text(json.dumps(record))
    return FigureInputs("fashion", {"sweeps": paths}, kind=kinds.traits("images"))


# figures no tiny run gets, drawn from hand-made records
HAND_MADE = {"class_histogram": _class_histogram_inputs, "held_out_classes": _held_out_inputs}


@pytest.mark.parametrize(
    "figure",
    FIGURES,
    ids=[f"{'dataset' if f.dataset_scope else 'experiment'}-{f.name}" for f in FIGURES],
)
def test_every_figure_of_the_plan_is_drawn(figure, tiny_runs, tmp_path):
    target = _target(tiny_runs, figure)
    if target is None:
        # no tiny run gets it: generators scored by a classifier, held-out-class sweeps
        assert figure.dataset_scope and figure.name in HAND_MADE
        inputs, out = HAND_MADE[figure.name](tmp_path), tmp_path / f"{figure.name}.png"
    else:
        inputs = tiny_runs.figure_inputs(target, figure.name, figure.dataset_scope)
        assert set(inputs.files) == set(figure.inputs)
        out = tmp_path / f"{target}-{figure.name}.png"
    draw(figure.name, inputs, out, dataset_scope=figure.dataset_scope)
    width, height = _png(out)
    assert width > 100 and height > 100
    assert out.with_suffix(".pdf").read_bytes()[:5] == b"%PDF-"  # the vector twin
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name], "a temporary is left"
    if figure.dataset_scope:
        return
    # attached to the experiment's training run
    run = json.loads(inputs.files["run"].read_text())
    client = MlflowClient(tiny_runs.mlflow["tracking_uri"])
    attached = [a.path for a in client.list_artifacts(run["run_id"], "figures")]
    assert f"figures/{out.name}" in attached


def test_a_figure_at_the_plans_path_is_replaced_by_a_rerun(tiny_runs):
    inputs = tiny_runs.figure_inputs("saxs_dae", "history")
    out = tiny_runs.path(figure_path("saxs_dae", "history"))
    draw("history", inputs, out)
    out.write_bytes(b"stale")
    draw("history", inputs, out)
    _png(out)
    assert sorted(p.name for p in out.parent.iterdir()) == ["history.pdf", "history.png"]


def test_a_history_without_a_run_or_model_traits(tmp_path, monkeypatch):
    """Files without "run": nothing to attach; without model traits, the table's columns
    decide (an adversarial history has a critic loss)."""
    calls = []
    adversarial = figures.generative_plots.adversarial_history

    def spy(table, **kwargs):
        calls.append(list(table.columns))
        return adversarial(table, **kwargs)

    monkeypatch.setattr(figures.generative_plots, "adversarial_history", spy)
    epochs = np.arange(1, 5)
    history = tmp_path / "history.csv"
    pd.DataFrame(
        {
            "epoch": epochs,
            "critic_loss": -1.0 / epochs,
            "generator_loss": 0.5 / epochs,
            "val_critic_loss": -0.9 / epochs,
            "lr": 1e-4,
        }
    ).to_csv(history, index=False)
    out = tmp_path / "out" / "history.png"
    draw("history", FigureInputs("gan", {"history": history}), out)
    _png(out)
    assert len(calls) == 1 and "critic_loss" in calls[0]


@pytest.mark.parametrize(
    ("figure", "dataset_scope", "message"),
    [
        ("nope", False, "unknown experiment figure 'nope'"),
        ("nope", True, "unknown dataset figure 'nope'"),
        ("history", True, "unknown dataset figure 'history'"),  # an experiment figure
        ("compression", False, "unknown experiment figure 'compression'"),  # a dataset figure
    ],
)
def test_unknown_figures_are_refused(tmp_path, figure, dataset_scope, message):
    out = tmp_path / "x.png"
    with pytest.raises(ValueError, match=message):
        draw(figure, FigureInputs("t", {}), out, dataset_scope=dataset_scope)
    assert not out.exists()


@pytest.mark.parametrize(
    ("task", "rows"),
    [
        ("denoise", ["noisy", "denoised", "true"]),
        ("superres", ["low resolution", "upscaled", "true"]),
        ("reconstruct", ["input", "reconstruction"]),  # the target is the input: once
    ],
)
def test_example_rows_are_named_for_the_task(task, rows):
    import xarray as xr

    images = np.arange(3 * 4 * 4, dtype=np.float32).reshape(3, 4, 4)
    pred = xr.Dataset(
        {
            k: (("sample", "y", "x"), images + i)
            for i, k in enumerate(("input", "prediction", "target"))
        }
    )
    got = figures._example_rows(pred, 2, task)
    assert list(got) == rows
    assert all(v.shape == (2, 4, 4) for v in got.values())
    np.testing.assert_array_equal(got[rows[1]], images[:2] + 1)  # the model's output
