"""The image suite: test reconstructions of a model beside classical image baselines.

A suite is built once per evaluation from the model's training dataset (baselines are fitted
or tuned on it) and then applied to any test set of the same kind (see
:mod:`aeflow.evaluation.suites`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from aeflow.data import kinds
from aeflow.data.split import split_values
from aeflow.evaluation import baselines as bl
from aeflow.evaluation import colour, rings
from aeflow.evaluation.metrics import mse_summary, per_sample_mse, ssim, summarize
from aeflow.evaluation.suites.common import (
    Predict,
    Write,
    concat_values,
    pca_filter,
    split_blocks,
)

TUNING_SAMPLES = 2000  # images the filter widths are tuned on, at most
# per-sample values kept in the predictions store
STORED = ("per_sample_mse", "radius_ratio", "fit_radius_ratio", "delta_e")
# scattering patterns: the model's output given the measured ring intensities
PROFILED = "measured_profile"


class ImageDenoising:
    """MSE and PSNR; identity, Gaussian and median filters tuned on validation. For pure
    reconstruction (input = target, where those are trivially perfect) the baseline is PCA
    with the model's code size, fitted on the (normal) training images. Scattering patterns
    (kinds with ``form_factor_rings``) are also judged on the rings that carry the particle
    size (:func:`aeflow.evaluation.rings.ring_summary`). A colorization (``task:
    colorize``) is judged in CIELAB as well (ΔE, the chroma error, the centre-minus-outskirts
    colour index) beside the grey input, the mean colour per pixel and a linear fit from the
    luminance (:func:`aeflow.evaluation.baselines.colorization_baselines`)."""

    def __init__(
        self,
        ds: xr.Dataset,
        ec: dict[str, Any],
        code_size: int | None = None,
        corrupt: dict[str, Any] | None = None,
        task: str | None = None,
    ) -> None:
        self.ec = ec
        self.colour = task == "colorize"
        kind = ds.attrs.get("kind")  # (hand-made datasets in tests may not name theirs)
        self.rings = kind is not None and kinds.traits(kind).form_factor_rings
        # filters are tuned on the validation split; without one (the lecture notebooks'
        # recipe) on the first TUNING_SAMPLES training images
        tune = "val" if (ds["split"].values == "val").any() else "train"
        val_input = split_values(ds, tune, "input", TUNING_SAMPLES)
        val_target = split_values(ds, tune, "target", TUNING_SAMPLES)
        attrs = ds["input"].attrs  # the loss is in the scaled values' units
        self.units = attrs.get("scaling", attrs.get("units", "normalized"))
        if self.colour:  # fitted on the training images
            train = split_values(ds, "train", "target", TUNING_SAMPLES)
            self.filters = bl.colorization_baselines(train)
            self.tuning = {
                "fitted_on": f"the first {len(train)} training images of {ds.attrs.get('dataset')}",
                "luminance": f"Rec. 709 weights {list(colour.LUMA_WEIGHTS)} of R, G, B",
            }
            return
        if corrupt and corrupt["downsample"]:
            f = int(corrupt["downsample"])
            # clipped to the inputs' value range: of the tuning split, the same for every block
            span = (float(val_input.min()), float(val_input.max()))
            self.filters = [
                bl.TunedFilter("identity", "none", None, bl.identity, {}),
                bl.TunedFilter(
                    "bicubic",
                    "factor",
                    f,
                    lambda x, f=f, span=span: bl.bicubic_upsampling(x, f, span),
                    {},
                ),
            ]
            self.tuning = {"bicubic": f"cubic-spline upsampling of the {f}x pooled image"}
            return
        if np.array_equal(val_input, val_target):
            pca, text = pca_filter(ds, code_size, ec["block_samples"], "images")
            self.filters, self.tuning = [pca], {"pca": text}
            return
        self.filters = bl.image_denoising_baselines(
            val_input,
            val_target,
            ec["baselines"]["gaussian_sigma"],
            ec["baselines"]["median_size"],
        )
        self.tuning = {
            "tuned_on": f"{'validation' if tune == 'val' else 'training'} split of "
            f"{ds.attrs.get('dataset')} (also used for also_on datasets)",
            "val_mse": {f.name: f.val_scores for f in self.filters if f.val_scores},
        }

    def _values(self, output: np.ndarray, targets: np.ndarray, reference=None):
        """Per-sample values of one denoiser's outputs: MSE, SSIM, BCE and whether output
        and target lie in [0, 1] (where BCE is defined); against a ``reference`` computed
        once per block, for scattering patterns the radius ratios (the targets' rings and
        sphere fits), for a colorization the colour values (the targets in CIELAB)."""
        values = {
            "per_sample_mse": per_sample_mse(output, targets),
            "ssim": ssim(output, targets, self.ec["psnr_data_range"]),
        }
        flat_out = output.reshape(len(output), -1)
        flat_target = targets.reshape(len(targets), -1)
        values["in_unit_range"] = (
            np.minimum(flat_out.min(axis=1), flat_target.min(axis=1)) >= 0
        ) & (np.maximum(flat_out.max(axis=1), flat_target.max(axis=1)) <= 1)
        values["bce"] = np.full(len(output), np.nan)  # where defined (outside: no BCE at all)
        rows = values["in_unit_range"]
        p = np.clip(flat_out[rows].astype(np.float64), 1e-7, 1 - 1e-7)
        t = flat_target[rows].astype(np.float64)
        values["bce"][rows] = -(t * np.log(p) + (1 - t) * np.log1p(-p)).mean(axis=1)
        if isinstance(reference, rings.Reference):
            values |= rings.ring_values(output, reference)
        if isinstance(reference, colour.Reference):
            values |= colour.colour_values(output, reference)
        return values

    def _summary(self, values: dict[str, np.ndarray]) -> dict[str, Any]:
        """The metric block of one denoiser from its per-sample values over the test set:
        MSE/PSNR (``test_loss``: the MSE over all pixels of all samples, the book's Keras
        loss), the rings of scattering patterns, SSIM, and BCE where every output and target
        lies in [0, 1]."""
        block: dict[str, Any] = mse_summary(values["per_sample_mse"], self.ec["psnr_data_range"])
        if "ringed" in values:
            block["rings"] = rings.ring_summary(values)
        block["ssim"] = summarize(values["ssim"])
        if "delta_e" in values:
            block["colour"] = _colour_summary(values)
        if values["in_unit_range"].all():
            block["bce"] = float(values["bce"].mean())
        return block

    def evaluate(self, predict: Predict, ds: xr.Dataset, split: str, write: Write):
        """The metric block of a split (the model's, its baselines' inside), judged
        ``evaluate.block_samples`` at a time; each block's part of the predictions store
        (inputs, targets, the model's outputs, every denoiser's per-sample values) goes to
        ``write``."""
        names = ["model", *(f.name for f in self.filters), PROFILED]
        kept: dict[str, dict[str, list]] = {name: {} for name in names}
        for part in split_blocks(ds, split, self.ec["block_samples"]):
            inputs, targets = part["input"].values, part["target"].values
            denoised = predict(inputs).astype(np.float32)
            reference = None
            if self.rings:  # per pattern; the sphere fit needs the patterns' log scales
                scale = part["log_scale"].values if "log_scale" in part else None
                reference = rings.Reference.of(targets, scale)
            elif self.colour:
                reference = colour.Reference.of(targets)
            outputs = {"model": denoised} | {f.name: f.apply(inputs) for f in self.filters}
            if isinstance(reference, rings.Reference) and reference.log_scale is not None:
                outputs[PROFILED] = rings.with_measured_profile(
                    denoised, inputs, reference.log_scale
                )
            values = {name: self._values(out, targets, reference) for name, out in outputs.items()}
            for name, v in values.items():
                for key, arr in v.items():
                    kept[name].setdefault(key, []).append(arr)
            write(self._predictions(ds, part, split, (inputs, targets, denoised), values))
        block = self._summary(concat_values(kept["model"]))
        block["baselines"] = {}
        for f in self.filters:
            b_block = self._summary(concat_values(kept[f.name]))
            if f.value is not None:
                b_block[f.parameter] = f.value
            block["baselines"][f.name] = b_block
        if kept[PROFILED]:
            block[PROFILED] = self._summary(concat_values(kept[PROFILED]))
            block[PROFILED]["definition"] = (
                "the model's output with each ring's mean intensity set to that of the "
                "speckled input (rings.with_measured_profile)"
            )
        return block

    @staticmethod
    def _predictions(ds, part, split, arrays, values) -> xr.Dataset:
        """A block's part of the predictions store: its (inputs, targets, model outputs) and
        every denoiser's per-sample values."""
        inputs, targets, denoised = arrays
        in_dims = ("sample", *(d for d in ds["input"].dims if d != "sample"))
        dims = ("sample", *(d for d in ds["target"].dims if d != "sample"))
        stacked = {
            key: (("denoiser", "sample"), np.stack([v[key] for v in values.values()]))
            for key in STORED
            if key in values["model"]
        }
        pred = xr.Dataset(
            {
                "input": (in_dims, inputs),
                "target": (dims, targets),
                "prediction": (dims, denoised),
                **stacked,
            },
            coords={"sample": part["sample"].values, "denoiser": list(values)},
            attrs={"dataset": ds.attrs.get("dataset", ""), "split": split},
        )
        pred["per_sample_mse"].attrs["long_name"] = "mean squared error per sample"
        if "radius_ratio" in pred:
            pred["radius_ratio"].attrs["long_name"] = (
                "particle radius from the first form-factor minimum, output over true "
                "(NaN: no ring in the true pattern, or none kept)"
            )
        if "delta_e" in pred:
            pred["delta_e"].attrs["long_name"] = "mean CIE76 colour difference, output - true"
        if "fit_radius_ratio" in pred:
            pred["fit_radius_ratio"].attrs["long_name"] = (
                "number-mean particle radius of a polydisperse sphere fit, output over true"
            )
        return pred

    @staticmethod
    def flat(block: dict[str, Any]) -> dict[str, float]:
        out = {
            "test_loss": block["test_loss"],
            "test_psnr_db_mean": block["psnr_db"]["mean"],
            "test_ssim_mean": block["ssim"]["mean"],
        }
        if "bce" in block:
            out["test_bce"] = block["bce"]
        if block.get("rings", {}).get("radius_within_tolerance") is not None:
            out["rings_radius_within_tolerance"] = block["rings"]["radius_within_tolerance"]
        if "colour" in block:
            out["test_delta_e_mean"] = block["colour"]["delta_e"]["mean"]
            out["test_chroma_error_mean"] = block["colour"]["chroma_error"]
            out["test_colour_gradient_r"] = block["colour"]["gradient"]["pearson_r"]
        fit = block.get("rings", {}).get("sphere_fit", {})
        if fit.get("radius_within_tolerance") is not None:
            out["rings_fit_radius_within_tolerance"] = fit["radius_within_tolerance"]
        if PROFILED in block:
            out[f"{PROFILED}.test_loss"] = block[PROFILED]["test_loss"]
            fit = block[PROFILED]["rings"].get("sphere_fit", {})
            if fit.get("radius_within_tolerance") is not None:
                out[f"{PROFILED}.rings_fit_radius_within_tolerance"] = fit[
                    "radius_within_tolerance"
                ]
        for name, b in block["baselines"].items():
            out[f"baseline.{name}.test_loss"] = b["test_loss"]
            out[f"baseline.{name}.test_ssim_mean"] = b["ssim"]["mean"]
            if "colour" in b:
                out[f"baseline.{name}.test_delta_e_mean"] = b["colour"]["delta_e"]["mean"]
        return out

    @staticmethod
    def headline(block: dict[str, Any]) -> str:
        base = ", ".join(f"{k} {b['test_loss']:.4g}" for k, b in block["baselines"].items())
        line = f"test_loss {block['test_loss']:.4g} ({base})"
        if "colour" in block:
            de = ", ".join(
                f"{k} {b['colour']['delta_e']['mean']:.3g}" for k, b in block["baselines"].items()
            )
            line += f"; ΔE {block['colour']['delta_e']['mean']:.3g} ({de})"
        return line

    summary_title = (
        "Images: test MSE, PSNR, SSIM and BCE of each model beside its baselines "
        "(denoising: identity, Gaussian, median; super-resolution: pixel repetition, bicubic; "
        "reconstruction: PCA of the same code size), and k-NN accuracy on codes vs pixels"
    )

    @staticmethod
    def summary_rows(experiment: str, record: dict[str, Any]) -> list[dict[str, Any]]:
        """One row per evaluated dataset (the test set, then each ``also_on``)."""
        blocks = {record["dataset"]: record, **record.get("also_on", {})}
        model = {"model": record.get("model"), "parameters": record.get("n_parameters")}
        return [_image_row(experiment, d, block, model) for d, block in blocks.items()]


def _image_row(
    experiment: str, dataset: str, block: dict[str, Any], model: dict[str, Any]
) -> dict[str, Any]:
    best = min(block["baselines"], key=lambda k: block["baselines"][k]["test_loss"], default=None)
    row = {
        "experiment": experiment,
        "evaluated on": dataset,
        **model,
        "n_test": block["n_test"],
        "model MSE": block["test_loss"],
        "model PSNR [dB]": block["psnr_db"]["mean"],
        "model SSIM": block.get("ssim", {}).get("mean"),  # (absent in metrics before SSIM)
        "model BCE": block.get("bce"),
    }
    for name, b in block["baselines"].items():
        row[f"{name} MSE"] = b["test_loss"]
        row[f"{name} SSIM"] = b.get("ssim", {}).get("mean")
    if "rings" in block:  # scattering patterns: the particle size kept
        row["model radius within 5%"] = block["rings"]["radius_within_tolerance"]
        for name, b in block["baselines"].items():
            row[f"{name} radius within 5%"] = b["rings"]["radius_within_tolerance"]
        if "sphere_fit" in block["rings"]:  # the whole profile fitted, as SAXS users do
            row["model fitted radius within 5%"] = block["rings"]["sphere_fit"][
                "radius_within_tolerance"
            ]
            for name, b in block["baselines"].items():
                row[f"{name} fitted radius within 5%"] = b["rings"]["sphere_fit"][
                    "radius_within_tolerance"
                ]
        if PROFILED in block:  # the network's picture, the measurement's ring intensities
            row["model+profile MSE"] = block[PROFILED]["test_loss"]
            row["model+profile SSIM"] = block[PROFILED]["ssim"]["mean"]
            fit = block[PROFILED]["rings"].get("sphere_fit", {})
            row["model+profile fitted radius within 5%"] = fit.get("radius_within_tolerance")
    if "colour" in block:  # a colorization, in CIELAB
        row["model ΔE"] = block["colour"]["delta_e"]["mean"]
        row["model chroma error"] = block["colour"]["chroma_error"]
        row["model colour gradient r"] = block["colour"]["gradient"]["pearson_r"]
        for name, b in block["baselines"].items():
            row[f"{name} ΔE"] = b["colour"]["delta_e"]["mean"]
            row[f"{name} colour gradient r"] = b["colour"]["gradient"]["pearson_r"]
    row["best baseline"] = best
    row["best baseline MSE"] = block["baselines"][best]["test_loss"] if best else None
    if "downstream" in block:
        row["k-NN acc. codes"] = block["downstream"]["accuracy_codes"]
        row["k-NN acc. pixels"] = block["downstream"]["accuracy_pixels"]
    return row


def _colour_summary(values: dict[str, np.ndarray]) -> dict[str, Any]:
    """A colorization's colour: ΔE (CIE76) per image, the mean chroma error, and how well the
    centre-minus-outskirts colour index (a bulge redder than its disk) follows the true
    one: Pearson r, mean difference and its RMS."""
    out, true = values["colour_gradient"], values["true_colour_gradient"]
    diff = out - true
    varied = np.std(out) > 0 and np.std(true) > 0
    return {
        "delta_e": summarize(values["delta_e"]),
        "chroma_error": float(np.mean(values["chroma_error"])),
        "gradient": {
            "pearson_r": float(np.corrcoef(out, true)[0, 1]) if varied else None,
            "bias": float(diff.mean()),
            "rms": float(np.sqrt((diff**2).mean())),
            "true_mean": float(true.mean()),
            "definition": "B - R = -2.5 log10(B/R) within H/8 of the centre minus that from "
            "H/8 to H/4 (positive: a redder centre)",
        },
    }
