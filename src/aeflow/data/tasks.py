"""What an experiment asks of the network: the input it sees for each target.

``reconstruct`` and ``denoise`` on data that brings its own noisy inputs (SAXS speckle,
radio traces) use the prepared ``input`` as it is. With a ``corrupt`` section the clean
image (``target``) is corrupted here, the same way in training, evaluation and anomaly
scoring (seeded per sample), so no corrupted copy has to be stored:

- ``noise_sd``: additive Gaussian noise of mean ``noise_mean`` and this sd, clipped to
  ``clip`` (the lectures: mean 0.5 sd 0.5, or mean 0 sd 0.3, clipped to [0, 1]);
- ``downsample``: average-pool by this factor, then repeat each pixel back to full size
  (super-resolution with a same-size network: 28 -> 14 or 7 -> 28).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr


def average_pool(images: np.ndarray, factor: int) -> np.ndarray:
    """Mean over ``factor x factor`` blocks of (N, H, W); H and W must divide by it."""
    n, h, w = images.shape
    if h % factor or w % factor:
        raise ValueError(f"images of {h}x{w} pixels do not divide into {factor}x{factor} blocks")
    return images.reshape(n, h // factor, factor, w // factor, factor).mean(axis=(2, 4))


def upsample_nearest(images: np.ndarray, factor: int) -> np.ndarray:
    return images.repeat(factor, axis=1).repeat(factor, axis=2)


def corrupt(clean: np.ndarray, cfg: dict[str, Any], sample_ids: np.ndarray) -> np.ndarray:
    """The corrupted inputs of clean images (N, H, W); noise drawn per sample from
    ``(cfg["seed"], sample id)``, so a sample gets the same noise in every stage."""
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
    """``ds`` with ``input`` replaced by the corrupted ``target`` when the experiment has a
    ``corrupt`` section; otherwise ``ds`` unchanged."""
    cfg = exp_cfg.get("corrupt")
    if not cfg:
        return ds
    if ds["input"].ndim != 3:
        raise ValueError(
            f"corrupt applies to images (sample, y, x); dataset {ds.attrs.get('dataset')!r} "
            f"has {ds['input'].dims}"
        )
    clean = ds["target"].values
    out = ds.copy()
    out["input"] = (ds["input"].dims, corrupt(clean, cfg, ds["sample"].values))
    out["input"].attrs = dict(ds["input"].attrs, corruption=_describe(cfg))
    return out


def _describe(cfg: dict[str, Any]) -> str:
    parts = []
    if cfg["downsample"]:
        parts.append(f"{cfg['downsample']}x average-pooled, pixels repeated back")
    if cfg["noise_sd"]:
        parts.append(f"Gaussian noise mean {cfg['noise_mean']} sd {cfg['noise_sd']}")
    if cfg["clip"] is not None:
        parts.append(f"clipped to {list(cfg['clip'])}")
    return ", ".join(parts) or "none"
