"""Runtime device choice: CUDA when present, else CPU; the same config runs on both."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import logging
import os
import tempfile
from pathlib import Path
from typing import IO

import torch

log = logging.getLogger(__name__)


# Open lock files of the GPUs this process holds (kept open for the process's lifetime).
_held: dict[int, IO] = {}


def lock_dir() -> Path:
    """Where GPU slot locks live: one directory per machine and user (GPUs are machine-wide)."""
    default = Path(tempfile.gettempdir()) / f"aeflow-gpus-{os.getuid()}"
    return Path(os.environ.get("AEFLOW_GPU_LOCK_DIR", default))


def claim_gpu(n_devices: int, directory: Path | None = None) -> int:
    """The index of a visible GPU no other aeflow process on this machine holds; claim it.

    Snakemake's ``gpu`` resource bounds how many jobs run at once (``--resources gpu=N``);
    this spreads those jobs over the N GPUs instead of stacking them on the first. The claim
    is an exclusive ``flock`` on ``<dir>/gpu<i>.lock``, released when the process exits.
    If every GPU is held (more jobs than GPUs), the first one is shared, with a warning.
    """
    directory = Path(directory or lock_dir())
    mine = [index for index in _held if index < n_devices]
    if mine:  # this process keeps the GPU it claimed
        return mine[0]
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        log.warning("cannot create GPU lock directory %s (%s); using cuda:0", directory, exc)
        return 0
    # Lock by physical id when CUDA_VISIBLE_DEVICES maps indices, so jobs seeing different
    # subsets still exclude each other.
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    ids = [v.strip() for v in visible.split(",") if v.strip()]
    for index in range(n_devices):
        physical = ids[index] if index < len(ids) else str(index)
        try:
            f = open(directory / f"gpu{physical}.lock", "a")  # noqa: SIM115 (held open)
        except OSError as exc:
            log.warning("cannot open GPU lock in %s (%s); using cuda:%d", directory, exc, index)
            return index
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            continue
        _held[index] = f
        return index
    log.warning("all %d visible GPUs are held by other aeflow jobs; sharing cuda:0", n_devices)
    return 0


def release_gpus() -> None:
    for f in _held.values():
        f.close()
    _held.clear()


def select_device(preference: str = "auto") -> torch.device:
    """``auto``: a free visible CUDA device (CUDA_VISIBLE_DEVICES applies; see
    :func:`claim_gpu`), else the CPU. ``cuda`` fails when no GPU is visible."""
    if preference == "cuda" or (preference == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise RuntimeError("train.device is 'cuda' but no CUDA device is visible")
        index = claim_gpu(torch.cuda.device_count())
        torch.cuda.set_device(index)
        return torch.device("cuda", index)
    return torch.device("cpu")


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        where = f", CUDA_VISIBLE_DEVICES={visible}" if visible is not None else ""
        return f"cuda:{device.index} ({torch.cuda.get_device_name(device)}{where})"
    return f"cpu ({torch.get_num_threads()} threads)"


def configure_backends(device: torch.device) -> None:
    """cuDNN autotuning (input sizes are fixed within a job) and TF32 matmuls on CUDA."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


def runtime_device(preference: str = "auto", threads: int | None = None) -> torch.device:
    """The device a job runs on (:func:`select_device`) with its backends configured, and
    ``threads`` CPU threads for torch when given."""
    if threads is not None:
        torch.set_num_threads(threads)
    device = select_device(preference)
    configure_backends(device)
    return device


# CPU flags of native bf16 arithmetic (Linux /proc/cpuinfo names): AVX512_BF16 dot products,
# AMX tiles. Without them oneDNN emulates bf16 on the CPU, which is far slower than fp32
# (measured on an AVX2 EPYC: 3.5 against 56 images/s for the SAXS network).
CPU_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The first processor's feature flags (empty where /proc/cpuinfo does not exist)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


@functools.cache
def _host_cpu_flags() -> frozenset[str]:
    return cpu_flags()


def bf16_native(device: torch.device, flags: frozenset[str] | None = None) -> bool:
    """True where bf16 runs natively: CUDA GPUs of Ampere and newer, CPUs with AVX512_BF16 or
    AMX (``flags``: the CPU's feature flags, read from /proc/cpuinfo by default)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type == "cpu":
        return bool(CPU_BF16_FLAGS & (_host_cpu_flags() if flags is None else flags))
    return False


def precision(device: torch.device, amp: bool) -> str:
    """The arithmetic a job with ``amp`` runs its networks in on ``device``: ``bf16`` where
    native (:func:`bf16_native`), else ``fp32`` (TF32 matmuls on CUDA). Recorded in the run."""
    return "bf16" if amp and bf16_native(device) else "fp32"


def autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    """bf16 autocast where ``enabled`` and the device has native bf16 (:func:`precision`);
    otherwise a no-op. Losses and metrics are computed in fp32 (autocast keeps reductions
    such as ``mse_loss`` in fp32, and the callers cast outputs back with ``.float()``).

    bf16 has fp32's exponent range, so no gradient scaler is needed.
    """
    if precision(device, enabled) == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
