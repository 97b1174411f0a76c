"""What an experiment asks of the network: the input it sees for each target.

``reconstruct`` and ``denoise`` on data that brings its own noisy inputs (SAXS speckle,
radio traces) use the prepared ``input`` as it is. With a ``corrupt`` section the clean
image or trace (``target``) is corrupted here, the same way in training, evaluation and anomaly
scoring (seeded per sample), so no corrupted copy has to be stored:

- ``noise_sd``: additive Gaussian noise of mean ``noise_mean`` and this sd, clipped to
  ``clip`` (the lectures: mean 0.5 sd 0.5, or mean 0 sd 0.3, clipped to [0, 1]; traces are
  not clipped unless asked);
- ``downsample``: average-pool by this factor, then repeat each pixel back to full size
  (super-resolution with a same-size network: 28 -> 14 or 7 -> 28).

``colorize`` (colour images only) replaces the input by the target's luminance
(:func:`aeflow.evaluation.colour.luminance`): one grey channel in, the colour image out.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr
from xarray.backends import BackendArray
from xarray.core import indexing

from aeflow.data import kinds


def average_pool(images: np.ndarray, factor: int) -> np.ndarray:
    """Mean over ``factor x factor`` blocks of the last two axes, (N, H, W) or (N, C, H, W);
    H and W must divide by it."""
    *lead, h, w = images.shape
    if h % factor or w % factor:
        raise ValueError(f"images of {h}x{w} pixels do not divide into {factor}x{factor} blocks")
    blocks = images.reshape(*lead, h // factor, factor, w // factor, factor)
    return blocks.mean(axis=(-3, -1))


def upsample_nearest(images: np.ndarray, factor: int) -> np.ndarray:
    """Each pixel of the last two axes repeated ``factor x factor`` times."""
    return images.repeat(factor, axis=-2).repeat(factor, axis=-1)


def corrupt(clean: np.ndarray, cfg: dict[str, Any], sample_ids: np.ndarray) -> np.ndarray:
    """The corrupted inputs of clean images (N, H, W) or (N, C, H, W), or traces (N, T)
    (noise only); noise drawn per sample from ``(cfg["seed"], sample id)``, so a sample gets
    the same noise in every stage."""
    x = np.asarray(clean, dtype=np.float32)
    if cfg["downsample"]:
        f = int(cfg["downsample"])
        x = upsample_nearest(average_pool(x, f), f)
    if cfg["noise_sd"]:
        noise = np.empty_like(x)
        for i, sid in enumerate(np.asarray(sample_ids)):
            rng = np.random.default_rng([cfg["seed"], int(sid)])
            noise[i] = rng.normal(cfg["noise_mean"], cfg["noise_sd"], size=x.shape[1:])
        x = x + noise
    if cfg["clip"] is not None:
        x = np.clip(x, *cfg["clip"])
    return x.astype(np.float32)


def with_task_inputs(ds: xr.Dataset, exp_cfg: dict[str, Any]) -> xr.Dataset:
    """The experiment's view of a prepared store: ``input`` replaced by the corrupted
    ``target`` when it has a ``corrupt`` section (by its luminance for ``task: colorize``),
    ``is_anomaly`` by the anomalies its ``anomaly`` section names
    (:func:`with_anomaly_labels`); otherwise ``ds`` unchanged."""
    ds = with_anomaly_labels(ds, exp_cfg)
    if exp_cfg.get("task") == "colorize":
        return with_luminance_inputs(ds)
    return with_corrupted_inputs(ds, exp_cfg)


def with_luminance_inputs(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with ``input`` (sample, y, x) the luminance of its colour ``target``
    (sample, channel, y, x), computed lazily for the samples read."""
    from aeflow.evaluation.colour import luminance

    target = ds["target"]
    if target.dims[1:2] != ("channel",) or target.sizes["channel"] != 3:
        raise ValueError(
            f"task colorize needs colour images (3 channels); dataset "
            f"{ds.attrs.get('dataset')!r} has target {dict(target.sizes)}"
        )
    dims = ("sample", "y", "x")
    shape = tuple(target.sizes[d] for d in dims)
    lazy = indexing.LazilyIndexedArray(_Derived(target.variable, shape, lambda x, _: luminance(x)))
    out = ds.drop_vars("input")
    out["input"] = xr.Variable(dims, lazy, {"long_name": "luminance (Rec. 709 weights)"})
    if "scaling" in target.attrs:
        out["input"].attrs["scaling"] = target.attrs["scaling"]
    return out


def with_corrupted_inputs(ds: xr.Dataset, exp_cfg: dict[str, Any]) -> xr.Dataset:
    """``ds`` with ``input`` replaced by the corrupted ``target`` when the experiment has a
    ``corrupt`` section; otherwise ``ds`` unchanged. The corrupted values are computed lazily,
    for the samples read (:class:`_Derived`): a split read block by block is never whole
    in memory."""
    cfg = exp_cfg.get("corrupt")
    if not cfg:
        return ds
    images = ds["input"].dims[-2:] == ("y", "x")
    traces = ds["input"].dims == ("sample", "time") and not cfg["downsample"]
    if not (images or traces):
        raise ValueError(
            "corrupt applies to images (sample[, channel], y, x), noise also to traces "
            f"(sample, time); dataset {ds.attrs.get('dataset')!r} has {ds['input'].dims}"
        )
    ids = ds["sample"].values
    lazy = indexing.LazilyIndexedArray(
        _Derived(
            ds["target"].variable, ds["target"].shape, lambda x, rows: corrupt(x, cfg, ids[rows])
        )
    )
    out = ds.copy()
    out["input"] = xr.Variable(ds["input"].dims, lazy, dict(ds["input"].attrs))
    out["input"].attrs["corruption"] = _describe(cfg)
    return out


class _Derived(BackendArray):
    """An input derived from the target sample by sample, ``derive(clean, rows)`` (the
    clean targets of the rows read, and their positions), computed for the samples a read
    selects; ``shape`` is the derived array's (a corruption draws each sample's noise from
    its id, so any selection gives the same values)."""

    def __init__(self, target: xr.Variable, shape: tuple[int, ...], derive):
        self.target, self.derive = target, derive
        self.shape, self.dtype = tuple(shape), np.dtype(np.float32)

    def __getitem__(self, key: indexing.ExplicitIndexer) -> np.ndarray:
        return indexing.explicit_indexing_adapter(
            key, self.shape, indexing.IndexingSupport.OUTER, self._read
        )

    def _read(self, key: tuple) -> np.ndarray:
        rows = np.arange(self.shape[0])[key[0]]
        scalar = np.ndim(rows) == 0
        rows = np.atleast_1d(rows)
        clean = np.asarray(self.target[rows].values, dtype=np.float32)
        out = np.asarray(self.derive(clean, rows), dtype=np.float32)
        # outer indexing: each axis by its own key, the last first (an integer drops its axis)
        for axis in range(len(key) - 1, 0, -1):
            out = out[(slice(None),) * axis + (key[axis],)]
        return out[0] if scalar else out


def _describe(cfg: dict[str, Any]) -> str:
    parts = []
    if cfg["downsample"]:
        parts.append(f"{cfg['downsample']}x average-pooled, pixels repeated back")
    if cfg["noise_sd"]:
        parts.append(f"Gaussian noise mean {cfg['noise_mean']} sd {cfg['noise_sd']}")
    if cfg["clip"] is not None:
        parts.append(f"clipped to {list(cfg['clip'])}")
    return ", ".join(parts) or "none"


def with_anomaly_labels(ds: xr.Dataset, exp_cfg: dict[str, Any]) -> xr.Dataset:
    """``ds`` with the experiment's anomalies as ``is_anomaly``: the classes of
    ``anomaly.classes`` (a labelled dataset), then swapped with the normal samples by
    ``anomaly.invert``. The variable's ``names`` attribute says what is normal and what
    anomalous. Without either key ``ds`` is returned as it is."""
    cfg = exp_cfg.get("anomaly") or {}
    classes, invert = cfg.get("classes"), cfg.get("invert", False)
    if classes is None and not invert:
        return ds
    if classes is not None:
        if "label" not in ds:
            raise ValueError(
                f"dataset {ds.attrs.get('dataset')!r} has no class labels for anomaly.classes"
            )
        names = list(ds.attrs.get("class_names") or ds["label"].attrs.get("class_names", []))
        held = ", ".join(names[c] if c < len(names) else str(c) for c in classes)
        flags = np.isin(ds["label"].values, classes)
        labels = (f"other classes than {held}", held)
    elif "is_anomaly" not in ds:
        raise ValueError(f"dataset {ds.attrs.get('dataset')!r} has no is_anomaly to invert")
    else:
        flags = ds["is_anomaly"].values.astype(bool)
        labels = kinds.traits(ds.attrs["kind"]).anomaly_names
    if invert:
        flags, labels = ~flags, labels[::-1]
    out = ds.copy()
    out["is_anomaly"] = ("sample", flags)
    out["is_anomaly"].attrs = {"long_name": f"anomalous: {labels[1]}", "names": list(labels)}
    return out
