"""Evaluation suites: what "test metrics beside classical baselines" means per data modality.

A suite is built once per evaluation from the model's training dataset (baselines are fitted
or tuned on it) and then applied to any test set of the same kind:

* ``evaluate(predict, ds, split) -> (block, predictions)``: the metric block of the model
  with ``baselines`` inside, and a predictions Dataset (inputs, targets, outputs and
  per-sample values of the model and every baseline);
* ``flat(block)``: the scalars logged to MLflow;
* ``tuning``: how the baselines were fitted (for metrics.json);
* ``headline(block)``: one log line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import xarray as xr

from aeflow.data.store import split_values
from aeflow.evaluation import baselines as bl
from aeflow.evaluation.metrics import per_sample_mse, reconstruction_metrics, ssim, summarize
from aeflow.evaluation.traces import amplitude_spectrum, trace_metrics

Predict = Callable[[np.ndarray], np.ndarray]


def _inputs_targets(ds: xr.Dataset, split: str) -> tuple[np.ndarray, np.ndarray]:
    inputs = split_values(ds, split, "input")
    if len(inputs) == 0:
        raise ValueError(f"dataset {ds.attrs.get('dataset')!r} has an empty {split!r} split")
    return inputs, split_values(ds, split, "target")


def _split_samples(ds: xr.Dataset, split: str) -> np.ndarray:
    return ds["sample"].values[np.asarray(ds["split"].values == split)]


class ImageDenoising:
    """MSE and PSNR; identity, Gaussian and median filters tuned on validation. For pure
    reconstruction (input = target, where those are trivially perfect) the baseline is PCA
    with the model's code size, fitted on the (normal) training images."""

    def __init__(
        self,
        ds: xr.Dataset,
        ec: dict[str, Any],
        code_size: int | None = None,
        corrupt: dict[str, Any] | None = None,
    ) -> None:
        self.ec = ec
        val_input, val_target = split_values(ds, "val", "input"), split_values(ds, "val", "target")
        self.units = ds["input"].attrs.get("units", "normalized")
        if corrupt and corrupt["downsample"]:
            f = int(corrupt["downsample"])
            self.filters = [
                bl.TunedFilter("identity", "none", None, bl.identity, {}),
                bl.TunedFilter(
                    "bicubic", "factor", f, lambda x, f=f: bl.bicubic_upsampling(x, f), {}
                ),
            ]
            self.tuning = {"bicubic": f"cubic-spline upsampling of the {f}x pooled image"}
            return
        if np.array_equal(val_input, val_target):
            train = np.asarray(ds["split"].values == "train")
            if "is_anomaly" in ds:
                train &= ~ds["is_anomaly"].values.astype(bool)
            k = code_size or 32
            pca = bl.pca_reconstructor(ds["input"].isel(sample=np.flatnonzero(train)).values, k)
            self.filters = [bl.TunedFilter("pca", "n_components", k, pca, {})]
            self.tuning = {
                "pca": f"fitted on the {'normal ' if 'is_anomaly' in ds else ''}training "
                f"images of {ds.attrs.get('dataset')}, {k} components (the model's code size)"
            }
            return
        self.filters = bl.image_denoising_baselines(
            val_input,
            val_target,
            ec["baselines"]["gaussian_sigma"],
            ec["baselines"]["median_size"],
        )
        self.tuning = {
            "tuned_on": f"validation split of {ds.attrs.get('dataset')} "
            "(also used for also_on datasets)",
            "val_mse": {f.name: f.val_scores for f in self.filters if f.val_scores},
        }

    def _metrics(self, output: np.ndarray, targets: np.ndarray):
        """MSE/PSNR block plus SSIM, and BCE where outputs and targets lie in [0, 1]."""
        data_range = self.ec["psnr_data_range"]
        block, mse = reconstruction_metrics(output, targets, data_range)
        block["ssim"] = summarize(ssim(output, targets, data_range))
        if min(output.min(), targets.min()) >= 0 and max(output.max(), targets.max()) <= 1:
            p = np.clip(output.astype(np.float64), 1e-7, 1 - 1e-7)
            t = targets.astype(np.float64)
            block["bce"] = float(-(t * np.log(p) + (1 - t) * np.log1p(-p)).mean())
        return block, mse

    def evaluate(self, predict: Predict, ds: xr.Dataset, split: str):
        inputs, targets = _inputs_targets(ds, split)
        denoised = predict(inputs)
        block, mse = self._metrics(denoised, targets)
        per_method = {"model": mse}
        block["baselines"] = {}
        for f in self.filters:
            b_block, b_mse = self._metrics(f.apply(inputs), targets)
            if f.value is not None:
                b_block[f.parameter] = f.value
            block["baselines"][f.name] = b_block
            per_method[f.name] = b_mse
        dims = ("sample", *(d for d in ds["input"].dims if d != "sample"))
        pred = xr.Dataset(
            {
                "input": (dims, inputs),
                "target": (dims, targets),
                "prediction": (dims, denoised.astype(np.float32)),
                "per_sample_mse": (("denoiser", "sample"), np.stack(list(per_method.values()))),
            },
            coords={"sample": _split_samples(ds, split), "denoiser": list(per_method)},
            attrs={"dataset": ds.attrs.get("dataset", ""), "split": split},
        )
        pred["per_sample_mse"].attrs["long_name"] = "mean squared error per sample"
        return block, pred

    @staticmethod
    def flat(block: dict[str, Any]) -> dict[str, float]:
        out = {
            "test_loss": block["test_loss"],
            "test_psnr_db_mean": block["psnr_db"]["mean"],
            "test_ssim_mean": block["ssim"]["mean"],
        }
        if "bce" in block:
            out["test_bce"] = block["bce"]
        for name, b in block["baselines"].items():
            out[f"baseline.{name}.test_loss"] = b["test_loss"]
            out[f"baseline.{name}.test_ssim_mean"] = b["ssim"]["mean"]
        return out

    @staticmethod
    def headline(block: dict[str, Any]) -> str:
        base = ", ".join(f"{k} {b['test_loss']:.4g}" for k, b in block["baselines"].items())
        return f"test_loss {block['test_loss']:.4g} ({base})"


class TraceDenoising:
    """MSE, peak-location accuracy, energy ratio, pulse detection and spectra; identity,
    Butterworth band-pass and a Wiener filter fitted on the training traces."""

    def __init__(self, ds: xr.Dataset, ec: dict[str, Any]) -> None:
        self.ec = ec
        self.rate = float(ds.attrs["sampling_rate_mhz"])
        self.length = ds.sizes["time"]
        b = ec["baselines"]
        self.filters = bl.trace_denoising_baselines(
            split_values(ds, "train", "input"),
            split_values(ds, "train", "target"),
            b["bandpass_mhz"],
            b["bandpass_order"],
            self.rate,
        )
        self.units = "traces / std of the training traces"
        self.tuning = {
            "bandpass": f"zero-phase Butterworth of order {b['bandpass_order']} "
            f"(forward-backward), {b['bandpass_mhz'][0]}-{b['bandpass_mhz'][1]} MHz",
            "wiener": f"S/(S+N) with power spectra from the training split of "
            f"{ds.attrs.get('dataset')} (also used for also_on datasets)",
        }

    def _settings(self, n_time: int, noise_rms: float) -> dict[str, Any]:
        tc = self.ec["traces"]
        dt_ns = 1e3 / self.rate
        return {
            "tolerance": max(0, round(tc["peak_tolerance_fraction"] * n_time)),
            "half_width": max(0, round(tc["energy_window_ns"] / 2 / dt_ns)),
            "threshold": tc["pulse_threshold"] * noise_rms,
            "snr_bins": tc["snr_bins"],
        }

    def evaluate(self, predict: Predict, ds: xr.Dataset, split: str):
        rate, length = float(ds.attrs["sampling_rate_mhz"]), ds.sizes["time"]
        if rate != self.rate or length != self.length:
            raise ValueError(
                f"dataset {ds.attrs.get('dataset')!r} has traces of {length} samples at "
                f"{rate} MHz; the model and baselines were fitted on {self.length} samples "
                f"at {self.rate} MHz"
            )
        inputs, targets = _inputs_targets(ds, split)
        has_signal = split_values(ds, split, "has_signal").astype(bool)
        snr = split_values(ds, split, "snr")
        noise_rms = float(np.sqrt(np.mean((inputs.astype(np.float64) - targets) ** 2)))
        settings = self._settings(inputs.shape[-1], noise_rms)
        outputs = {"model": predict(inputs).astype(np.float32)}
        outputs |= {f.name: f.apply(inputs) for f in self.filters}
        blocks, per_trace, mse = {}, {"peak_hit": [], "energy_ratio": []}, []
        for name, y in outputs.items():
            m = per_sample_mse(y, targets)
            block, values = trace_metrics(y, targets, has_signal, snr, **settings)
            blocks[name] = {"test_loss": float(m.mean()), "mse": summarize(m), **block}
            mse.append(m)
            for key in per_trace:
                per_trace[key].append(values[key])
        block = {
            **blocks.pop("model"),
            "n_test": len(inputs),
            "n_signal": int(has_signal.sum()),
            "n_noise_only": int((~has_signal).sum()),
            "noise_model": ds.attrs.get("noise_model"),
            "noise_rms": noise_rms,
            "settings": {
                "peak_tolerance_samples": settings["tolerance"],
                "energy_half_window_samples": settings["half_width"],
                "pulse_threshold": settings["threshold"],
                "pulse_threshold_in_noise_rms": self.ec["traces"]["pulse_threshold"],
            },
            "baselines": blocks,
        }
        for f in self.filters:
            if f.value is not None:
                block["baselines"][f.name][f.parameter] = f.value
        denoisers = list(outputs)
        pred = xr.Dataset(
            {
                "input": (("sample", "time"), inputs),
                "target": (("sample", "time"), targets),
                "denoised": (("denoiser", "sample", "time"), np.stack(list(outputs.values()))),
                "per_sample_mse": (("denoiser", "sample"), np.stack(mse)),
                "peak_hit": (("denoiser", "sample"), np.stack(per_trace["peak_hit"])),
                "energy_ratio": (("denoiser", "sample"), np.stack(per_trace["energy_ratio"])),
                "snr": (("sample",), snr),
                "has_signal": (("sample",), has_signal),
            },
            coords={
                "sample": _split_samples(ds, split),
                "time": ds["time"].values,
                "denoiser": denoisers,
            },
            attrs={
                "dataset": ds.attrs.get("dataset", ""),
                "split": split,
                "noise_model": ds.attrs.get("noise_model", ""),
                "sampling_rate_mhz": self.rate,
                **{k: v for k, v in settings.items() if k != "snr_bins"},
            },
        )
        pred["time"].attrs["units"] = "ns"
        return block, pred

    @staticmethod
    def flat(block: dict[str, Any]) -> dict[str, float]:
        def scalars(b: dict[str, Any], prefix: str) -> dict[str, float]:
            values = {
                "test_loss": b["test_loss"],
                "peak_location_accuracy": b["peak_location_accuracy"],
                "energy_ratio_median": b["energy_ratio"]["median"],
                "energy_resolution_68": b["energy_ratio"]["resolution_68"],
                "false_pulse_rate": b["pulse_detection"]["false_pulse_rate"],
            }
            return {f"{prefix}{k}": v for k, v in values.items() if v is not None}

        out = scalars(block, "")
        for name, b in block["baselines"].items():
            out |= scalars(b, f"baseline.{name}.")
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


SUITES = {"images": ImageDenoising, "traces": TraceDenoising}


def build(
    modality: str,
    ds: xr.Dataset,
    ec: dict[str, Any],
    code_size: int | None = None,
    corrupt: dict[str, Any] | None = None,
):
    """The evaluation suite of a modality; ``code_size`` sizes the PCA baseline of pure
    reconstruction experiments, ``corrupt`` (super-resolution) selects bicubic upsampling."""
    if modality not in SUITES:
        raise KeyError(f"no evaluation suite for modality {modality!r}")
    if modality == "images":
        return SUITES[modality](ds, ec, code_size, corrupt)
    return SUITES[modality](ds, ec)


def trace_spectra(pred: xr.Dataset) -> xr.Dataset:
    """Mean amplitude spectra of the true, noisy and denoised traces of a predictions Dataset
    (:class:`TraceDenoising`), over signal traces and over noise-only traces."""
    rate = float(pred.attrs["sampling_rate_mhz"])
    has_signal = pred["has_signal"].values.astype(bool)
    curves = {"true": pred["target"].values, "noisy": pred["input"].values}
    for name in pred["denoiser"].values:
        if name != "identity":
            curves[str(name)] = pred["denoised"].sel(denoiser=name).values
    sig, noise = {}, {}
    for name, traces in curves.items():
        freqs, sig[name] = amplitude_spectrum(traces[has_signal], rate)
        _, noise[name] = amplitude_spectrum(traces[~has_signal], rate)
    spectra = xr.Dataset(
        {
            "signal_traces": (("curve", "frequency"), np.stack(list(sig.values()))),
            "noise_only_traces": (("curve", "frequency"), np.stack(list(noise.values()))),
        },
        coords={"curve": list(curves), "frequency": freqs},
        attrs={
            "dataset": pred.attrs.get("dataset", ""),
            "noise_model": pred.attrs.get("noise_model", ""),
            "n_signal": int(has_signal.sum()),
            "n_noise_only": int((~has_signal).sum()),
        },
    )
    spectra["frequency"].attrs["units"] = "MHz"
    for var in spectra.data_vars.values():
        var.attrs["long_name"] = "mean amplitude spectrum |rfft| (normalized units)"
    return spectra
