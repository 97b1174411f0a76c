"""Pre-flight memory checks: a job that cannot fit this machine fails at once, naming the
setting to lower, instead of swapping for an hour or meeting the OOM killer at the end.

The estimates are a job's fixed cost plus its data times a factor measured on this code
(peak RSS of SAXS 64x64 at 400 and 4,000 samples: simulate 108 kB, prepare 126 kB and train
30 kB per sample, against 33 kB of float32 input and target per sample).
"""

from __future__ import annotations

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
