"""Batched inference: every "apply a network to a data set" goes through :func:`batched`."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import torch

from aeflow.device import autocast


def batched(
    fn: Callable[[torch.Tensor], torch.Tensor],
    inputs: np.ndarray | torch.Tensor,
    batch_size: int,
    device,
    *,
    amp: bool = False,
    channels_last: bool = False,
) -> np.ndarray:
    """``fn`` applied to ``inputs`` batch by batch on ``device``, under ``inference_mode`` (under
    bf16 autocast where ``amp`` and the device support it); the outputs concatenated as a
    float32 array. Empty inputs give an empty array of the inputs' trailing shape."""
    x_all = torch.as_tensor(np.ascontiguousarray(inputs, dtype=np.float32))
    device = torch.device(device)
    outs = []
    with torch.inference_mode():
        for start in range(0, len(x_all), batch_size):
            x = x_all[start : start + batch_size].to(device)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with autocast(device, amp):
                y = fn(x)
            outs.append(y.float().cpu())
    if not outs:
        return np.empty((0, *x_all.shape[1:]), np.float32)
    return torch.cat(outs).numpy()


def with_channel(inputs: np.ndarray) -> np.ndarray:
    """The network's layout of samples: a channel axis added to single-channel images
    (N, H, W) and traces (N, T); colour images (N, C, H, W) as they are."""
    x = np.asarray(inputs)
    return x if x.ndim == 4 else x[:, None]


def predict(model, inputs: np.ndarray, batch_size: int, device, amp: bool = True) -> np.ndarray:
    """Apply ``model`` to images (N, H, W) or (N, C, H, W), or traces (N, T), in batches; the
    same shape out (images in channels_last, the layout the convolutions run fastest in)."""
    images = np.ndim(inputs) >= 3
    model = model.to(device).eval()
    if images:
        model = model.to(memory_format=torch.channels_last)
    out = batched(model, with_channel(inputs), batch_size, device, amp=amp, channels_last=images)
    # one-channel outputs of inputs without a channel axis lose theirs (a colorization's
    # grey (N, H, W) gives (N, 3, H, W))
    return out if np.ndim(inputs) == 4 or out.shape[1] != 1 else out[:, 0]


def encode_all(model, inputs: np.ndarray, batch_size: int, device) -> np.ndarray:
    """Codes of images (N, H, W) / (N, C, H, W) as a float array (N, code_size)."""
    model = model.to(device).eval()
    codes = batched(model.encode, with_channel(inputs), batch_size, device)
    return codes.reshape(len(codes), -1) if len(codes) else np.empty((0, 0), np.float32)


def code_size(model, sample: np.ndarray) -> int | None:
    """Number of code values per sample (the latent size), or None if the model has none."""
    if not hasattr(model, "encode"):
        return None
    device = next(model.parameters()).device
    return int(encode_all(model, sample[:1], 1, device).shape[1])


def sample(model, n: int, labels, batch_size: int, device, seed: int) -> np.ndarray:
    """``n`` samples of a generator (GAN or VAE prior) as float32 (N, C, H, W), seeded; the
    noise is drawn on the CPU, so the same seed gives the same samples on any device."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for start in range(0, n, batch_size):
        m = min(batch_size, n - start)
        lab = None
        if labels is not None:
            lab = torch.from_numpy(labels[start : start + m]).to(device)
        z = torch.randn(m, model.config.latent_dim, generator=gen).to(device)
        with torch.no_grad():
            out.append(model.sample(m, labels=lab, noise=z).float().cpu())
    return torch.cat(out).numpy()


def mean_loss(
    model,
    images: np.ndarray,
    batch_size: int,
    device,
    seed: int = 0,
    targets: np.ndarray | None = None,
) -> float:
    """The model's own loss (its training objective, e.g. the VAE's negative ELBO per image)
    averaged over ``images`` (N, C, ...) with their ``targets`` (default: the images
    themselves): :func:`mean_loss_blocks` of one block."""
    pairs = [(images, images if targets is None else targets)]
    return mean_loss_blocks(model, pairs, batch_size, device, seed)


def mean_loss_blocks(
    model,
    pairs: Iterable[tuple[np.ndarray, np.ndarray]],
    batch_size: int,
    device,
    seed: int = 0,
) -> float:
    """The model's own loss averaged over the samples of (inputs, targets) blocks, each
    (N, C, ...), cut into batches of ``batch_size`` (a block of a multiple of it gives the
    batches of the whole). A stochastic loss (the VAE's sampled code) draws from a generator
    seeded by ``seed`` once for all blocks, so the estimate is the same in every run; the
    global RNG is left as it was."""
    total, seen = 0.0, 0
    model.eval()
    layout = None

    def tensor(a: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(a, np.float32)).to(device)
        return t.contiguous(memory_format=layout)

    devices = [device] if torch.device(device).type == "cuda" else []
    with torch.inference_mode(), torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        for images, targets in pairs:
            if layout is None:
                # images in channels_last, the layout the convolutions run fastest in (fp32
                # either way)
                images_4d = np.ndim(images) == 4
                layout = torch.channels_last if images_4d else torch.contiguous_format
                if images_4d:
                    model.to(memory_format=layout)
            for start in range(0, len(images), batch_size):
                stop = start + batch_size
                x, y = tensor(images[start:stop]), tensor(targets[start:stop])
                total += float(model.loss({"input": x, "target": y})["loss"]) * len(x)
                seen += len(x)
    return total / max(seen, 1)
