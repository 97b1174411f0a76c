"""Runtime device choice: CUDA when present, else CPU; the same config runs on both."""

from __future__ import annotations

import contextlib
import logging

import torch

log = logging.getLogger(__name__)


def select_device(preference: str = "auto") -> torch.device:
    """``auto``: the first visible CUDA device (CUDA_VISIBLE_DEVICES applies), else the CPU."""
    if preference == "cuda" or (preference == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise RuntimeError("train.device is 'cuda' but no CUDA device is visible")
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda:{device.index} ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"


def configure_backends(device: torch.device) -> None:
    """cuDNN autotuning (input sizes are fixed within a job) and TF32 matmuls on CUDA."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


def bf16_native(device: torch.device) -> bool:
    """True on GPUs with native bf16 (Ampere and newer); older ones would only emulate it."""
    return device.type == "cuda" and torch.cuda.is_bf16_supported(including_emulation=False)


def autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA GPUs with native bf16 when enabled; otherwise a no-op (fp32/TF32).

    bf16 has fp32's exponent range, so no gradient scaler is needed. On the CPU fp32 is used.
    """
    if enabled and bf16_native(device):
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
