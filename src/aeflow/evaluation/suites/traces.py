"""The trace suites: denoised radio traces judged as the field judges them (peak location,
pulse energy, false pulses, spectra) beside a band-pass and a Wiener filter; and signal
detectors (classifiers of signal vs noise-only traces) beside the classical trigger on the
peak of the Hilbert envelope of the raw, band-passed and Wiener-filtered trace."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from aeflow.data.split import split_values
from aeflow.evaluation import baselines as bl
from aeflow.evaluation.metrics import per_sample_mse, summarize
from aeflow.evaluation.suites.common import (
    Predict,
    Write,
    concat_values,
    pca_filter,
    split_blocks,
)
from aeflow.evaluation.traces import (
    BLOG_PEAK_ACCURACY,
    DETECTION_FPR,
    ENERGY_SNR_MIN,
    binned_fraction,
    detection,
    envelope,
    known_pulse_energy_ratios,
    known_pulse_peak_hits,
    known_pulse_scores,
    ratio_summary,
    trace_summary,
    trace_values,
)

SPECTRA_BLOCK = 4096  # traces whose spectra are summed at a time
BOUND_PULSES = 64  # training pulses that score the noise-only traces for the detection bound
KNOWN_PULSE_SCORE = (
    "largest |correlation| over arrival times with the trace's own true pulse (noise-only "
    "traces: a training pulse), both whitened by the training split's noise spectrum: the "
    "matched filter of a known pulse shape (a bound in Gaussian noise)"
)
# per-trace values of every denoiser kept in the predictions store
STORED = ("per_sample_mse", "peak_hit", "peak_hit_envelope", "energy_ratio", "detection_score")


def signal_labels(part: xr.Dataset, inputs: np.ndarray, targets: np.ndarray):
    """Each trace's signal flag and SNR: the stored ones, else from its clean target (a
    synthetic ``corrupt`` noise, your own traces): a pulse where the target is not zero,
    ``max|target| / RMS(input - target)`` (NaN where the input is its own target)."""
    from aeflow.data.radio import signal_to_noise

    if "has_signal" in part and "corruption" not in part["input"].attrs:
        return part["has_signal"].values.astype(bool), part["snr"].values
    snr = signal_to_noise(inputs, targets)  # a pulse without noise: infinite
    snr[np.isinf(snr)] = np.nan
    return np.abs(targets).max(axis=-1) > 0, snr.astype(np.float32)


def _train_pairs(ds: xr.Dataset, block_samples: int):
    """The training traces as (input, target) blocks, read one at a time."""
    for part in split_blocks(ds, "train", block_samples):
        yield part["input"].values, part["target"].values


class TraceDenoising:
    """MSE, peak-location accuracy, energy ratio, pulse detection and spectra; identity,
    Butterworth band-pass and a Wiener filter fitted on the training traces. Traces that are
    their own target (your own traces without clean signals: reconstruction) are judged
    beside PCA with the model's code size instead, fitted on the training traces."""

    def __init__(self, ds: xr.Dataset, ec: dict[str, Any], code_size: int | None = None):
        self.ec = ec
        self.rate = float(ds.attrs["sampling_rate_mhz"])
        self.length = ds.sizes["time"]
        b = ec["baselines"]
        self.units = "traces / std of the training traces"
        first = next(split_blocks(ds, "train", ec["block_samples"]))
        self.whitening = None  # of the training noise, for the known-pulse bounds
        if np.array_equal(first["input"].values, first["target"].values):
            pca, text = pca_filter(ds, code_size, ec["block_samples"], "traces")
            self.filters, self.tuning = [pca], {"pca": text}
            return
        spectra = bl.power_spectra(_train_pairs(ds, ec["block_samples"]))  # (read once)
        self.whitening = bl.whitening_of(spectra[1])
        self.filters = bl.trace_denoising_baselines(
            spectra,
            b["bandpass_mhz"],
            b["bandpass_order"],
            self.rate,
        )
        self.tuning = {
            "bandpass": f"zero-phase Butterworth of order {b['bandpass_order']} "
            f"(forward-backward), {b['bandpass_mhz'][0]}-{b['bandpass_mhz'][1]} MHz",
            "wiener": f"S/(S+N) with power spectra from the training split of "
            f"{ds.attrs.get('dataset')} (also used for also_on datasets)",
        }

    def _windows(self) -> dict[str, int]:
        """The peak tolerance and the energy window's half width, in samples."""
        tc = self.ec["traces"]
        dt_ns = 1e3 / self.rate
        return {
            "tolerance": max(0, round(tc["peak_tolerance_fraction"] * self.length)),
            "half_width": max(0, round(tc["energy_window_ns"] / 2 / dt_ns)),
        }

    def _check_geometry(self, ds: xr.Dataset) -> None:
        rate, length = float(ds.attrs["sampling_rate_mhz"]), ds.sizes["time"]
        if rate != self.rate or length != self.length:
            raise ValueError(
                f"dataset {ds.attrs.get('dataset')!r} has traces of {length} samples at "
                f"{rate} MHz; the model and baselines were fitted on {self.length} samples "
                f"at {self.rate} MHz"
            )

    def evaluate(self, predict: Predict, ds: xr.Dataset, split: str, write: Write):
        """The metric block of a split (baselines inside), judged ``evaluate.block_samples``
        traces at a time; each block's part of the predictions store (inputs, targets, every
        denoiser's output and per-trace values) goes to ``write``. The pulse threshold, in
        units of the test set's noise RMS, is set from the per-trace noise power summed at
        the end."""
        self._check_geometry(ds)
        windows = self._windows()
        names = ["model", *(f.name for f in self.filters)]
        kept: dict[str, dict[str, list]] = {name: {} for name in names}
        labels: dict[str, list] = {"has_signal": [], "snr": [], "noise_power": []}
        labels |= {"bound_energy": [], "bound_hit": []}
        for part in split_blocks(ds, split, self.ec["block_samples"]):
            inputs, targets = part["input"].values, part["target"].values
            has_signal, snr = signal_labels(part, inputs, targets)
            noise = inputs.astype(np.float64) - targets
            labels["has_signal"].append(has_signal)
            labels["snr"].append(snr)
            labels["noise_power"].append((noise * noise).sum(axis=-1))
            bound_energy, bound_hit = self._known_pulse(inputs, targets, has_signal, windows)
            labels["bound_energy"].append(bound_energy)
            labels["bound_hit"].append(bound_hit)
            outputs = {"model": predict(inputs).astype(np.float32)}
            outputs |= {f.name: f.apply(inputs) for f in self.filters}
            values = {
                name: {
                    "per_sample_mse": per_sample_mse(y, targets),
                    **trace_values(y, targets, has_signal, **windows),
                }
                for name, y in outputs.items()
            }
            for name, v in values.items():
                for key, arr in v.items():
                    kept[name].setdefault(key, []).append(arr)
            by_sample = {"input": inputs, "target": targets, "has_signal": has_signal}
            by_sample |= {"snr": snr, "energy_ratio_bound": bound_energy}
            by_sample["peak_hit_bound"] = bound_hit
            write(self._predictions(ds, part, split, by_sample, outputs, values, windows))
        label = concat_values(labels)
        has_signal, snr = label["has_signal"], label["snr"]
        noise_rms = float(np.sqrt(label["noise_power"].sum() / (len(snr) * self.length)))
        threshold = self.ec["traces"]["pulse_threshold"] * noise_rms
        blocks = {}
        for name in names:
            v = concat_values(kept[name])
            m = v["per_sample_mse"]
            summary = trace_summary(v, has_signal, snr, threshold, self.ec["traces"]["snr_bins"])
            blocks[name] = {"test_loss": float(m.mean()), "mse": summarize(m), **summary}
        block = {
            **blocks.pop("model"),
            "n_test": len(snr),
            "n_signal": int(has_signal.sum()),
            "n_noise_only": int((~has_signal).sum()),
            "noise_model": ds.attrs.get("noise_model"),
            "noise_rms": noise_rms,
            "settings": {
                "peak_tolerance_samples": windows["tolerance"],
                "energy_half_window_samples": windows["half_width"],
                "pulse_threshold": threshold,
                "pulse_threshold_in_noise_rms": self.ec["traces"]["pulse_threshold"],
            },
            "baselines": blocks,
        }
        for f in self.filters:
            if f.value is not None:
                block["baselines"][f.name][f.parameter] = f.value
        if self.whitening is not None and has_signal.any():
            sig = has_signal
            block["known_pulse"] = self._known_pulse_block(
                label["bound_energy"][sig], label["bound_hit"][sig], snr[sig]
            )
        return block

    def _known_pulse(self, inputs, targets, has_signal, windows):
        """Per trace of a block, the known-pulse bounds: energy ratio and peak hit (NaN and
        False for noise-only traces, or without a noise spectrum)."""
        energy = np.full(len(inputs), np.nan)
        hit = np.zeros(len(inputs), bool)
        if self.whitening is not None and has_signal.any():
            x, s = inputs[has_signal], targets[has_signal]
            energy[has_signal] = known_pulse_energy_ratios(x, s, self.whitening)
            hit[has_signal] = known_pulse_peak_hits(x, s, self.whitening, windows["tolerance"])
        return energy, hit

    def _known_pulse_block(self, ratios, hits, snr) -> dict[str, Any]:
        """The known-pulse bounds over the signal traces, like a denoiser's numbers."""
        edges = self.ec["traces"]["snr_bins"]
        return {
            "definition": "each trace's true pulse (shape and sign known), trace and pulse "
            "whitened by the training split's noise spectrum: energy from its least-squares "
            "amplitude at the true arrival, timing from the lag where it matches best (bounds "
            "in Gaussian noise; in other noise the best linear estimates)",
            "peak_location_accuracy": float(hits.mean()),
            "peak_location_accuracy_by_snr": binned_fraction(hits, snr, edges),
            "energy_ratio": ratio_summary(ratios),
            "energy_ratio_above_snr_min": ratio_summary(ratios[snr >= ENERGY_SNR_MIN]),
            "energy_within_20pct_by_snr": binned_fraction(np.abs(ratios - 1) <= 0.2, snr, edges),
        }

    def _predictions(self, ds, part, split, by_sample, outputs, values, windows) -> xr.Dataset:
        """A block's part of the predictions store: inputs, targets, every denoiser's
        output and per-trace values, SNR and signal flags."""
        data = {
            "input": (("sample", "time"), by_sample["input"]),
            "target": (("sample", "time"), by_sample["target"]),
            "snr": (("sample",), by_sample["snr"]),
            "has_signal": (("sample",), by_sample["has_signal"]),
            "energy_ratio_bound": (("sample",), by_sample["energy_ratio_bound"]),
            "peak_hit_bound": (("sample",), by_sample["peak_hit_bound"]),
            "denoised": (("denoiser", "sample", "time"), np.stack(list(outputs.values()))),
        }
        for key in STORED:
            data[key] = (("denoiser", "sample"), np.stack([v[key] for v in values.values()]))
        attrs = windows | {"pulse_threshold_in_noise_rms": self.ec["traces"]["pulse_threshold"]}
        return self._store(ds, part, split, data, ("denoiser", list(outputs)), attrs)

    def _store(self, ds, part, split, data, methods: tuple[str, list], attrs) -> xr.Dataset:
        """A block's part of a per-trace store: ``data`` over sample (and time) of the
        traces of ``part``, the methods compared along ``methods`` = (dim, names); where the
        traces came from."""
        dim, names = methods
        pred = xr.Dataset(
            data,
            coords={"sample": part["sample"].values, "time": ds["time"].values, dim: names},
            attrs={
                "dataset": ds.attrs.get("dataset", ""),
                "split": split,
                "noise_model": ds.attrs.get("noise_model", ""),
                "sampling_rate_mhz": self.rate,
                **attrs,
            },
        )
        pred["time"].attrs["units"] = "ns"
        return pred

    @staticmethod
    def flat(block: dict[str, Any]) -> dict[str, float]:
        def scalars(b: dict[str, Any], prefix: str) -> dict[str, float]:
            values = {
                "test_loss": b["test_loss"],
                "peak_location_accuracy": b["peak_location_accuracy"],
                "peak_location_accuracy_envelope": b["peak_location_accuracy_envelope"],
                "energy_ratio_median": b["energy_ratio"]["median"],
                "energy_resolution_68": b["energy_ratio"]["resolution_68"],
                "energy_within_20pct": b["energy_ratio"]["within_20pct"],
                "energy_resolution_68_snr_ge_3": b["energy_ratio_above_snr_min"]["resolution_68"],
                "detection_auroc": (b["detection"] or {}).get("auroc"),
                "detection_tpr_at_fpr_0.002_snr_ge_3": (b["detection"] or {}).get(
                    "true_positive_rate_above_snr_min"
                ),
                "false_pulse_rate": b["pulse_detection"]["false_pulse_rate"],
            }
            return {f"{prefix}{k}": v for k, v in values.items() if v is not None}

        out = scalars(block, "")
        for name, b in block["baselines"].items():
            out |= scalars(b, f"baseline.{name}.")
        if "known_pulse" in block:
            known = block["known_pulse"]
            out["bound.peak_location_accuracy"] = known["peak_location_accuracy"]
            above = known["energy_ratio_above_snr_min"]
            if above["resolution_68"] is not None:
                out["bound.energy_resolution_68_snr_ge_3"] = above["resolution_68"]
        return out

    @staticmethod
    def headline(block: dict[str, Any]) -> str:
        def one(b: dict[str, Any]) -> str:
            acc = b["peak_location_accuracy"]
            return (
                f"MSE {b['test_loss']:.4g}, peak acc {acc:.3f}"
                if acc is not None
                else (f"MSE {b['test_loss']:.4g}")
            )

        base = "; ".join(f"{k}: {one(b)}" for k, b in block["baselines"].items())
        return f"{one(block)} ({base})"

    summary_title = (
        "Radio traces: peak-location accuracy (peak within the configured tolerance, "
        "2 % of the trace by default), test "
        "MSE and energy reconstruction of the DAE beside the band-pass and Wiener baselines "
        "and the blog's accuracy"
    )

    @staticmethod
    def summary_rows(experiment: str, record: dict[str, Any]) -> list[dict[str, Any]]:
        """One row per evaluated dataset (the test set, then each ``also_on``)."""
        blocks = {record["dataset"]: record, **record.get("also_on", {})}
        return [_trace_row(experiment, dataset, block) for dataset, block in blocks.items()]


def _row_head(experiment: str, dataset: str, block: dict[str, Any]) -> dict[str, Any]:
    """The first columns of a trace table row: what was evaluated on which traces."""
    return {
        "experiment": experiment,
        "evaluated on": dataset,
        "noise": block["noise_model"],
        "signal / noise-only traces": f"{block['n_signal']} / {block['n_noise_only']}",
    }


def _trace_row(experiment: str, dataset: str, block: dict[str, Any]) -> dict[str, Any]:
    methods = {"DAE": block, **block["baselines"]}
    known = block.get("known_pulse", {})  # (absent in records before the bounds)
    row = _row_head(experiment, dataset, block)
    for name, b in methods.items():
        row[f"{name} peak acc."] = b["peak_location_accuracy"]
    row["blog peak acc."] = BLOG_PEAK_ACCURACY.get(block["noise_model"])
    row["known-pulse peak acc."] = known.get("peak_location_accuracy")
    for name, b in methods.items():  # (absent in records before envelope timing)
        row[f"{name} envelope peak acc."] = b.get("peak_location_accuracy_envelope")
    for name, b in methods.items():
        row[f"{name} MSE"] = b["test_loss"]
    e = block["energy_ratio"]
    row["DAE energy ratio median"] = e["median"]
    row["DAE energy 68% half width"] = e["resolution_68"]
    above = block.get("energy_ratio_above_snr_min", {})
    bound = known.get("energy_ratio_above_snr_min", {})
    for name, key in (
        ("median", "median"),
        ("68% half width", "resolution_68"),
        ("within 20%", "within_20pct"),
    ):
        row[f"DAE energy {name} SNR>=3"] = above.get(key)
        row[f"known-pulse energy {name} SNR>=3"] = bound.get(key)
    for name, b in methods.items():
        row[f"{name} energy within 20%"] = b.get("energy_ratio", {}).get("within_20pct")
    for name, b in methods.items():  # signal vs noise-only by the envelope's peak
        d = b.get("detection") or {}
        row[f"{name} detection AUROC"] = d.get("auroc")
        row[f"{name} TPR @ 0.2% FPR SNR>=3"] = d.get("true_positive_rate_above_snr_min")
    row["DAE false pulses"] = block["pulse_detection"]["false_pulse_rate"]
    return row


class TraceDetection(TraceDenoising):
    """A signal detector's score (the classifier's logit) beside the classical triggers: the
    peak of the Hilbert envelope of the raw ("identity"), band-passed and Wiener-filtered
    trace, and a whitened matched-filter bank (:func:`~aeflow.evaluation.baselines.
    matched_filter_bank`): AUROC and the true-positive rate at 0.2 % false positives,
    overall, above SNR 3 and per SNR bin (:func:`aeflow.evaluation.traces.detection`)."""

    def __init__(self, ds: xr.Dataset, ec: dict[str, Any]) -> None:
        super().__init__(ds, ec)
        self.matched_filter, about = bl.matched_filter_bank(
            _train_pairs(ds, ec["block_samples"]),
            split_values(ds, "train", "has_signal").astype(bool),
        )
        self.tuning["matched_filter"] = about
        # the known-pulse bound scores a noise-only trace with a training pulse's shape
        flags = split_values(ds, "train", "has_signal", BOUND_PULSES * 4).astype(bool)
        self.bound_pulses = split_values(ds, "train", "target", len(flags))[flags][:BOUND_PULSES]

    def _bound_scores(self, part: xr.Dataset, inputs: np.ndarray) -> np.ndarray:
        """The known-pulse detection bound of a block's traces: a signal trace scored with
        its own pulse, a noise-only trace with a training pulse (sample number modulo their
        count), each by :func:`~aeflow.evaluation.traces.known_pulse_scores`."""
        has_signal = part["has_signal"].values.astype(bool)
        bank = self.bound_pulses
        if self.whitening is None or not len(bank):
            return np.full(len(inputs), np.nan)
        pulses = part["target"].values.copy()
        pulses[~has_signal] = bank[part["sample"].values[~has_signal] % len(bank)]
        return known_pulse_scores(inputs, pulses, self.whitening)

    def evaluate(self, predict: Predict, ds: xr.Dataset, split: str, write: Write):
        """The detection block of a split (the triggers' inside), scored
        ``evaluate.block_samples`` traces at a time; each block's part of the per-trace
        store (inputs, SNR, flags, every detector's score) goes to ``write``."""
        self._check_geometry(ds)
        edges = self.ec["traces"]["snr_bins"]
        kept: dict[str, list] = {}
        for part in split_blocks(ds, split, self.ec["block_samples"]):
            inputs = part["input"].values
            scores = {"model": predict(inputs).astype(np.float64)}
            scores |= {f.name: envelope(f.apply(inputs)).max(axis=-1) for f in self.filters}
            scores["matched_filter"] = self.matched_filter(inputs)
            bound = self._bound_scores(part, inputs)
            for key, values in {
                "has_signal": part["has_signal"].values.astype(bool),
                "snr": part["snr"].values,
                "bound": bound,
                **scores,
            }.items():
                kept.setdefault(key, []).append(values)
            data = {
                "input": (("sample", "time"), inputs),
                "snr": (("sample",), part["snr"].values),
                "has_signal": (("sample",), part["has_signal"].values.astype(bool)),
                "detection_score": (("detector", "sample"), np.stack(list(scores.values()))),
                "detection_score_bound": (("sample",), bound),
            }
            pred = self._store(ds, part, split, data, ("detector", list(scores)), {})
            pred["detection_score"].attrs["long_name"] = (
                "per-trace score, higher = more signal-like (model: logit; filters: envelope peak)"
            )
            write(pred)
        values = concat_values(kept)
        has_signal, snr = values.pop("has_signal"), values.pop("snr")
        bound_scores = values.pop("bound")
        bound = None
        if np.isfinite(bound_scores).all():
            bound = detection(bound_scores, has_signal, snr, edges)
        blocks = {name: detection(s, has_signal, snr, edges) for name, s in values.items()}
        if blocks["model"] is None:
            raise ValueError(
                f"dataset {ds.attrs.get('dataset')!r}: the {split} split needs both signal and "
                "noise-only traces to judge a signal detector"
            )
        return {
            **blocks.pop("model"),
            "score": "logit of 'the trace holds a signal'",
            "n_test": len(snr),
            "n_signal": int(has_signal.sum()),
            "n_noise_only": int((~has_signal).sum()),
            "noise_model": ds.attrs.get("noise_model"),
            "snr_bins": list(edges),
            "baselines": {
                name: b
                | {
                    "score": self.tuning["matched_filter"]
                    if name == "matched_filter"
                    else f"peak of the Hilbert envelope ({name} trace)"
                }
                for name, b in blocks.items()
            },
            "bound": bound and bound | {"score": KNOWN_PULSE_SCORE},
        }

    @staticmethod
    def flat(block: dict[str, Any]) -> dict[str, float]:
        def scalars(b: dict[str, Any], prefix: str) -> dict[str, float]:
            values = {
                "detection_auroc": b["auroc"],
                "detection_tpr_at_fpr_0.002": b["true_positive_rate"],
                "detection_tpr_at_fpr_0.002_snr_ge_3": b["true_positive_rate_above_snr_min"],
            }
            return {f"{prefix}{k}": v for k, v in values.items() if v is not None}

        out = scalars(block, "")
        for name, b in block["baselines"].items():
            if b is not None:
                out |= scalars(b, f"baseline.{name}.")
        if block.get("bound"):
            out |= scalars(block["bound"], "bound.")
        return out

    @staticmethod
    def headline(block: dict[str, Any]) -> str:
        def one(b: dict[str, Any] | None) -> str:
            if b is None:
                return "n/a"
            return f"AUROC {b['auroc']:.3f}, TPR SNR>=3 {b['true_positive_rate_above_snr_min']:.3f}"

        base = "; ".join(f"{k}: {one(b)}" for k, b in block["baselines"].items())
        return f"{one(block)} at {DETECTION_FPR:.1%} false positives ({base})"

    summary_title = (
        f"Radio signal detection: signal vs noise-only traces, true-positive rate at "
        f"{DETECTION_FPR:.1%} false positives (SNR >= {ENERGY_SNR_MIN:g}) and AUROC of each "
        "classifier beside the envelope trigger on the raw, band-passed and Wiener-filtered "
        "trace and a whitened matched-filter bank (Erdmann et al. 2019: about 90 %)"
    )

    @staticmethod
    def summary_rows(experiment: str, record: dict[str, Any]) -> list[dict[str, Any]]:
        """One row per evaluated dataset (the test set, then each ``also_on``)."""
        blocks = {record["dataset"]: record, **record.get("also_on", {})}
        rows = []
        for dataset, block in blocks.items():
            methods = {"classifier": block, **block["baselines"]}
            row = _row_head(experiment, dataset, block)
            for name, b in methods.items():
                row[f"{name} TPR @ 0.2% FPR SNR>=3"] = (b or {}).get(
                    "true_positive_rate_above_snr_min"
                )
            row["known-pulse bound TPR @ 0.2% FPR SNR>=3"] = (block.get("bound") or {}).get(
                "true_positive_rate_above_snr_min"
            )
            for name, b in methods.items():
                row[f"{name} AUROC"] = (b or {}).get("auroc")
            row["false-positive rate reached"] = block["false_positive_rate_reached"]
            rows.append(row)
        return rows


def trace_spectra(pred: xr.Dataset, block_samples: int = SPECTRA_BLOCK) -> xr.Dataset:
    """Mean amplitude spectra of the true, noisy and denoised traces of a predictions Dataset
    (:class:`TraceDenoising`), over signal traces and over noise-only traces; the traces are
    read ``block_samples`` at a time and their ``|rfft|`` summed."""
    rate = float(pred.attrs["sampling_rate_mhz"])
    denoisers = [str(name) for name in pred["denoiser"].values if name != "identity"]
    names = ["true", "noisy", *denoisers]
    freqs = np.fft.rfftfreq(pred.sizes["time"], d=1.0 / rate)
    sums = {kind: {name: np.zeros(len(freqs)) for name in names} for kind in (True, False)}
    counts = {True: 0, False: 0}
    for start in range(0, pred.sizes["sample"], block_samples):
        part = pred.isel(sample=slice(start, start + block_samples))
        has_signal = part["has_signal"].values.astype(bool)
        curves = {"true": part["target"].values, "noisy": part["input"].values}
        curves |= {name: part["denoised"].sel(denoiser=name).values for name in denoisers}
        for name, traces in curves.items():
            amplitude = np.abs(np.fft.rfft(traces.astype(np.float64), axis=-1))
            for kind in (True, False):
                sums[kind][name] += amplitude[has_signal == kind].sum(axis=0)
        counts[True] += int(has_signal.sum())
        counts[False] += int((~has_signal).sum())

    def means(kind: bool) -> np.ndarray:
        n = counts[kind]
        return np.stack(
            [sums[kind][name] / n if n else np.full(len(freqs), np.nan) for name in names]
        )

    spectra = xr.Dataset(
        {
            "signal_traces": (("curve", "frequency"), means(True)),
            "noise_only_traces": (("curve", "frequency"), means(False)),
        },
        coords={"curve": names, "frequency": freqs},
        attrs={
            "dataset": pred.attrs.get("dataset", ""),
            "noise_model": pred.attrs.get("noise_model", ""),
            "n_signal": counts[True],
            "n_noise_only": counts[False],
        },
    )
    spectra["frequency"].attrs["units"] = "MHz"
    for var in spectra.data_vars.values():
        var.attrs["long_name"] = "mean amplitude spectrum |rfft| (normalized units)"
    return spectra
