"""Stage ``figure``: one figure of an experiment or a dataset, drawn from its declared inputs.

Which figures an experiment gets and from which files is :data:`aeflow.plan.FIGURES`; here is
how each is drawn: a function ``(FigureInputs) -> matplotlib Figure`` in :data:`DRAW`, keyed
like the plan's table. The drawing itself is in :mod:`aeflow.plotting`; these functions only
load what it needs. Experiment figures are attached to the training run in MLflow.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aeflow.atomic import read_json
from aeflow.data import kinds
from aeflow.data.split import split_images, split_index, split_labels
from aeflow.data.store import open_store
from aeflow.data.tasks import with_task_inputs
from aeflow.models import catalog
from aeflow.plotting import anomaly as anomaly_plots
from aeflow.plotting import figures as image_plots
from aeflow.plotting import generative as generative_plots
from aeflow.plotting import latent as latent_plots
from aeflow.plotting import save
from aeflow.plotting import traces as trace_plots
from aeflow.stages import PathLike
from aeflow.training.tracking import attach_to_training_run

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FigureInputs:
    """What a figure is drawn from: its target (experiment or dataset name), the named input
    files of the plan, the experiment's config and the traits of its data kind and model."""

    target: str
    files: Mapping[str, Any]
    cfg: Mapping[str, Any] | None = None
    kind: kinds.Kind | None = None
    model: catalog.ModelTraits | None = None

    def store(self, name: str, group: str | None = None):
        return open_store(self.files[name], group=group)

    @property
    def n_examples(self) -> int:
        return self.cfg["evaluate"]["n_examples"]


def _per_denoiser(var, skip: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """The values of a (denoiser, ...) variable (or (detector, ...)), by method name."""
    dim = var.dims[0]
    return {str(d): var.sel({dim: d}).values for d in var[dim].values if d not in skip}


# ---- every experiment -------------------------------------------------------------------------
def history(f: FigureInputs):
    table = pd.read_csv(f.files["history"])
    adversarial = f.model.adversarial if f.model else "critic_loss" in table
    plot = generative_plots.adversarial_history if adversarial else image_plots.training_history
    return plot(table, title=f"{f.target}: training")


def error_distribution(f: FigureInputs):
    pred = f.store("predictions")
    model = f.cfg["model"] if f.cfg else "model"  # the model by its name, beside the baselines
    per = {
        (model if k == "model" else k): v for k, v in _per_denoiser(pred["per_sample_mse"]).items()
    }
    unit = "trace" if "time" in pred.dims else "image"
    return image_plots.error_distributions(
        per,
        xlabel=f"per-{unit} MSE",
        ylabel=f"{unit}s",
        title=f"{f.target}: per-{unit} test MSE",
    )


# ---- images -----------------------------------------------------------------------------------
# the rows of example figures by task: (input, model output, target); None: the target is
# the input (a reconstruction), not shown twice
ROW_NAMES = {
    "denoise": ("noisy", "denoised", "true"),
    "superres": ("low resolution", "upscaled", "true"),
    "reconstruct": ("input", "reconstruction", None),
    "colorize": ("luminance", "colourized", "true"),
}


def _example_rows(pred, n_examples: int, task: str, prefix: str = "") -> dict[str, np.ndarray]:
    """Input / output / target images of the first test samples of a predictions store,
    named for the task (:data:`ROW_NAMES`)."""
    sel = pred.isel(sample=slice(0, min(n_examples, pred.sizes["sample"])))
    names = ROW_NAMES[task]
    inputs = sel["input"].values
    if inputs.ndim < sel["prediction"].ndim:  # a grey input of colour outputs, shown grey
        inputs = np.repeat(inputs[:, None], sel["prediction"].shape[1], axis=1)
    rows = {f"{prefix}{names[0]}": inputs}
    rows[f"{prefix}{names[1]}"] = sel["prediction"].values
    if names[2] is not None:
        rows[f"{prefix}{names[2]}"] = sel["target"].values
    return rows


def _colour_top(rows: dict[str, np.ndarray]) -> float:
    """The shared colour scale's top: the largest value shown, at least 1."""
    return max(1.0, float(max(np.nanmax(v) for v in rows.values())))


def _value_label(pred) -> str:
    """The colour bar's label: what the pixels are, and how they were scaled."""
    attrs = pred["target"].attrs
    name = attrs.get("long_name", "value")
    return f"{name}\n{attrs['scaling']}" if attrs.get("scaling") else name


def examples(f: FigureInputs):
    pred = f.store("predictions")
    task = f.cfg["task"]
    rows = _example_rows(pred, f.n_examples, task)
    names = ROW_NAMES[task]
    title = f"{f.target}: test images of {pred.attrs.get('dataset', '')}"
    return image_plots.denoising_rows(
        rows,
        residual_of=(names[1], names[2] or names[0]),
        vmax=_colour_top(rows),
        value_label=_value_label(pred),
        title=title,
    )


def also_on_examples(f: FigureInputs):
    """Noisy / denoised / true rows for each further dataset the model was evaluated on."""
    rows = {}
    for name in f.cfg["evaluate"]["also_on"]:
        pred = f.store("predictions", name)
        rows |= _example_rows(pred, f.n_examples, f.cfg["task"], prefix=f"{name}\n")
    n = min(len(v) for v in rows.values())
    rows = {k: v[:n] for k, v in rows.items()}
    title = f"{f.target} applied to other datasets"
    return image_plots.denoising_rows(
        rows,
        residual_of=None,
        vmax=_colour_top(rows),
        value_label=_value_label(pred),
        title=title,
    )


def radial_profiles(f: FigureInputs, n_rows: int = 4):
    """Radial profiles of ringed test patterns (true, speckled, denoised) and the measured
    radius over the true one of every ringed pattern (by the first minimum and by the
    sphere fit), for the model and each filter."""
    from aeflow.evaluation import rings

    pred = f.store("predictions")
    target = pred["target"].values
    true_min = rings.Reference.of(target).minimum
    ringed = np.flatnonzero(np.isfinite(true_min))[:n_rows]
    if ringed.size == 0:  # no test pattern with a ring: show the profiles all the same
        ringed = np.arange(min(n_rows, len(target)))
    images = {"true": target, "input": pred["input"].values, "model": pred["prediction"].values}
    profiles = {k: rings.radial_profile(v[ringed]) for k, v in images.items()}
    minima = {k: rings.first_minimum(p) for k, p in profiles.items()}
    measures = {"radius_ratio": "first form-factor minimum", "fit_radius_ratio": "sphere fit"}
    ratios = {
        label: {k: v[np.isfinite(true_min)] for k, v in _per_denoiser(pred[var]).items()}
        for var, label in measures.items()
        if var in pred
    }
    radius = np.arange(next(iter(profiles.values())).shape[1])
    title = f"{f.target}: form-factor rings of {pred.attrs.get('dataset', '')} test patterns"
    return image_plots.radial_profiles(
        radius, profiles, minima, ratios, rings.RADIUS_TOLERANCE, title=title
    )


def _latent_setup(f: FigureInputs, n_points: int = 5000):
    """Test images, labels, class names, codes and a decoder of a bottleneck model."""
    import torch

    from aeflow.evaluation import latent
    from aeflow.models.inference import encode_all, with_channel
    from aeflow.models.trained import load_trained

    model, _ = load_trained(Path(f.files["model"]).parent, "cpu")
    ds = with_task_inputs(f.store("prepared"), f.cfg)
    test = split_index(ds, "test")[:n_points]
    x = ds["input"].isel(sample=test).values
    labels = ds["label"].values[test]
    names = list(ds["label"].attrs.get("class_names", []))
    with torch.no_grad():
        code_shape = tuple(model.encode(torch.from_numpy(with_channel(x[:1]))).shape[1:])
    codes = encode_all(model, x, 512, "cpu")

    def decode(z: np.ndarray) -> np.ndarray:
        return latent.decode_all(model, z, code_shape, x.shape[1:], "cpu")

    return x, labels, names, codes, decode


def latent_space(f: FigureInputs):
    """Codes of test images by class (and the decoded grid of a 2-D code)."""
    from aeflow.evaluation import latent

    x, labels, names, codes, decode = _latent_setup(f)
    points, axis_label = latent.project_2d(codes)
    grid = latent.latent_grid(decode, codes)[0] if codes.shape[1] == 2 else None
    what = "VAE posterior means" if f.model.samples else "codes"  # a VAE samples its prior
    return latent_plots.latent_space(
        points,
        labels,
        names,
        axis_label,
        grid,
        title=f"{f.target}: {what} of {len(x)} test images ({codes.shape[1]}-D)",
    )


def latent_walks(f: FigureInputs, n: int = 10):
    """Rows of interpolation, class arithmetic, noisy and random codes."""
    from aeflow.evaluation import latent

    x, labels, names, codes, decode = _latent_setup(f)
    classes = np.unique(labels)
    a, b = int(classes[0]), int(classes[min(1, len(classes) - 1)])
    c = int(classes[min(2, len(classes) - 1)])
    i, j = int(np.flatnonzero(labels == a)[0]), int(np.flatnonzero(labels == b)[0])
    rng = np.random.default_rng(0)
    picks = np.arange(min(n, len(x)))
    name = {k: names[k] if k < len(names) else str(k) for k in classes}
    rows = {
        f"interpolate\n{name[a]} -> {name[b]}": decode(latent.interpolate(codes[i], codes[j], n)),
        f"mean {name[a]}, {name[b]}, {name[c]},\n{name[a]} - {name[b]} + {name[c]}": decode(
            latent.class_arithmetic(codes, labels, a, b, c)
        ),
        "test images": x[picks],
        "decoded": decode(codes[picks]),
    }
    for sigma in (0.1, 1.0):
        noisy = codes[picks] + rng.normal(0, sigma, codes[picks].shape).astype(np.float32)
        rows[f"code + N(0, {sigma:g})"] = decode(noisy)
    noise = rng.normal(0, 1, (n, codes.shape[1])).astype(np.float32)
    rows["samples of the prior N(0, 1)" if f.model.samples else "codes ~ N(0, 1)"] = decode(noise)
    rows = {k: np.clip(v, 0, 1) for k, v in rows.items()}
    return latent_plots.image_rows(rows, title=f"{f.target}: latent operations")


# ---- traces ------------------------------------------------------------------------------------
def traces(f: FigureInputs):
    """Test traces spread over SNR: noisy, true, DAE and the baselines."""
    pred = f.store("predictions")
    picks = trace_plots.pick_signal_traces(
        pred["has_signal"].values, pred["snr"].values, f.n_examples
    )
    sub = pred.isel(sample=picks)
    return trace_plots.reconstructions(
        pred["time"].values,
        sub["input"].values,
        sub["target"].values,
        _per_denoiser(sub["denoised"], skip=("identity",)),
        sub["snr"].values,
        title=f"{f.target}: test traces of {pred.attrs.get('dataset', '')}",
    )


def spectra(f: FigureInputs):
    sp = f.store("spectra")
    curves = {str(c): sp["signal_traces"].sel(curve=c).values for c in sp["curve"].values}
    title = f"{f.target}: mean spectra of {sp.attrs['n_signal']} test signal traces"
    band = f.cfg["evaluate"]["baselines"]["bandpass_mhz"]
    return trace_plots.spectra(sp["frequency"].values, curves, band_mhz=band, title=title)


KNOWN_PULSE = "known pulse (bound)"


def peak_accuracy(f: FigureInputs):
    from aeflow.evaluation.traces import BLOG_PEAK_ACCURACY, binned_fraction

    pred = f.store("predictions")
    sig = pred["has_signal"].values.astype(bool)
    snr = pred["snr"].values[sig]
    edges = f.cfg["evaluate"]["traces"]["snr_bins"]
    bins = {
        name: binned_fraction(hits[sig], snr, edges)
        for name, hits in _per_denoiser(pred["peak_hit"]).items()
    }
    if "peak_hit_bound" in pred:  # (absent in stores before the bound)
        bins[KNOWN_PULSE] = binned_fraction(pred["peak_hit_bound"].values[sig], snr, edges)
    noise = pred.attrs.get("noise_model", "")
    return trace_plots.accuracy_vs_snr(
        bins,
        reference=BLOG_PEAK_ACCURACY.get(noise),
        reference_label=f"blog, {noise} noise (all SNR)",
        title=f"{f.target}: peak within {pred.attrs['tolerance']} samples",
    )


def energy_vs_snr(f: FigureInputs):
    """The fraction of signal traces whose pulse energy is kept within 20 %, per SNR bin,
    beside Erdmann et al.'s 80 % and what knowing each pulse's shape and arrival reaches."""
    from aeflow.evaluation.traces import binned_fraction

    pred = f.store("predictions")
    sig = pred["has_signal"].values.astype(bool)
    snr = pred["snr"].values[sig]
    edges = f.cfg["evaluate"]["traces"]["snr_bins"]
    bins = {
        name: binned_fraction(np.abs(r[sig] - 1) <= 0.2, snr, edges)
        for name, r in _per_denoiser(pred["energy_ratio"], skip=("identity",)).items()
    }
    if "energy_ratio_bound" in pred:  # (absent in stores before the bound)
        bound = pred["energy_ratio_bound"].values[sig]
        bins[KNOWN_PULSE] = binned_fraction(np.abs(bound - 1) <= 0.2, snr, edges)
    window = 2 * pred.attrs["half_width"] + 1
    return trace_plots.accuracy_vs_snr(
        bins,
        reference=0.8,
        reference_label="Erdmann et al. 2019 (signal traces)",
        title=f"{f.target}: pulse energy in {window} samples within 20 % of the truth",
        ylabel="fraction with energy within 20 %",
    )


def detection_vs_snr(f: FigureInputs):
    """Signal traces found at 0.2 % false positives (by the peak of the envelope), per SNR
    bin, beside Erdmann et al.'s classifier (about 90 % above SNR 3) and the matched filter
    of each trace's known pulse shape."""
    from aeflow.evaluation.traces import DETECTION_FPR, detection

    pred = f.store("predictions")
    has_signal = pred["has_signal"].values.astype(bool)
    snr, edges = pred["snr"].values, f.cfg["evaluate"]["traces"]["snr_bins"]
    bins = {}
    detector = f.model is not None and f.model.detector
    for name, scores in _per_denoiser(pred["detection_score"]).items():
        d = detection(scores, has_signal, snr, edges)
        if d is not None:
            bins["classifier" if detector and name == "model" else name] = d[
                "true_positive_rate_by_snr"
            ]
    if "detection_score_bound" in pred:  # (absent in stores before the bound)
        d = detection(pred["detection_score_bound"].values, has_signal, snr, edges)
        if d is not None:
            bins[KNOWN_PULSE] = d["true_positive_rate_by_snr"]
    n_noise = int((~has_signal).sum())
    return trace_plots.accuracy_vs_snr(
        bins,
        reference=0.9,
        reference_label="Erdmann et al. 2019 classifier (SNR > 3)",
        title=f"{f.target}: signal traces found at {DETECTION_FPR:.1%} false positives "
        f"({n_noise} noise-only traces)",
        ylabel="true-positive rate",
    )


def detection_roc(f: FigureInputs):
    """ROC of a signal detector beside the envelope trigger on each filtered trace: signal
    traces found against noise-only traces passed."""
    pred = f.store("predictions")
    has_signal = pred["has_signal"].values.astype(bool)
    curves = {
        ("classifier" if name == "model" else name): (scores[~has_signal], scores[has_signal])
        for name, scores in _per_denoiser(pred["detection_score"]).items()
    }
    return anomaly_plots.roc_curves(
        curves,
        title=f"{f.target}: signal vs noise-only test traces ({int((~has_signal).sum())} "
        "noise-only)",
        xlabel="false-positive rate (noise-only traces passed)",
        ylabel="true-positive rate (signal traces found)",
        efficiency_label=r"signal efficiency $\epsilon_S$",
        rejection_label=r"noise rejection $1/\epsilon_B$",
        highlight="classifier",
    )


def detection_roc_by_snr(f: FigureInputs):
    """ROC per SNR bin: the signal traces of each bin against all noise-only traces, for the
    classifier, the classical triggers and the known pulse's matched filter."""
    from aeflow.evaluation.traces import DETECTION_FPR, bin_masks

    pred = f.store("predictions")
    has_signal = pred["has_signal"].values.astype(bool)
    snr, edges = pred["snr"].values, f.cfg["evaluate"]["traces"]["snr_bins"]
    scores = {
        ("classifier" if name == "model" else name): values
        for name, values in _per_denoiser(pred["detection_score"]).items()
    }
    if "detection_score_bound" in pred:
        scores[KNOWN_PULSE] = pred["detection_score_bound"].values
    panels = {}
    for lo, hi, in_bin in bin_masks(snr, edges):
        in_bin &= has_signal
        panels[f"SNR {lo:g}–{hi:g} ({int(in_bin.sum())} signal)"] = {
            name: (s[~has_signal], s[in_bin]) for name, s in scores.items()
        }
    return anomaly_plots.roc_by_bin(
        panels,
        title=f"{f.target}: signal of each SNR bin vs {int((~has_signal).sum())} noise-only "
        "test traces",
        xlabel="false-positive rate",
        ylabel="true-positive rate",
        highlight="classifier",
        mark=DETECTION_FPR,
    )


def energy_ratio(f: FigureInputs):
    pred = f.store("predictions")
    ratios = _per_denoiser(pred["energy_ratio"], skip=("identity",))
    window = 2 * pred.attrs["half_width"] + 1
    title = f"{f.target}: pulse energy in {window} samples around the true peak"
    return trace_plots.energy_ratio_histogram(ratios, title=title)


# ---- anomaly detection -------------------------------------------------------------------------
def _anomaly_test(f: FigureInputs):
    ds = f.store("scores")
    test = ds.isel(sample=split_index(ds, "test"))
    return ds, test, test["is_anomaly"].values.astype(bool), read_json(f.files["thresholds"])


def _anomaly_names(f: FigureInputs, ds) -> tuple[str, str]:
    """Normal and anomalous as the experiment defines them (older stores: the kind's)."""
    return tuple(ds.attrs.get("anomaly_names") or f.kind.anomaly_names)


def anomaly_scores(f: FigureInputs):
    ds, test, anomalous, summary = _anomaly_test(f)
    score, names = test["score"].values, _anomaly_names(f, ds)
    return anomaly_plots.score_histograms(
        score[~anomalous],
        score[anomalous],
        summary["thresholds"],
        normal_label=names[0],
        anomalous_label=names[1],
        xlabel=ds["score"].attrs.get("long_name", "anomaly score"),
        title=f"{f.target}: test scores (AUROC {summary['auroc']:.3f})",
    )


def roc(f: FigureInputs):
    ds, test, anomalous, summary = _anomaly_test(f)
    score, names = test["score"].values, _anomaly_names(f, ds)
    curves = {"autoencoder": (score[~anomalous], score[anomalous])}
    for name in summary["baselines"]:
        s = test[f"baseline_{name}"].values
        curves[name.replace("_", " ")] = (s[~anomalous], s[anomalous])
    title = f"{f.target}: {names[1]} vs {names[0]} (test)"
    return anomaly_plots.roc_curves(curves, title=title)


def anomaly_examples(f: FigureInputs):
    ex = f.store("scores", "examples")
    return anomaly_plots.ranked_examples(
        ex["input"].values,
        ex["output"].values,
        ex["score"].values,
        ex["is_anomaly"].values.astype(bool),
        [str(r) for r in ex["rank"].values],
        log_scale=f.kind.log_images,
        title=f"{f.target}: most and least anomalous test samples",
    )


def mass_sculpting(f: FigureInputs):
    ds, test, anomalous, summary = _anomaly_test(f)
    observable, names = f.kind.anomaly_observable, _anomaly_names(f, ds)
    values, score = test[observable].values, test["score"].values
    return anomaly_plots.mass_sculpting(
        values[~anomalous],
        score[~anomalous],
        values[anomalous],
        summary["thresholds"],
        title=f"{f.target}: {observable.replace('_', ' ')} of {names[0]} before and after the cut",
    )


# ---- generative models ---------------------------------------------------------------------------
def samples(f: FigureInputs, n: int = 10):
    """Per class rows of generated samples (by requested class for conditional models, else
    by the classifier's prediction), then a row of real test images per class."""
    gen, ds, m = f.store("samples"), f.store("prepared"), read_json(f.files["metrics"])
    images_ = gen["image"].values
    names = [str(c) for c in gen.attrs.get("class_names", [])]
    rows: dict[str, np.ndarray] = {}
    by = "requested" if "requested" in gen else ("predicted" if "predicted" in gen else None)
    if by and names:
        key = "asked" if by == "requested" else "seen as"
        for k, name in enumerate(names):
            rows[f"{key} {name}"] = images_[gen[by].values == k][:n]
        real, labels = split_images(ds, "test"), split_labels(ds, "test")
        for k, name in enumerate(names):
            rows[f"real {name}"] = real[labels == k][:n]
    else:
        for r in range(3):
            rows[f"generated {r + 1}"] = images_[r * n : (r + 1) * n]
        rows["real (test)"] = split_images(ds, "test", limit=n)
    rows["PCA Gaussian"] = f.store("samples", "pca_gaussian")["image"].values[:n]
    g = m["generator"]
    return latent_plots.image_rows(
        {k: v for k, v in rows.items() if len(v)},
        title=f"{f.target}: generated samples (FD {g['frechet_distance']:.3g}, "
        f"precision {g['precision']:.2f}, recall {g['recall']:.2f})",
    )


def _class_pair(names, labels, pair, default):
    """Class indices of the kind's named pair when both are present, else ``default``."""
    if pair and set(pair) <= set(names):
        ka, kb = names.index(pair[0]), names.index(pair[1])
        if (labels == ka).any() and (labels == kb).any():
            return ka, kb
    return default


def latent_interpolation(f: FigureInputs, n: int = 10):
    """Interpolation between two test images of different classes (the galaxy blog's
    Fig. 10), and arithmetic: class A + (mean code of class B - mean code of class C)."""
    import torch

    from aeflow.models.trained import load_trained

    model, _ = load_trained(Path(f.files["model"]).parent, "cpu")
    ds = f.store("prepared")
    real = split_images(ds, "test")
    with torch.no_grad():
        codes = model.encode(torch.from_numpy(real)).numpy()

    def decode(z):
        with torch.no_grad():
            return model.decode(torch.from_numpy(z.astype(np.float32))).numpy()

    labels = split_labels(ds, "test") if "label" in ds else np.zeros(len(real), int)
    names = [str(c) for c in ds.attrs.get("class_names", [])]
    rows: dict[str, np.ndarray] = {}
    # between the kind's interpolation pair (else the first two test images of two classes)
    other = int(np.argmax(labels != labels[0])) if (labels != labels[0]).any() else 1
    a, b = 0, other
    pair = _class_pair(names, labels, f.kind.interpolation_classes, None)
    if pair is not None:
        a, b = int(np.argmax(labels == pair[0])), int(np.argmax(labels == pair[1]))
    t = np.linspace(0, 1, n)[:, None]
    rows["interpolation"] = decode((1 - t) * codes[a] + t * codes[b])
    rows["its ends (real)"] = np.stack([real[a], real[b]])
    if len(names) >= 3:
        # the kind's arithmetic pair (else class 0 - class 2) added to the second class
        i0, i2 = _class_pair(names, labels, f.kind.arithmetic_classes, (0, 2))
        if (labels == i0).any() and (labels == i2).any():
            shift = codes[labels == i0].mean(0) - codes[labels == i2].mean(0)
            chosen = np.flatnonzero(labels == i2)[:n]
            rows[f"real {names[i2]}"] = real[chosen]
            rows[f"decoded {names[i2]}"] = decode(codes[chosen])
            rows[f"+ ({names[i0]} - {names[i2]})"] = decode(codes[chosen] + shift)
    rows["prior samples"] = decode(np.random.default_rng(0).standard_normal((n, codes.shape[1])))
    title = f"{f.target}: decoded latent interpolation and arithmetic (test images)"
    return latent_plots.image_rows(rows, title=title)


def observables(f: FigureInputs):
    from aeflow.evaluation.observables import LABELS, observables_of

    gen, ds, m = f.store("samples"), f.store("prepared"), read_json(f.files["metrics"])
    obs = {
        "real": observables_of(ds, split_images(ds, "test")),
        "generator": observables_of(ds, gen["image"].values),
    }
    labels = {"real": "real (test)", "generator": f"{f.target} ({m['model']})"}
    return generative_plots.observable_histograms(
        obs,
        {"generator": m["observables"]["generator"]},
        labels,
        title=f"{f.target}: observables of generated vs real footprints",
        axis_labels=LABELS,
    )


# ---- dataset figures ---------------------------------------------------------------------------
def dataset_traces(f: FigureInputs, n_examples: int = 3):
    """Example traces of a trace dataset with the true signal overlaid (in raw units)."""
    ds = f.store("prepared")
    sub = ds.isel(sample=split_index(ds, "test")[:1000])
    return trace_plots.dataset_examples(
        ds["time"].values,
        sub["input"].values,
        sub["target"].values if "snr" in sub else None,  # without clean signals: traces
        sub["snr"].values if "snr" in sub else None,
        n=n_examples,
        title=f"{f.target}: {ds.attrs.get('noise_model')} noise, test traces (normalized)",
    )


def class_histogram(f: FigureInputs):
    """The class shares of every generator on the dataset beside the real test set."""
    records = [read_json(path) for path in f.files["generated"]]
    first = records[0]
    generated = {
        f"{r['experiment']} ({r['model']})": r["generator"]["class_fractions"] for r in records
    }
    generated["PCA Gaussian"] = first["pca_gaussian"]["class_fractions"]
    return generative_plots.class_histogram(
        first["class_names"],
        first["real_class_fractions"],
        generated,
        title=f"{f.target}: classes of generated samples (classifier test accuracy "
        f"{first['classifier_test_accuracy']:.2f})",
    )


def held_out_classes(f: FigureInputs):
    """Test AUROC of the autoencoder and each baseline with every class held out in turn."""
    from aeflow.evaluation.suites.anomaly import AnomalyDetection

    records = [read_json(path) for path in f.files["sweeps"]]
    return anomaly_plots.auroc_by_held_out_class(
        AnomalyDetection.sweep_aurocs(records),
        title=f"{f.target}: every class held out in turn (test AUROC)",
    )


def compression(f: FigureInputs):
    r = read_json(f.files["compression"])
    sizes = [row["code_size"] for row in r["rows"]]
    hidden = r.get("model_params", {}).get("hidden", [])
    widths = "-".join(str(w) for w in [r["pixels"], *hidden, "code"])
    return latent_plots.compression_curve(
        sizes,
        {
            f"{r['model']} {widths} ({r['epochs']} epochs)": [
                row["autoencoder_mse"] for row in r["rows"]
            ],
            "PCA": [row["pca_mse"] for row in r["rows"]],
        },
        title=f"{r['dataset']}: test reconstruction error vs code size ({r['pixels']} pixels)",
    )


def label_efficiency(f: FigureInputs):
    r = read_json(f.files["label_efficiency"])
    per_class_all = r["n_train"] // max(r["n_classes"], 1)  # "all", drawn per class
    seeds = len(r["settings"]["seeds"])
    return latent_plots.label_efficiency(
        r["curves"],
        per_class_all,
        title=f"{r['dataset']}: test accuracy vs labels ({seeds} seeds, mean ± sd)",
    )


# (dataset figure?, name) -> drawing function; the plan's FIGURES has the same keys (tested)
DRAW: dict[tuple[bool, str], Callable[[FigureInputs], Any]] = (
    {
        (False, fn.__name__): fn
        for fn in (
            history,
            examples,
            also_on_examples,
            radial_profiles,
            error_distribution,
            traces,
            spectra,
            peak_accuracy,
            energy_ratio,
            energy_vs_snr,
            detection_vs_snr,
            detection_roc,
            detection_roc_by_snr,
            latent_space,
            latent_walks,
            anomaly_scores,
            roc,
            anomaly_examples,
            mass_sculpting,
            samples,
            latent_interpolation,
            observables,
        )
    }
    | {(True, "traces"): dataset_traces, (True, "class_histogram"): class_histogram}
    | {(True, "compression"): compression, (True, "held_out_classes"): held_out_classes}
    | {(True, "label_efficiency"): label_efficiency}
)


def _drawer(figure: str, dataset_scope: bool) -> Callable[[FigureInputs], Any]:
    try:
        return DRAW[(dataset_scope, figure)]
    except KeyError:
        scope = "dataset" if dataset_scope else "experiment"
        raise ValueError(f"unknown {scope} figure {figure!r}") from None


def draw_all(
    figures: Mapping[str, tuple[FigureInputs, PathLike]], dataset_scope: bool = False
) -> None:
    """Draw figures (``{name: (inputs, output path)}``) of one target, each saved atomically as
    PNG and as PDF beside it; then attach the experiment figures (PNG) to the training run,
    in one MLflow call.

    Every name is checked before anything is drawn."""
    drawers = {name: _drawer(name, dataset_scope) for name in figures}
    attach: dict[Path, list[PathLike]] = {}
    for name, (inputs, out) in figures.items():
        t0 = time.perf_counter()
        save(drawers[name](inputs), out)
        log.info("%s: %s drawn in %.1f s", inputs.target, name, time.perf_counter() - t0)
        if "run" in inputs.files:
            attach.setdefault(Path(inputs.files["run"]).parent, []).append(out)
    for model_dir, paths in attach.items():
        attach_to_training_run(paths, model_dir, "figures")


def draw(
    figure: str,
    inputs: FigureInputs,
    out: PathLike,
    dataset_scope: bool = False,
) -> None:
    """Draw one figure (:func:`draw_all` of one)."""
    draw_all({figure: (inputs, out)}, dataset_scope)
