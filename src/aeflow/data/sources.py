"""Raw data sources: downloads (hash-checked, atomic), local files, array readers.

Readers never unpickle: ``np.load(..., allow_pickle=False)``; HDF5 through h5py.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import shutil
import urllib.parse
import urllib.request
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from aeflow.atomic import atomic_path

log = logging.getLogger(__name__)

NPZ_SUFFIXES = (".npz",)
HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf")


class RawDataError(ValueError):
    """Raw input is missing, corrupt or not in the expected format. Names file and key."""


def sha256_file(path: str | os.PathLike, block: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(block):
            digest.update(chunk)
    return digest.hexdigest()


def check_sha256(path: str | os.PathLike, expected: str | None, what: str) -> str:
    """The file's sha256; a :class:`RawDataError` if ``expected`` is given and differs."""
    actual = sha256_file(path)
    if expected is not None and actual.lower() != expected.lower():
        raise RawDataError(f"{what}: sha256 mismatch: expected {expected.lower()}, got {actual}")
    return actual


def gdrive_url(file_id: str) -> str:
    return f"https://drive.google.com/uc?export=download&id={file_id}"


RETRIES = 3  # further attempts after a failed HTTP download (pooch waits between them)


def _download_url(url: str, dest: Path, timeout_s: float) -> None:
    """``file://`` copied; HTTP(S) through pooch: a progress bar in the job log, and retries
    (with pauses) when the connection fails or a transfer is cut short."""
    scheme = urllib.parse.urlparse(url).scheme
    if scheme not in ("http", "https", "file"):
        raise RawDataError(f"{url}: unsupported URL scheme {scheme!r}")
    if scheme == "file":
        with urllib.request.urlopen(url, timeout=timeout_s) as response, open(dest, "wb") as out:
            shutil.copyfileobj(response, out, length=1 << 20)
        return
    import pooch
    import requests

    store = pooch.create(
        path=dest.parent,
        base_url="",
        registry={dest.name: None},  # the hash is checked by us, with the config's name for it
        urls={dest.name: url},
        retry_if_failed=RETRIES,
    )
    downloader = pooch.HTTPDownloader(progressbar=True, timeout=timeout_s)
    logging.getLogger("pooch").setLevel(logging.WARNING)  # our log line says what came
    try:
        store.fetch(dest.name, downloader=downloader)
    except requests.exceptions.ChunkedEncodingError as exc:  # fewer bytes than promised
        raise RawDataError(
            f"{url}: download cut short after {1 + RETRIES} attempts ({exc}); run again to retry"
        ) from exc
    except requests.exceptions.RequestException as exc:
        raise OSError(str(exc)) from exc


def _download_gdrive(file_id: str, dest: Path) -> None:
    import gdown  # only needed for Google Drive; handles its confirmation page

    result = gdown.download(id=file_id, output=str(dest), quiet=False)
    if result is None:
        raise RawDataError(f"Google Drive id {file_id}: download failed")


def download(
    dest: str | os.PathLike,
    *,
    url: str | None = None,
    gdrive_id: str | None = None,
    sha256: str | None = None,
    timeout_s: float = 120.0,
) -> str:
    """Download to ``dest`` atomically; check ``sha256`` if given. Returns the file's sha256.

    ``url`` wins over ``gdrive_id`` (a mirror); ``file://`` URLs are accepted. On any failure,
    including a hash mismatch, nothing is left at ``dest``.
    """
    dest = Path(dest)
    what = url or gdrive_url(gdrive_id or "")
    with atomic_path(dest) as tmp:
        try:
            if url:
                _download_url(url, tmp, timeout_s)
            elif gdrive_id:
                _download_gdrive(gdrive_id, tmp)
            else:
                raise RawDataError(f"{dest}: no url or gdrive_id to download from")
        except (OSError, http.client.HTTPException) as exc:  # refused, timed out, cut off
            raise RawDataError(f"{what}: download failed: {type(exc).__name__}: {exc}") from exc
        digest = check_sha256(tmp, sha256, what)
    log.info("downloaded %s -> %s (sha256 %s)", what, dest, digest)
    return digest


def copy_local(src: str | os.PathLike, dest: str | os.PathLike, sha256: str | None) -> str:
    """Copy a local raw file into ``data/raw`` atomically, checking its hash when given."""
    src, dest = Path(src), Path(dest)
    if not src.is_file():
        raise RawDataError(f"{src}: local raw file not found")
    with atomic_path(dest) as tmp:
        shutil.copyfile(src, tmp)
        digest = check_sha256(tmp, sha256, str(src))
    return digest


def raw_suffix(source: str) -> str:
    """The suffix of ``data/raw/<dataset>.*`` for a source: ``.npz`` or ``.h5``.

    ``installed`` and directories are converted by the kind's ``fetch`` into ``.npz``."""
    if source in ("simulate", "download", "installed"):
        return ".npz"
    suffix = Path(source).suffix.lower()
    if suffix in NPZ_SUFFIXES or not suffix:  # no suffix: a directory a kind converts (IDX)
        return ".npz"
    if suffix in HDF5_SUFFIXES:
        return ".h5"
    raise RawDataError(f"{source}: unsupported raw file type {suffix!r} (use .npz, .h5 or .hdf5)")


_MAGIC = {".npz": b"PK", ".h5": b"\x89HDF"}


def check_magic(path: Path, suffix: str, label: str) -> None:
    """Refuse files that are not what their suffix says, e.g. an HTML error page saved as .npz."""
    kind = ".npz" if suffix in NPZ_SUFFIXES else ".h5"
    with open(path, "rb") as f:
        head = f.read(512)
    if head.startswith(_MAGIC[kind]):
        return
    hint = ""
    if head.lstrip().lower().startswith((b"<!doctype", b"<html")):
        hint = " (it is an HTML page: a download quota, login or error page?)"
    raise RawDataError(f"{label}: not a valid {kind} file{hint}")


# What reading a truncated or damaged .npz / HDF5 file raises.
UNREADABLE = (OSError, EOFError, zipfile.BadZipFile, zlib.error)


def read_arrays(
    path: str | os.PathLike, keys: Sequence[str], name: str | None = None
) -> dict[str, np.ndarray]:
    """Read the named arrays from an ``.npz`` or HDF5 file; a missing key names file and key.

    ``name`` is how errors refer to the file (default: its path).
    """
    path = Path(path)
    label = name or str(path)
    suffix = path.suffix.lower()
    if not path.is_file():
        raise RawDataError(f"{label}: file not found")
    if suffix not in NPZ_SUFFIXES + HDF5_SUFFIXES:
        raise RawDataError(f"{label}: unsupported raw file type {suffix!r}")
    check_magic(path, suffix, label)
    out: dict[str, np.ndarray] = {}
    try:
        if suffix in NPZ_SUFFIXES:
            with np.load(path, allow_pickle=False) as npz:
                for key in keys:
                    if key not in npz.files:
                        have = ", ".join(npz.files) or "none"
                        raise RawDataError(f"{label}: missing key {key!r} (has: {have})")
                    out[key] = npz[key]
        else:
            import h5py

            with h5py.File(path, "r") as h5:
                for key in keys:
                    if key not in h5:
                        have = ", ".join(h5.keys()) or "none"
                        raise RawDataError(f"{label}: missing key {key!r} (has: {have})")
                    out[key] = h5[key][()]
    except RawDataError:
        raise
    except ValueError as exc:  # e.g. object arrays refused by allow_pickle=False
        raise RawDataError(f"{label}: cannot read: {exc}") from exc
    except UNREADABLE as exc:
        raise RawDataError(
            f"{label}: not a readable {suffix} file (truncated or damaged?): "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    return out


def float_array(
    arrays: dict[str, np.ndarray], key: str, path: str, layout: str, item: str
) -> np.ndarray:
    """``arrays[key]`` as float32 of the shape ``layout`` (e.g. ``"(N, H, W)"``; a trailing
    channel of 1 is dropped), checked to be real, non-empty and finite; errors name the file,
    the key and the first bad ``item`` (sample, trace ...)."""
    ndim = layout.count(",") + 1
    a = np.asarray(arrays[key])
    if a.ndim == ndim + 1 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim != ndim:
        raise RawDataError(
            f"{path}: key {key!r} has shape {a.shape}; expected {layout} or {layout[:-1]}, 1)"
        )
    if not np.issubdtype(a.dtype, np.number) or np.issubdtype(a.dtype, np.complexfloating):
        raise RawDataError(f"{path}: key {key!r} has non-real dtype {a.dtype}")
    if a.shape[0] == 0:
        raise RawDataError(f"{path}: key {key!r} holds no {item}s")
    a = a.astype(np.float32, copy=False)
    check_finite(a, path, key, item)
    return a


def check_finite(a: np.ndarray, path, key: str, item: str = "sample") -> None:
    """Raise :class:`RawDataError` naming file, key and the first bad sample on NaN/inf."""
    bad = ~np.isfinite(a)
    if bad.any():
        first = int(np.argwhere(bad)[0][0])
        raise RawDataError(
            f"{path}: key {key!r} has {int(bad.sum())} NaN/inf values (first in {item} {first})"
        )


# The optional string a fetch stores beside the arrays of a raw ``.npz``: what the data are
# ("real: ...", "local: ...").
PROVENANCE_KEY = "aeflow_provenance"


def standin_provenance(name: str, dataset_cfg: dict) -> str:
    """What a simulated raw file is when read again as a local source: a stand-in."""
    return (
        f"stand-in: aeflow's {dataset_cfg['kind']} simulator in the source's format "
        f"(dataset {name}, {dataset_cfg.get('n_samples')} samples, seed {dataset_cfg.get('seed')})"
    )


def raw_provenance(path: str | os.PathLike, source: str) -> str:
    """What the raw data at ``path`` are, for tables that set our numbers beside published
    ones: ``simulation``, ``real: <how we know>``, ``stand-in: ...`` (a file our simulator
    wrote, read as a local source) or ``local: <file>`` (a local file in the source's format,
    not known to be the published one)."""
    if source == "simulate":
        return "simulation: aeflow's simulator"
    if str(path).endswith(NPZ_SUFFIXES):
        try:
            with np.load(path, allow_pickle=False) as npz:
                if PROVENANCE_KEY in npz.files:
                    return str(npz[PROVENANCE_KEY])
        except (*UNREADABLE, ValueError):
            pass
    if source == "download":
        return "real: downloaded from the source"
    name = Path(source).name
    return f"local: {name} (in the source's format; not checked to be the published file)"


def write_npz(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> str:
    """Write arrays to a compressed ``.npz`` atomically; returns its sha256."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
        digest = sha256_file(tmp)
    return digest
