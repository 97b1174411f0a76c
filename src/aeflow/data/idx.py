"""IDX files (the MNIST / Fashion-MNIST format), plain or gzip-compressed.

Layout: two zero bytes, a type code (0x08 = unsigned byte, 0x09 signed byte, 0x0B int16,
0x0C int32, 0x0D float32, 0x0E float64), the number of dimensions, then each dimension as a
big-endian uint32, then the values in C order, big-endian.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path

import numpy as np

from aeflow.data.sources import RawDataError

DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}

# The Debian package dataset-fashion-mnist installs the official files here.
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """The array stored in an IDX file (``.gz`` is decompressed); errors name the file."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(2)
        opener = gzip.open if head == b"\x1f\x8b" else open
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as exc:
        raise RawDataError(f"{path}: cannot read IDX file ({exc})") from None
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] not in DTYPES:
        raise RawDataError(f"{path}: not an IDX file (bad magic number {data[:4].hex()})")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise RawDataError(f"{path}: IDX header truncated")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(DTYPES[data[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - header != expected:
        raise RawDataError(
            f"{path}: IDX body holds {len(data) - header} bytes, the header {shape} "
            f"of {dtype} needs {expected}"
        )
    return (
        np.frombuffer(data, dtype=dtype, offset=header)
        .reshape(shape)
        .astype(dtype.newbyteorder("="))
    )


def content_md5(path: str | os.PathLike) -> str | None:
    """MD5 of the file's uncompressed content (None if it cannot be read)."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            opener = gzip.open if f.read(2) == b"\x1f\x8b" else open
        h = hashlib.md5(usedforsecurity=False)
        with opener(path, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    except (OSError, EOFError):
        return None
    return h.hexdigest()


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write ``array`` as IDX (gzip-compressed if the name ends in ``.gz``)."""
    array = np.asarray(array)
    codes = {np.dtype(v).newbyteorder("="): k for k, v in DTYPES.items()}
    code = codes.get(array.dtype)
    if code is None:
        raise ValueError(f"IDX cannot store dtype {array.dtype}")
    header = bytes([0, 0, code, array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape
    )
    body = array.astype(np.dtype(DTYPES[code])).tobytes()
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(header + body)


def read_image_set(directory: str | os.PathLike, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 28, 28) uint8 and labels (N,) of the ``train`` or ``test`` split of an
    MNIST-layout directory (e.g. :data:`DEBIAN_FASHION_MNIST`), checked against each other."""
    directory = Path(directory)
    images_name, labels_name = SPLIT_FILES[split]
    images = read_idx(directory / images_name)
    labels = read_idx(directory / labels_name)
    if images.ndim != 3:
        raise RawDataError(f"{directory / images_name}: expected (N, H, W), got {images.shape}")
    if labels.shape != (images.shape[0],):
        raise RawDataError(
            f"{directory / labels_name}: {labels.shape[0] if labels.ndim else 0} labels for "
            f"{images.shape[0]} images in {images_name}"
        )
    return images, labels
