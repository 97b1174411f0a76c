import contextlib
import os

import pytest
import torch

from aeflow import device as dev


def test_cpu_when_no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert dev.select_device("auto") == torch.device("cpu")
    assert dev.select_device("cpu") == torch.device("cpu")
    with pytest.raises(RuntimeError, match=r"train\.device is 'cuda'"):
        dev.select_device("cuda")


def test_cpu_bf16_follows_the_cpu_flags(tmp_path, monkeypatch):
    cpu = torch.device("cpu")
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512_bf16\n\n")
    assert "avx512_bf16" in dev.cpu_flags(info)
    assert dev.cpu_flags(tmp_path / "absent") == frozenset()
    # AVX2 (emulated bf16: slower than fp32) vs AVX512_BF16 / AMX (native)
    assert not dev.bf16_native(cpu, frozenset({"avx2", "avx512f"}))
    assert dev.bf16_native(cpu, dev.cpu_flags(info))
    assert dev.bf16_native(cpu, frozenset({"amx_bf16"}))

    monkeypatch.setattr(dev, "_host_cpu_flags", lambda: frozenset({"avx2"}))
    assert dev.precision(cpu, True) == "fp32"
    assert isinstance(dev.autocast(cpu, True), contextlib.nullcontext)
    monkeypatch.setattr(dev, "_host_cpu_flags", lambda: frozenset({"avx512_bf16"}))
    assert dev.precision(cpu, True) == "bf16"
    assert dev.precision(cpu, False) == "fp32"
    ctx = dev.autocast(cpu, True)
    assert isinstance(ctx, torch.autocast) and ctx.fast_dtype == torch.bfloat16
    with ctx:  # the loss of a bf16 network output stays fp32
        out = torch.nn.Linear(4, 4)(torch.rand(3, 4))
        assert out.dtype == torch.bfloat16
        assert torch.nn.functional.mse_loss(out, torch.rand(3, 4)).dtype == torch.float32


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


def _hold(path):
    import fcntl

    f = open(path, "a")  # noqa: SIM115
    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return f


def test_jobs_spread_over_free_gpus(tmp_path, monkeypatch):
    """A GPU held by another job (its lock) is skipped; with all held, cuda:0 is shared."""
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(dev, "_held", {})
    other = _hold(tmp_path / "gpu0.lock")  # another process's claim
    assert dev.claim_gpu(3, tmp_path) == 1
    assert dev.claim_gpu(3, tmp_path) == 1  # this process keeps its GPU
    dev.release_gpus()
    third = _hold(tmp_path / "gpu1.lock")
    # gpu0 and gpu1 held by others: all held, share the first (with a warning)
    assert dev.claim_gpu(2, tmp_path) == 0
    dev.release_gpus()
    other.close()  # the other job exits: gpu0 is free and claimed for real
    assert dev.claim_gpu(2, tmp_path) == 0
    with pytest.raises(BlockingIOError):
        _hold(tmp_path / "gpu0.lock")
    third.close()
    dev.release_gpus()


def test_locks_follow_physical_ids(tmp_path, monkeypatch):
    """Jobs seeing different CUDA_VISIBLE_DEVICES subsets lock physical GPUs."""
    monkeypatch.setattr(dev, "_held", {})
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    held = _hold(tmp_path / "gpu2.lock")
    assert dev.claim_gpu(2, tmp_path) == 1  # cuda:1 here is physical GPU 3
    assert (tmp_path / "gpu3.lock").exists()
    held.close()
    dev.release_gpus()


def test_select_device_claims_a_gpu(tmp_path, monkeypatch):
    monkeypatch.setattr(dev, "_held", {})
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setenv("AEFLOW_GPU_LOCK_DIR", str(tmp_path))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    chosen = []
    monkeypatch.setattr(torch.cuda, "set_device", chosen.append)
    held = _hold(tmp_path / "gpu0.lock")
    assert dev.select_device("auto") == torch.device("cuda", 1)
    assert chosen == [1]
    held.close()
    dev.release_gpus()


def test_gpus_seen_from_device_nodes_and_cuda_visible_devices(tmp_path):
    from aeflow.plan import local_gpus

    assert local_gpus(tmp_path, {}) == 0
    for name in ("nvidia0", "nvidia1", "nvidiactl", "nvidia-uvm"):  # only numbered nodes
        (tmp_path / name).touch()
    assert local_gpus(tmp_path, {}) == 2
    assert local_gpus(tmp_path, {"CUDA_VISIBLE_DEVICES": "1"}) == 1
    assert local_gpus(tmp_path, {"CUDA_VISIBLE_DEVICES": ""}) == 0
    amd = tmp_path / "amd"
    amd.mkdir()
    (amd / "kfd").touch()
    assert local_gpus(amd, {}) == 1


@pytest.mark.parametrize(
    ("device", "gpu_host", "claims"),
    [("cuda", False, True), ("auto", True, True), ("auto", False, False), ("cpu", True, False)],
)
def test_only_gpu_jobs_claim_the_gpu_slot(device, gpu_host, claims):
    from aeflow.plan import claims_gpu

    assert claims_gpu({"train": {"device": device}}, gpu_host) is claims


def test_malloc_tunables_are_added_without_overriding_the_users(monkeypatch):
    from aeflow import memory

    monkeypatch.setattr(memory, "_glibc", lambda: True)
    env = memory.malloc_environ({"PATH": "/bin"})
    assert env["PATH"] == "/bin"
    assert env["GLIBC_TUNABLES"].split(":") == [
        "glibc.malloc.mmap_threshold=4294967296",
        "glibc.malloc.trim_threshold=4294967296",
    ]
    assert memory.malloc_environ(env) is None  # already there: nothing to restart for
    mine = {"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=1:glibc.cpu.x86_ibt=on"}
    assert memory.malloc_environ(mine)["GLIBC_TUNABLES"] == (
        "glibc.malloc.trim_threshold=1:glibc.cpu.x86_ibt=on:glibc.malloc.mmap_threshold=4294967296"
    )
    monkeypatch.setattr(memory, "_glibc", lambda: False)
    assert memory.malloc_environ({}) is None


def test_the_restarted_process_keeps_its_arguments_and_gets_the_tunables(tmp_path):
    """restart_with_malloc_tunables replaces the process once, with the same arguments."""
    import subprocess
    import sys

    from aeflow import memory

    if memory.malloc_environ({}) is None:
        pytest.skip("not glibc")
    script = tmp_path / "s.py"
    script.write_text(
        "import os, sys\n"
        "from aeflow import memory\n"
        "print('start', flush=True)\n"
        "memory.restart_with_malloc_tunables()\n"
        "print(sys.argv[1:], os.environ['GLIBC_TUNABLES'])\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
    out = subprocess.run(
        [sys.executable, str(script), "a b", "c"], capture_output=True, text=True, env=env
    ).stdout.splitlines()
    assert out[:2] == ["start", "start"]  # started twice, the second time with the tunables
    assert out[2].startswith("['a b', 'c'] glibc.malloc.mmap_threshold=4294967296")
