"""Atomic outputs: nothing half-written at a final path, and what a kill -9 left behind is
cleaned by the next writer of the same output."""

import os
import subprocess
import sys

import pytest

from aeflow.atomic import atomic_path, remove_stale_siblings


def _dead_pid() -> int:
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True
    )
    return int(proc.stdout)


def test_a_failed_write_leaves_nothing(tmp_path):
    out = tmp_path / "store.zarr"
    with pytest.raises(RuntimeError), atomic_path(out) as tmp:
        tmp.mkdir()
        (tmp / "chunk").write_bytes(b"half")
        raise RuntimeError("killed midway")
    assert list(tmp_path.iterdir()) == []


def test_leftovers_of_a_killed_writer_are_removed_by_the_next_write(tmp_path):
    out = tmp_path / "saxs.zarr"
    stale = tmp_path / f".saxs.tmp-{_dead_pid()}.zarr"  # a store half-written, then kill -9
    stale.mkdir()
    (stale / "chunk").write_bytes(b"x" * 1000)
    live = tmp_path / f".saxs.tmp-{os.getppid()}.zarr"  # a writer that still runs: kept
    live.mkdir()
    other = tmp_path / f".radio.tmp-{_dead_pid()}.zarr"  # another output's: not ours to touch
    other.mkdir()
    with atomic_path(out) as tmp:
        tmp.mkdir()
    assert out.is_dir() and not stale.exists()
    assert live.exists() and other.exists()
    assert remove_stale_siblings(tmp_path / "radio.zarr") == [other]
