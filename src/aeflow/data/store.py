"""Prepared datasets and predictions as Zarr stores (xarray), written atomically and
verified when read.

Every store carries ``manifest.json``: the size and SHA-256 of each of its files (array
chunks and metadata alike) and a content digest over them. :func:`open_store` checks it, so
a flipped bit, a truncated or missing chunk or an edited attribute is an error naming the
store and the array, never a silently different number.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import xarray as xr

from aeflow.atomic import atomic_path
from aeflow.data.sources import sha256_file

MANIFEST = "manifest.json"
SAMPLE_CHUNK = 256  # samples per Zarr chunk: whole samples, read a window of chunks at a time


class StoreIntegrityError(ValueError):
    """A store's files do not match its manifest: it was damaged after it was written."""


def sample_chunks(ds: xr.Dataset, sample_chunk: int) -> dict[str, dict]:
    """Zarr encoding that chunks every variable along ``sample`` only (whole images per chunk),
    so a batch of consecutive samples is a read of few chunks; coordinates along ``sample``
    too, so a store written in parts is the store written whole."""
    encoding = {}
    for name, var in ds.variables.items():
        if "sample" in var.dims:
            encoding[name] = {
                "chunks": tuple(
                    min(sample_chunk, n) if d == "sample" else n for d, n in var.sizes.items()
                )
            }
    return encoding


def write_store(
    ds: xr.Dataset,
    path: str | os.PathLike,
    groups: dict[str, xr.Dataset] | None = None,
    sample_chunk: int = SAMPLE_CHUNK,
) -> None:
    """Write ``ds`` (and optional sub-groups) as a Zarr v3 store, atomically.

    Metadata is consolidated so ``xr.open_zarr(path)`` opens it quietly; Zarr 3 warns that
    consolidation is not yet in its spec, which we know and accept here.
    """
    write_store_chunks([ds], path, sample_chunk, groups)


def write_store_chunks(
    parts: Iterable[xr.Dataset],
    path: str | os.PathLike,
    sample_chunk: int = SAMPLE_CHUNK,
    groups: dict[str, xr.Dataset] | None = None,
) -> None:
    """Write consecutive ``sample`` ranges of one dataset (the first carries the attrs and
    the coordinates of the other dims), and optional sub-groups, as the Zarr v3 store
    ``path``, atomically: the same store, byte for byte, as :func:`write_store` of their
    concatenation."""
    with StoreWriter(path, sample_chunk) as writer:
        empty = True
        for ds in parts:
            writer.append(ds)
            empty = False
        if empty:
            raise ValueError(f"{path}: no data to write")
        for name, group in (groups or {}).items():
            writer.append(group, group=name)


class StoreWriter:
    """A Zarr v3 store written a part at a time, atomically (the stages that stream a split
    block by block write their per-sample stores so).

    ``append(part)`` adds the next ``sample`` range of the root dataset, ``append(part,
    group=name)`` of a sub-group (the root's parts come first). The first part of each
    carries its attrs and the coordinates of its other dims; of later parts only what runs
    along ``sample`` is written. Parts are gathered until a whole chunk of ``sample_chunk``
    samples can be written, so the store is the same, byte for byte, as :func:`write_store`
    of the concatenation, however it was cut. On leaving the ``with`` block without error the
    store gets its manifest and is renamed into place; on an error nothing is left behind.
    """

    def __init__(self, path: str | os.PathLike, sample_chunk: int = SAMPLE_CHUNK) -> None:
        self.path, self.sample_chunk = Path(path), sample_chunk
        self.written: set[str | None] = set()  # the root (None) and groups begun
        self._pending: dict[str | None, list[xr.Dataset]] = {}
        self._attrs: dict[str | None, dict] = {}  # each one's attrs, from its first part

    def __enter__(self) -> StoreWriter:
        self._atomic = atomic_path(self.path)
        self._tmp = self._atomic.__enter__()
        return self

    def __exit__(self, kind, exc, tb) -> bool | None:
        if kind is None:
            try:
                for group in list(self._pending):
                    self._begin(group)
                _write_manifest(Path(self._tmp))
            except BaseException as err:  # the temporary store goes, the error stays
                self._atomic.__exit__(type(err), err, err.__traceback__)
                raise
        return self._atomic.__exit__(kind, exc, tb)

    def append(self, ds: xr.Dataset, group: str | None = None) -> None:
        if group is not None:
            if None not in self.written and None not in self._pending:
                raise ValueError(f"{self.path}: write the root before group {group!r}")
            if None in self._pending:
                self._begin(None)
        if group in self.written:
            along = [name for name, var in ds.variables.items() if "sample" not in var.dims]
            part = ds.drop_vars(along)
            part.attrs = self._attrs[group]  # (zarr would take a later part's attrs)
            with _quiet_consolidation():
                part.to_zarr(
                    self._tmp, group=group, append_dim="sample", zarr_format=3, consolidated=True
                )
            return
        pending = self._pending.setdefault(group, [])
        pending.append(ds)
        if sum(part.sizes.get("sample", 0) for part in pending) >= self.sample_chunk:
            self._begin(group)

    def _begin(self, group: str | None) -> None:
        """Write the first part of ``group`` (the parts gathered so far, joined)."""
        parts = self._pending.pop(group)
        ds = (
            parts[0]
            if len(parts) == 1
            else xr.concat(
                parts, dim="sample", data_vars="minimal", coords="minimal", compat="override"
            )
        )
        with _quiet_consolidation():
            ds.to_zarr(
                self._tmp,
                group=group,
                mode="w" if group is None else "a",
                zarr_format=3,
                consolidated=True,
                encoding=sample_chunks(ds, self.sample_chunk),
            )
        self.written.add(group)
        self._attrs[group] = dict(ds.attrs)


@contextlib.contextmanager
def _quiet_consolidation():
    """Zarr 3 warns that consolidated metadata is not yet in its spec; we know and accept."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Consolidated metadata", category=UserWarning)
        yield


def _store_files(root: Path) -> dict[str, Path]:
    """The files Zarr reads (hidden files are not: e.g. Snakemake's ``.snakemake_timestamp``
    in a directory output)."""
    return {
        p.relative_to(root).as_posix(): p
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != MANIFEST and not p.name.startswith(".")
    }


def _write_manifest(root: Path) -> None:
    files = {rel: [p.stat().st_size, sha256_file(p)] for rel, p in _store_files(root).items()}
    lines = "".join(f"{rel} {sha}\n" for rel, (_, sha) in files.items())
    manifest = {
        "format": 1,
        "content_sha256": hashlib.sha256(lines.encode()).hexdigest(),
        "files": files,
    }
    (root / MANIFEST).write_text(json.dumps(manifest, indent=0))


def _where(rel: str) -> str:
    """'saxs_partial/input/c/3/0/0' -> "array 'saxs_partial/input' (chunk c/3/0/0)"."""
    parts = rel.split("/")
    for i in range(len(parts) - 1, 0, -1):  # a chunk key: <array path>/c/<index>/<index>...
        if parts[i] == "c" and all(p.isdigit() for p in parts[i + 1 :]):
            return f"array {'/'.join(parts[:i])!r} (chunk {'/'.join(parts[i:])})"
    if parts[-1] == "zarr.json" and len(parts) > 1:
        return f"the metadata of {'/'.join(parts[:-1])!r}"
    return f"the store's metadata ({rel})"


_VERIFIED: dict[str, tuple[Any, str]] = {}


def verify_store(path: str | os.PathLike) -> str:
    """Check every file of the store at ``path`` against its manifest; return the content
    digest. Raises :class:`StoreIntegrityError` naming the store and the damaged array.
    (Within a process a store is hashed again only when a file's size or mtime changed.)"""
    root = Path(path)
    manifest_path = root / MANIFEST
    hint = (
        "the store is damaged: delete it and run the workflow again to rebuild it "
        "(or `snakemake --forcerun <its rule>`)"
    )
    found = _store_files(root)
    stats = {rel: p.stat() for rel, p in found.items()}
    try:
        stats[MANIFEST] = manifest_path.stat()
        stamp = [(rel, st.st_size, st.st_mtime_ns) for rel, st in stats.items()]
        key = str(root.resolve())
        if key in _VERIFIED and _VERIFIED[key][0] == stamp:
            return _VERIFIED[key][1]
        manifest = json.loads(manifest_path.read_text())
        expected = manifest["files"]
    except FileNotFoundError:
        raise StoreIntegrityError(
            f"{root}: no {MANIFEST}, so its content cannot be verified (written by an older "
            f"aeflow, or not by aeflow): {hint}"
        ) from None
    except (ValueError, KeyError, TypeError) as exc:
        raise StoreIntegrityError(f"{manifest_path}: unreadable manifest ({exc}): {hint}") from None
    missing, extra = sorted(expected.keys() - found.keys()), sorted(found.keys() - expected.keys())
    if missing:
        rel = missing[0]
        raise StoreIntegrityError(f"{root}: {_where(rel)} is missing ({rel}): {hint}")
    if extra:
        rel = extra[0]
        raise StoreIntegrityError(f"{root}: {_where(rel)} is not in its manifest ({rel}): {hint}")
    for rel, (size, sha) in expected.items():
        if stats[rel].st_size != size or sha256_file(found[rel]) != sha:
            raise StoreIntegrityError(
                f"{root}: {_where(rel)} does not match its checksum ({rel}): {hint}"
            )
    _VERIFIED[key] = (stamp, manifest["content_sha256"])
    return manifest["content_sha256"]


def open_store(path: str | os.PathLike, group: str | None = None) -> xr.Dataset:
    """The store at ``path`` (or one of its groups), verified against its manifest; its
    content digest is in ``attrs["content_sha256"]``."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: Zarr store not found")
    digest = verify_store(path)
    try:
        ds = xr.open_zarr(path, group=group)
    except Exception as exc:
        where = f" (group {group!r})" if group else ""
        raise StoreIntegrityError(
            f"{path}{where}: cannot be opened as a Zarr store: {exc}"
        ) from exc
    ds.attrs["content_sha256"] = digest
    return ds
