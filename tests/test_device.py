import contextlib

import pytest
import torch

from aeflow.training import device as dev


def test_cpu_when_no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert dev.select_device("auto") == torch.device("cpu")
    assert dev.select_device("cpu") == torch.device("cpu")
    with pytest.raises(RuntimeError, match=r"train\.device is 'cuda'"):
        dev.select_device("cuda")


def test_autocast_is_a_noop_on_cpu():
    assert isinstance(dev.autocast(torch.device("cpu"), True), contextlib.nullcontext)
    assert not dev.bf16_native(torch.device("cpu"))


@pytest.mark.filterwarnings("ignore:CUDA is not available:UserWarning")
def test_bf16_autocast_only_on_native_gpus(monkeypatch):
    cuda = torch.device("cuda", 0)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: False)
    assert isinstance(dev.autocast(cuda, True), contextlib.nullcontext)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    ctx = dev.autocast(cuda, True)
    assert isinstance(ctx, torch.autocast)
    assert ctx.fast_dtype == torch.bfloat16
    assert isinstance(dev.autocast(cuda, False), contextlib.nullcontext)
