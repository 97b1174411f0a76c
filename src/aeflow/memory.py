"""Pre-flight memory checks: a job that cannot fit this machine fails at once, naming the
setting to lower, instead of swapping for an hour or meeting the OOM killer at the end.

The estimates are a job's fixed cost plus its data times a factor measured on this code
(peak RSS of SAXS 64x64 at 400 and 4,000 samples: simulate 108 kB, prepare 126 kB and train
30 kB per sample, against 33 kB of float32 input and target per sample).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

BASE_BYTES = 600e6  # Python, numpy, xarray and torch loaded
SIMULATE_FACTOR = 4.0  # peak / bytes of the raw arrays simulated
PREPARE_FACTOR = 4.0  # peak / bytes of the raw file
TRAIN_FACTOR = 1.5  # peak / bytes of the float32 training and validation tensors


def available() -> int | None:
    """Bytes this machine can still give (``MemAvailable``); None where unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def fits(data_bytes: float, factor: float) -> bool:
    """Whether a job with ``data_bytes`` of data (peak ``factor`` times that) fits the
    memory available now (True where unknown)."""
    have = available()
    return have is None or BASE_BYTES + factor * data_bytes <= have


def require(data_bytes: float, factor: float, what: str, setting: str) -> None:
    """Raise a ValueError naming ``setting`` if ``what`` (``data_bytes`` of data, peak
    ``factor`` times that) cannot fit the memory available now."""
    need = BASE_BYTES + factor * data_bytes
    have = available()
    if have is not None and need > have:
        raise ValueError(
            f"{setting}: {what} needs about {need / 1e9:.1f} GB of memory, and "
            f"{have / 1e9:.1f} GB is available on this machine: lower {setting}, or run it "
            "on a larger machine"
        )


def disk_available(path: str | os.PathLike) -> int | None:
    """Free bytes on the file system of ``path`` (or of its nearest existing parent)."""
    import shutil
    from pathlib import Path

    here = Path(path).absolute()
    while not here.exists() and here != here.parent:
        here = here.parent
    try:
        return shutil.disk_usage(here).free
    except OSError:
        return None


def require_disk(data_bytes: float, path: str | os.PathLike, what: str, setting: str) -> None:
    """Raise a ValueError naming ``setting`` if ``data_bytes`` will not fit the free disk
    space where ``path`` is written."""
    have = disk_available(path)
    if have is not None and data_bytes > have:
        raise ValueError(
            f"{setting}: {what} needs about {data_bytes / 1e9:.1f} GB of disk space, and "
            f"{have / 1e9:.1f} GB is free there: lower {setting}, or free some space"
        )


# ---- the allocator ---------------------------------------------------------------------------
# glibc's malloc gives blocks above its mmap threshold (at most 32 MB by default) their own
# mapping and unmaps them on free, so every training step maps the same activations again and
# the kernel zeroes them page by page: on the SAXS network in bf16 (batch 128, 33 MB per
# activation) 190,000 page faults and a third of the step's CPU time in the kernel. Keeping
# freed memory in the heap removes both. Peak memory is unchanged: the
# heap keeps what the job's peak already used. ``bench/train_throughput.py --malloc glibc``
# measures the default for comparison.
MALLOC_TUNABLES = {
    "glibc.malloc.mmap_threshold": str(4 << 30),
    "glibc.malloc.trim_threshold": str(4 << 30),
}


def _glibc() -> bool:
    try:
        return sys.platform == "linux" and os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc")
    except (ValueError, OSError, AttributeError):
        return False


def malloc_environ(environ: Mapping[str, str]) -> dict[str, str] | None:
    """``environ`` with :data:`MALLOC_TUNABLES` added to ``GLIBC_TUNABLES`` (read by glibc when
    a process starts, so it serves the processes started with it); None where there is
    nothing to add: not glibc, or every tunable already set (the user's values win)."""
    if not _glibc():
        return None
    current = environ.get("GLIBC_TUNABLES", "")
    have = {item.split("=", 1)[0] for item in current.split(":") if item}
    missing = [f"{k}={v}" for k, v in MALLOC_TUNABLES.items() if k not in have]
    if not missing:
        return None
    return dict(environ) | {"GLIBC_TUNABLES": ":".join(filter(None, [current, *missing]))}


def restart_with_malloc_tunables() -> None:
    """Start this Python process again with :func:`malloc_environ` (once: the restarted
    process has them). For entry points that train: call before any work is done."""
    env = malloc_environ(os.environ)
    if env is not None:
        os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)
