"""Datasets larger than memory: simulation, raw files and prepared stores chunk by chunk.

Three pieces, each with peak memory set by one chunk, not by the dataset:

- :func:`simulate_chunks`: a kind's simulator run block by block. Block ``b`` (samples
  ``b * BLOCK`` to ``(b + 1) * BLOCK``) draws from its own generator, seeded by the dataset's
  seed and ``b``, so a sample's values depend on its index alone, never on how many blocks a
  chunk holds.
- :class:`NpzWriter`: a compressed ``.npz`` written chunk by chunk (each array first to its
  own ``.npy`` on disk, then streamed into the archive), byte-identical for the same arrays.
- :class:`RawChunks`: row slices of the arrays of an ``.npz`` (members read as streams, so a
  compressed archive is never decompressed whole) or an HDF5 file (h5py slices).

Chunks are whole numbers of blocks, so sums accumulated block by block (a normalization by
training statistics) are the same floating-point sums whatever the chunk size.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from aeflow.data.sources import (
    HDF5_SUFFIXES,
    NPZ_SUFFIXES,
    UNREADABLE,
    RawDataError,
    check_magic,
)

BLOCK = 512  # samples per simulation seed block, and the unit of every chunk
CHUNK_BYTES = 32 << 20  # default memory of one chunk: raw arrays, or their preprocessing
PREPARE_EXPANSION = 8  # a preprocessing's working memory per byte of raw rows (float64 copies)
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed member time stamps: the same arrays, the same bytes


def chunk_samples(bytes_per_sample: float, chunk_bytes: int = CHUNK_BYTES) -> int:
    """Samples per chunk: whole blocks, as many as fit ``chunk_bytes`` (at least one)."""
    blocks = int(chunk_bytes // max(bytes_per_sample * BLOCK, 1.0))
    return BLOCK * max(blocks, 1)


def bytes_per_sample(arrays: dict[str, np.ndarray]) -> float:
    """Bytes of one sample summed over the arrays (first axis: samples)."""
    return float(sum(a.nbytes / max(len(a), 1) for a in arrays.values()))


# ---- simulation --------------------------------------------------------------------------
def block_rng(seed: int, block: int) -> np.random.Generator:
    """The generator of simulation block ``block`` of a dataset seeded ``seed``."""
    return np.random.default_rng([seed, block])


def simulate_chunks(
    simulate: Callable[[int, np.random.Generator], dict[str, np.ndarray]],
    n: int,
    seed: int,
    chunk: int,
) -> Iterator[dict[str, np.ndarray]]:
    """``n`` samples of ``simulate(m, rng)`` in chunks of ``chunk`` samples (a multiple of
    :data:`BLOCK`), each block drawn from :func:`block_rng`."""
    if chunk % BLOCK:
        raise ValueError(f"chunk of {chunk} samples is not a multiple of the block ({BLOCK})")
    for start in range(0, n, chunk):
        parts = []
        for b_start in range(start, min(start + chunk, n), BLOCK):
            m = min(BLOCK, n - b_start)
            parts.append(simulate(m, block_rng(seed, b_start // BLOCK)))
        yield {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}


# ---- writing an .npz chunk by chunk ----------------------------------------------------------
class NpzWriter:
    """A compressed ``.npz`` at ``path`` written by :meth:`append` calls of row chunks.

    Rows go to one file per array in a temporary directory beside ``path``; :meth:`close`
    streams each into the archive behind its ``.npy`` header (written then, when the number
    of rows is known). Arrays with no sample axis (a provenance string) are given to
    :meth:`close`.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._dir = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", dir=self.path.parent))
        self._rows: dict[str, list] = {}  # key -> [open file, dtype, row shape, rows]

    def __enter__(self) -> NpzWriter:
        return self

    def __exit__(self, kind, exc, tb) -> None:
        if exc is not None:  # abandoned: the rows written so far go
            for entry in self._rows.values():
                entry[0].close()
            shutil.rmtree(self._dir, ignore_errors=True)

    def append(self, arrays: dict[str, np.ndarray]) -> None:
        for key, a in arrays.items():
            a = np.ascontiguousarray(a)
            if key not in self._rows:
                f = open(self._dir / key, "wb")  # noqa: SIM115 (closed in close())
                self._rows[key] = [f, a.dtype, a.shape[1:], 0]
            entry = self._rows[key]
            if a.dtype != entry[1] or a.shape[1:] != entry[2]:
                raise ValueError(
                    f"{self.path}: key {key!r}: a chunk of {a.dtype} {a.shape[1:]} after "
                    f"{entry[1]} {entry[2]}"
                )
            entry[0].write(a.tobytes())
            entry[3] += len(a)

    def close(self, extra: dict[str, np.ndarray] | None = None) -> None:
        """Finish the archive: every appended array, then ``extra``."""
        try:
            with zipfile.ZipFile(self.path, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
                for key, (f, dtype, row, n) in self._rows.items():
                    f.close()
                    self._add(zf, key, dtype, (n, *row), self._dir / key)
                for key, value in (extra or {}).items():
                    value = np.asarray(value)
                    path = self._dir / key
                    path.write_bytes(value.tobytes())
                    self._add(zf, key, value.dtype, value.shape, path)
        finally:
            for entry in self._rows.values():
                entry[0].close()
            shutil.rmtree(self._dir, ignore_errors=True)

    @staticmethod
    def _add(zf: zipfile.ZipFile, key: str, dtype: np.dtype, shape: tuple, data: Path) -> None:
        info = zipfile.ZipInfo(f"{key}.npy", date_time=_ZIP_TIME)
        info.compress_type = zipfile.ZIP_DEFLATED
        header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False}
        with open(data, "rb") as src, zf.open(info, "w", force_zip64=True) as dst:
            np.lib.format.write_array_header_2_0(dst, header | {"shape": tuple(shape)})
            shutil.copyfileobj(src, dst, 1 << 22)


# ---- reading row slices ----------------------------------------------------------------------
class RawChunks:
    """Row slices of the named arrays of an ``.npz`` or HDF5 raw file (and of the
    ``optional`` ones it has).

    ``shapes`` holds every array's shape (read from the headers, no data). :meth:`chunks`
    yields ``(start, arrays)`` in file order; an ``.npz`` member is read as a stream.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        keys: Sequence[str],
        name: str | None = None,
        optional: Sequence[str] = (),
    ):
        self.path = Path(path)
        self.keys = tuple(keys)
        self.optional = tuple(optional)  # read along when present
        self.label = name or str(path)
        suffix = self.path.suffix.lower()
        if not self.path.is_file():
            raise RawDataError(f"{self.label}: file not found")
        if suffix not in NPZ_SUFFIXES + HDF5_SUFFIXES:
            raise RawDataError(f"{self.label}: unsupported raw file type {suffix!r}")
        check_magic(self.path, suffix, self.label)
        self.npz = suffix in NPZ_SUFFIXES
        with self._unreadable():
            self.shapes, self.dtypes = self._npz_shapes() if self.npz else self._h5_shapes()

    def _unreadable(self):
        return _Unreadable(self.label, self.path.suffix)

    def _missing(self, key: str, have: Sequence[str]) -> RawDataError:
        return RawDataError(f"{self.label}: missing key {key!r} (has: {', '.join(have) or 'none'})")

    def _npz_shapes(self):
        shapes, dtypes = {}, {}
        with zipfile.ZipFile(self.path) as zf:
            members = [m[: -len(".npy")] for m in zf.namelist() if m.endswith(".npy")]
            for key in self.keys:
                if key not in members:
                    raise self._missing(key, members)
            self.keys += tuple(k for k in self.optional if k in members)
            for key in self.keys:
                with zf.open(f"{key}.npy") as f:
                    shapes[key], dtypes[key] = _npy_header(f, self.label, key)
        return shapes, dtypes

    def _h5_shapes(self):
        import h5py

        with h5py.File(self.path, "r") as h5:
            for key in self.keys:
                if key not in h5:
                    raise self._missing(key, list(h5.keys()))
            self.keys += tuple(k for k in self.optional if k in h5)
            return (
                {key: tuple(h5[key].shape) for key in self.keys},
                {key: h5[key].dtype for key in self.keys},
            )

    @property
    def n(self) -> int:
        """Rows of the first array (the kind's check compares the others)."""
        return self.shapes[self.keys[0]][0] if self.shapes[self.keys[0]] else 0

    @property
    def row_bytes(self) -> int:
        """Bytes of one row summed over the arrays."""
        return sum(
            int(np.prod(shape[1:], dtype=np.int64)) * self.dtypes[key].itemsize
            for key, shape in self.shapes.items()
            if shape
        )

    def chunks(self, chunk: int) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
        with self._unreadable():
            yield from (self._npz_chunks(chunk) if self.npz else self._h5_chunks(chunk))

    def _npz_chunks(self, chunk: int):
        with zipfile.ZipFile(self.path) as zf:
            streams = {key: zf.open(f"{key}.npy") for key in self.keys}
            try:
                headers = {key: _npy_header(s, self.label, key) for key, s in streams.items()}
                scalars = {  # no sample axis: read once, given with every chunk
                    key: _read_rows(streams[key], shape, dtype, 0, self.label, key)
                    for key, (shape, dtype) in headers.items()
                    if not shape
                }
                for start in range(0, max(self.n, 1), chunk):
                    out = dict(scalars)
                    for key, (shape, dtype) in headers.items():
                        if shape:
                            rows = max(0, min(chunk, shape[0] - start))
                            out[key] = _read_rows(streams[key], shape, dtype, rows, self.label, key)
                    yield start, out
            finally:
                for s in streams.values():
                    s.close()

    def _h5_chunks(self, chunk: int):
        import h5py

        with h5py.File(self.path, "r") as h5:
            for start in range(0, max(self.n, 1), chunk):
                yield start, {key: h5[key][start : start + chunk] for key in self.keys}


class _Unreadable:
    """Turns what reading a damaged file raises into a :class:`RawDataError` naming it."""

    def __init__(self, label: str, suffix: str):
        self.label, self.suffix = label, suffix

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if exc is None or isinstance(exc, RawDataError):
            return False
        if isinstance(exc, UNREADABLE):
            raise RawDataError(
                f"{self.label}: not a readable {self.suffix} file (truncated or damaged?): "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if isinstance(exc, ValueError):  # e.g. an object array (allow_pickle=False)
            raise RawDataError(f"{self.label}: cannot read: {exc}") from exc
        return False


def _npy_header(f, label: str, key: str) -> tuple[tuple[int, ...], np.dtype]:
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
    else:
        raise RawDataError(f"{label}: key {key!r} is an .npy of version {version} (need 1 or 2)")
    if dtype.hasobject:
        raise RawDataError(f"{label}: key {key!r} holds Python objects (not read: no pickles)")
    if fortran and len(shape) > 1:
        raise RawDataError(f"{label}: key {key!r} is stored in Fortran order (save it C-ordered)")
    return tuple(shape), dtype


def _read_rows(f, shape, dtype: np.dtype, rows: int, label: str, key: str) -> np.ndarray:
    if not shape:  # a scalar member
        return np.frombuffer(f.read(dtype.itemsize), dtype).reshape(())
    row_bytes = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize
    data = f.read(rows * row_bytes)
    if len(data) != rows * row_bytes:
        raise RawDataError(f"{label}: key {key!r} is truncated (fewer rows than its header says)")
    return np.frombuffer(data, dtype).reshape(rows, *shape[1:]).copy()
