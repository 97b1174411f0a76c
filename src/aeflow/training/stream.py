"""Training data that need not fit in memory: batches read from the prepared Zarr store.

The order of an epoch is defined on the store's chunks (:func:`epoch_windows`): the chunks
holding the split's samples are shuffled, taken :data:`WINDOW_CHUNKS` at a time, and the
samples of each such window are shuffled among themselves. A streamed split
(:class:`StreamedSplit`) reads one window at a time (each chunk once) in background worker
processes and cuts batches from it; a split held in memory (:class:`ChunkedTensors`) is
batched in the very same order, so training streamed or in memory gives the same batches and
the same weights. A split of at most :data:`WINDOW_CHUNKS` chunks is one window: the epoch is
a plain random permutation, as it always was.

Workers start by ``forkserver`` (``spawn`` where there is none), never ``fork``: Zarr 3's
event loop, started in the parent, deadlocks in a forked child.
"""

from __future__ import annotations

import itertools
import multiprocessing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

WINDOW_CHUNKS = 16  # store chunks per shuffling window (4,096 samples at 256 per chunk)


def epoch_windows(
    groups: np.ndarray, seed: int, epoch: int, window: int | None = None
) -> list[np.ndarray]:
    """The order of an epoch as windows of sample indices (their concatenation is a
    permutation of ``range(len(groups))``); ``groups`` holds each sample's store chunk. The
    permutations depend on (seed, epoch) only, so a resumed run sees the same order."""
    n, window = len(groups), window or WINDOW_CHUNKS
    gen = torch.Generator().manual_seed(seed * 100_003 + epoch)
    chunks = np.unique(groups)
    if len(chunks) <= window:
        return [torch.randperm(n, generator=gen).numpy()]
    by_chunk = np.argsort(groups, kind="stable")
    starts = np.searchsorted(groups[by_chunk], chunks)
    ends = np.r_[starts[1:], n]
    out = []
    shuffled = torch.randperm(len(chunks), generator=gen).numpy()
    for w in range(0, len(shuffled), window):
        members = np.sort(
            np.concatenate([by_chunk[starts[c] : ends[c]] for c in shuffled[w : w + window]])
        )
        out.append(members[torch.randperm(len(members), generator=gen).numpy()])
    return out


def sequential_windows(groups: np.ndarray, window: int | None = None) -> list[np.ndarray]:
    """Samples in store order, :data:`WINDOW_CHUNKS` chunks at a time (validation)."""
    chunks, window = np.unique(groups), window or WINDOW_CHUNKS
    edges = [np.searchsorted(groups, c) for c in chunks[::window]] + [len(groups)]
    return [np.arange(a, b) for a, b in itertools.pairwise(edges)]


class ChunkedTensors(dict):
    """A split held in memory (``name -> tensor``, samples first) that knows the store chunk
    of each sample (``groups``), so that it is batched in the streamed order."""

    def __init__(self, tensors: dict[str, torch.Tensor], groups: np.ndarray):
        super().__init__(tensors)
        self.groups = np.asarray(groups)


class StreamedSplit:
    """One split of a prepared store, read from Zarr a window at a time.

    ``positions``: the split's samples (positions along ``sample``, ascending); ``variables``:
    ``(name in the batch, store variable, has a channel dim)``; ``corrupt``: the experiment's
    corrupt section (the input made from the target per sample, as in memory); ``luminance``:
    the input is the colour target's luminance (``task: colorize``); ``chunk``:
    samples per store chunk; ``workers``: background reader processes (0: read in this one).
    """

    def __init__(
        self,
        store: str | Path,
        positions: np.ndarray,
        variables: list[tuple[str, str, bool]],
        *,
        chunk: int,
        sample_ids: np.ndarray,
        corrupt: dict[str, Any] | None = None,
        luminance: bool = False,
        workers: int = 1,
    ):
        self.store = str(store)
        self.positions = np.asarray(positions, dtype=np.int64)
        self.variables = list(variables)
        self.chunk = int(chunk)
        self.sample_ids = np.asarray(sample_ids)
        self.corrupt = corrupt
        self.luminance = luminance
        self.workers = workers
        self.groups = self.positions // self.chunk
        self._arrays = None
        self._loader = None
        self._sampler = _Windows()

    def __len__(self) -> int:
        return len(self.positions)

    def __getstate__(self):  # to a worker: no open arrays, no loader
        return self.__dict__ | {"_arrays": None, "_loader": None}

    # ---- reading -----------------------------------------------------------------------------
    def _open(self):
        if self._arrays is None:
            import zarr

            group = zarr.open_group(self.store, mode="r")
            names = {var for _, var, _ in self.variables}
            if self.corrupt or self.luminance:
                names.add("target")
            self._arrays = {name: group[name] for name in names}
        return self._arrays

    def read(self, index: np.ndarray) -> dict[str, torch.Tensor]:
        """The samples ``index`` (into the split), in that order; each chunk read once."""
        arrays = self._open()
        pos = self.positions[index]
        chunks = np.unique(pos // self.chunk)
        rows = {}
        for name, array in arrays.items():
            parts = [array[c * self.chunk : (c + 1) * self.chunk] for c in chunks]
            rows[name] = np.concatenate(parts) if len(parts) > 1 else parts[0]
        # position p sits at row (rank of its chunk) * chunk + p % chunk of the concatenation
        rank = np.searchsorted(chunks, pos // self.chunk)
        at = rank * self.chunk + pos % self.chunk
        out = {}
        for name, var, channel in self.variables:
            if var == "input" and self.luminance:
                from aeflow.evaluation.colour import luminance

                values, channel = luminance(rows["target"][at]), False
            elif var == "input" and self.corrupt:
                from aeflow.data.tasks import corrupt

                values = corrupt(rows["target"][at], self.corrupt, self.sample_ids[index])
            else:
                values = rows[var][at]
            tensor = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))
            out[name] = tensor if channel else tensor.unsqueeze(1)
        return out

    def head(self, n: int) -> dict[str, torch.Tensor]:
        return self.read(np.arange(min(n, len(self))))

    # ---- batches -----------------------------------------------------------------------------
    def batches(
        self, batch_size: int, shuffle: bool, seed: int, epoch: int, pin: bool = False
    ) -> Iterator[dict[str, torch.Tensor]]:
        """Batches of an epoch in :func:`epoch_windows` order (``shuffle``) or store order;
        a batch may span two windows, so the batches are those of the order as a whole."""
        windows = (
            epoch_windows(self.groups, seed, epoch) if shuffle else sequential_windows(self.groups)
        )
        carry: dict[str, torch.Tensor] | None = None
        for part in self._windows(windows):
            carry = part if carry is None else {k: torch.cat([carry[k], part[k]]) for k in part}
            while len(next(iter(carry.values()))) >= batch_size:
                batch = {k: v[:batch_size] for k, v in carry.items()}
                carry = {k: v[batch_size:] for k, v in carry.items()}
                yield {k: v.pin_memory() for k, v in batch.items()} if pin else batch
        if carry is not None and len(next(iter(carry.values()))):
            yield {k: v.pin_memory() for k, v in carry.items()} if pin else carry

    def _windows(self, windows: list[np.ndarray]) -> Iterator[dict[str, torch.Tensor]]:
        if self.workers == 0:
            yield from (self.read(w) for w in windows)
            return
        if self._loader is None:
            methods = multiprocessing.get_all_start_methods()
            context = "forkserver" if "forkserver" in methods else "spawn"
            self._loader = torch.utils.data.DataLoader(
                _WindowReader(self),
                sampler=self._sampler,
                batch_size=None,
                num_workers=self.workers,
                multiprocessing_context=context,
                persistent_workers=True,
                prefetch_factor=2,
                worker_init_fn=_one_thread,
            )
        self._sampler.windows = windows
        yield from self._loader


class _Windows(torch.utils.data.Sampler):
    """The windows of the current epoch (set before each pass)."""

    def __init__(self):
        self.windows: list[np.ndarray] = []

    def __iter__(self):
        return iter(self.windows)

    def __len__(self) -> int:
        return len(self.windows)


class _WindowReader(torch.utils.data.Dataset):
    def __init__(self, split: StreamedSplit):
        self.split = split

    def __getitem__(self, window: np.ndarray) -> dict[str, torch.Tensor]:
        return self.split.read(window)

    def __len__(self) -> int:
        return len(self.split)


def _one_thread(_worker: int) -> None:
    torch.set_num_threads(1)  # the reader decompresses; the cores are the training's
