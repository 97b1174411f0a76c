"""Jets ("QCD or What?"): constituents to jet images, and the top-tagging reference format.

Raw format (ours, and the simulator's): ``constituents`` (N, n_max, 4) = (E, px, py, pz) in
GeV, zero-padded, and ``is_signal_new`` (N,), 1 for top jets. The top-tagging reference
dataset (Zenodo 2603256) is a pandas HDF5 table (``key="table"``, fixed format) with columns
``E_i, PX_i, PY_i, PZ_i`` for i < 200 and ``is_signal_new``; :class:`TopTaggingTable` reads
it with h5py (no PyTables needed) into the same arrays, a slice of rows at a time.

Preprocessing (the standard jet-image recipe): centre on the pt-weighted centroid in
(eta, phi), rotate the pt-weighted principal axis to the vertical, flip so the harder half lies
right and up, pixelate ``n_pixels`` x ``n_pixels`` over +-radius with pixel = pt, normalize to
unit sum; optionally (``pixel_transform: sqrt``) take the square root, so that the leading
pixel no longer dominates a squared reconstruction error. The jet mass and pt are kept per
jet (for the mass-sculpting check).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from aeflow.data.kinds import Kind
from aeflow.data.simulate import params_from_config
from aeflow.data.simulate.jets import JetSimulation, invariant_mass, simulate_jets
from aeflow.data.sources import RawDataError

KINDS = (
    Kind(
        "jets",
        __name__,
        modality="images",
        anomaly_labels=True,
        anomaly_names=("QCD jets", "top jets"),
        anomaly_observable="jet_mass",
        clean_inputs=True,
        log_images=True,
        chunked_prepare=True,
    ),
)
RAW_KEYS = ("constituents", "is_signal_new")


def simulation(dataset_cfg: dict[str, Any]) -> JetSimulation:
    return params_from_config(JetSimulation, dataset_cfg["simulate"])


def simulate(dataset_cfg: dict[str, Any], n: int, rng: np.random.Generator) -> dict:
    return simulate_jets(n, simulation(dataset_cfg), rng)


class TopTaggingTable:
    """The top-tagging pandas table (``/table/block*_items|values``) read in row slices:
    ``n`` jets, ``row_bytes`` per jet, :meth:`chunks` of (start, raw arrays)."""

    def __init__(self, path: str | Path, h5, label: str | None = None):
        self.path = path
        label = label or str(path)  # how errors name the file
        table = h5["table"]
        self.blocks = []  # (dataset path, {column name: column index})
        i = 0
        while f"block{i}_items" in table:
            names = [
                n.decode() if isinstance(n, bytes) else str(n) for n in table[f"block{i}_items"]
            ]
            self.blocks.append((f"table/block{i}_values", {n: j for j, n in enumerate(names)}))
            i += 1
        columns = {name for _, cols in self.blocks for name in cols}
        if "is_signal_new" not in columns:
            raise RawDataError(f"{label}: top-tagging table has no column 'is_signal_new'")
        self.n_max = 0
        while f"E_{self.n_max}" in columns:
            self.n_max += 1
        if self.n_max == 0:
            raise RawDataError(
                f"{label}: top-tagging table has no constituent columns E_0, PX_0 ..."
            )
        for k in range(self.n_max):
            for prefix in ("E", "PX", "PY", "PZ"):
                if f"{prefix}_{k}" not in columns:
                    raise RawDataError(f"{label}: top-tagging table lacks column '{prefix}_{k}'")
        first = h5[self.blocks[0][0]]
        self.n = int(first.shape[0])
        self.row_bytes = sum(h5[b].shape[1] * h5[b].dtype.itemsize for b, _ in self.blocks)

    def chunks(self, chunk: int):
        import h5py

        with h5py.File(self.path, "r") as h5:
            for start in range(0, max(self.n, 1), chunk):
                columns: dict[str, np.ndarray] = {}
                for block, cols in self.blocks:
                    values = h5[block][start : start + chunk]
                    columns |= {name: values[:, j] for name, j in cols.items()}
                m = len(columns["is_signal_new"])
                constituents = np.zeros((m, self.n_max, 4), np.float32)
                for k in range(self.n_max):
                    for c, prefix in enumerate(("E", "PX", "PY", "PZ")):
                        constituents[:, k, c] = columns[f"{prefix}_{k}"]
                labels = columns["is_signal_new"].astype(np.int8)
                yield start, {"constituents": constituents, "is_signal_new": labels}


def open_raw(path: str | Path, name: str | None = None) -> TopTaggingTable | None:
    """A row-slice reader of a top-tagging pandas table, or None if the file is not in that
    layout (then the generic reader takes the raw keys)."""
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError:
        return None
    with f:
        if "table" not in f or "block0_items" not in f["table"]:
            return None
        return TopTaggingTable(path, f, name)


def read_raw(path: str | Path) -> dict[str, np.ndarray] | None:
    """The arrays of a top-tagging pandas table, whole, or None if the file is not one."""
    table = open_raw(path)
    if table is None:
        return None
    return next(table.chunks(max(table.n, 1)))[1]


def check_raw(arrays: dict[str, np.ndarray], path: str) -> tuple[np.ndarray, np.ndarray]:
    c = np.asarray(arrays["constituents"])
    labels = np.asarray(arrays["is_signal_new"])
    if c.ndim != 3 or c.shape[-1] != 4:
        raise RawDataError(
            f"{path}: key 'constituents' has shape {c.shape}; expected (N, n_constituents, 4)"
        )
    if labels.shape != (c.shape[0],):
        raise RawDataError(
            f"{path}: key 'is_signal_new' has shape {labels.shape}; expected ({c.shape[0]},)"
        )
    if c.shape[0] == 0:
        raise RawDataError(f"{path}: key 'constituents' holds no jets")
    c = c.astype(np.float64)
    bad = ~np.isfinite(c)
    if bad.any():
        first = int(np.argwhere(bad)[0][0])
        raise RawDataError(f"{path}: key 'constituents' has NaN/inf values (first in jet {first})")
    if not np.isin(labels, (0, 1)).all():
        raise RawDataError(f"{path}: key 'is_signal_new' must hold 0 (QCD) or 1 (top)")
    empty = ~(c[..., 0] > 0).any(axis=1)
    if empty.any():
        raise RawDataError(
            f"{path}: key 'constituents': jet {int(np.flatnonzero(empty)[0])} has no constituent"
        )
    return c, labels.astype(np.int8)


def jet_images(constituents: np.ndarray, n_pixels: int = 40, radius: float = 0.8) -> np.ndarray:
    """Preprocessed jet images (N, n_pixels, n_pixels), each summing to one.

    Rows are the rotated phi axis (principal axis, increasing upwards), columns eta.
    """
    c = np.asarray(constituents, dtype=np.float64)
    pt = np.hypot(c[..., 1], c[..., 2])
    valid = pt > 0
    eta = np.arcsinh(np.divide(c[..., 3], pt, out=np.zeros_like(pt), where=valid))
    phi = np.arctan2(c[..., 2], c[..., 1])
    w = np.where(valid, pt, 0.0)
    wsum = w.sum(axis=1, keepdims=True)
    # phi relative to the hardest constituent, wrapped: no jump at +-pi inside a jet
    lead = np.take_along_axis(phi, w.argmax(axis=1)[:, None], axis=1)
    dphi = np.angle(np.exp(1j * (phi - lead)))
    x = eta - (w * eta).sum(axis=1, keepdims=True) / wsum
    y = dphi - (w * dphi).sum(axis=1, keepdims=True) / wsum
    # principal axis of the pt-weighted second moments -> vertical
    sxx, syy, sxy = ((w * a * b).sum(axis=1) for a, b in ((x, x), (y, y), (x, y)))
    angle = 0.5 * np.arctan2(2 * sxy, sxx - syy)  # major axis angle from the x axis
    rot = np.pi / 2 - angle
    cos, sin = np.cos(rot)[:, None], np.sin(rot)[:, None]
    x, y = cos * x - sin * y, sin * x + cos * y
    # flip: the harder half to the right (x > 0) and up (y > 0)
    x = np.where((w * (x > 0)).sum(1, keepdims=True) < (w * (x < 0)).sum(1, keepdims=True), -x, x)
    y = np.where((w * (y > 0)).sum(1, keepdims=True) < (w * (y < 0)).sum(1, keepdims=True), -y, y)
    edges = np.linspace(-radius, radius, n_pixels + 1)
    images = np.zeros((len(c), n_pixels, n_pixels))
    col = np.digitize(x, edges) - 1
    row = np.digitize(y, edges) - 1
    inside = valid & (col >= 0) & (col < n_pixels) & (row >= 0) & (row < n_pixels)
    jet, _ = np.nonzero(inside)
    np.add.at(images, (jet, row[inside], col[inside]), w[inside])
    total = images.sum(axis=(1, 2), keepdims=True)
    return (images / np.where(total > 0, total, 1.0)).astype(np.float32)


def prepare(
    checked: tuple[np.ndarray, np.ndarray],
    dataset_cfg: dict[str, Any],
    raw_path: str,
    split: np.ndarray,
) -> xr.Dataset:
    """Jet images (input = target: reconstruction), labels, jet mass and pt; dims (sample, y, x)."""
    c, labels = checked
    pp = dataset_cfg["preprocess"]
    images = jet_images(c, pp["n_pixels"], pp["radius"])
    if pp["pixel_transform"] == "sqrt":
        # softens the leading pixel's dominance of squared errors (complexity bias)
        images = np.sqrt(images)
    total = c.sum(axis=1)
    edges = np.linspace(-pp["radius"], pp["radius"], pp["n_pixels"] + 1)
    centres = 0.5 * (edges[1:] + edges[:-1])
    ds = xr.Dataset(
        {
            "input": (("sample", "y", "x"), images),
            "target": (("sample", "y", "x"), images),
            "is_anomaly": (("sample",), labels.astype(bool)),
            "jet_mass": (("sample",), invariant_mass(c).astype(np.float32)),
            "jet_pt": (("sample",), np.hypot(total[:, 1], total[:, 2]).astype(np.float32)),
        },
        coords={"sample": np.arange(len(c)), "y": centres, "x": centres},
    )
    ds["x"].attrs = {
        "long_name": "pseudorapidity-like offset from the jet axis (principal axis vertical)",
        "units": "1",
    }
    ds["y"].attrs = {
        "long_name": "azimuth-like offset from the jet axis (along the principal axis)",
        "units": "rad",
    }
    ds["input"].attrs = {
        "long_name": "jet image (pt per pixel, unit sum)"
        + (", square root" if pp["pixel_transform"] == "sqrt" else "")
    }
    ds["target"].attrs = ds["input"].attrs
    ds["is_anomaly"].attrs = {"long_name": "top jet (is_signal_new = 1); QCD jets are normal"}
    ds["jet_mass"].attrs = {"units": "GeV"}
    ds["jet_pt"].attrs = {"units": "GeV"}
    ds.attrs["recipe"] = (
        "centre on the pt centroid, principal axis vertical, harder half right and up, "
        f"{pp['n_pixels']}x{pp['n_pixels']} pixels over +-{pp['radius']} in (eta, phi), "
        "pixel = pt, unit sum" + (", then square root" if pp["pixel_transform"] == "sqrt" else "")
    )
    return ds
