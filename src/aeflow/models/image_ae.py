"""The lecture image autoencoders with a bottleneck: dense (784-32-784) and convolutional
(a 4x4x8 code for 28x28 images). Sigmoid outputs in [0, 1], binary cross-entropy loss
(or MSE: ``loss``).

Unlike the SAXS skip DAE these have no shortcut around the code: everything the decoder
sees passes the bottleneck, which is what reconstruction-error anomaly scores rely on.
The loss is computed from logits (``binary_cross_entropy_with_logits``), which stays
accurate under bf16 autocast; ``forward`` returns the sigmoid (or, with ``output: linear``,
the logits).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from aeflow.models.base import Autoencoder

LOSSES = ("bce", "mse")
OUTPUTS = ("sigmoid", "linear")


def _check_head(loss: str, output: str) -> None:
    if loss not in LOSSES:
        raise ValueError(f"model_params.loss must be one of {LOSSES}, got {loss!r}")
    if output not in OUTPUTS:
        raise ValueError(f"model_params.output must be one of {OUTPUTS}, got {output!r}")
    if loss == "bce" and output != "sigmoid":
        raise ValueError("model_params.loss 'bce' needs output 'sigmoid' (a probability)")


class _SigmoidAE(Autoencoder):
    """Shared: ``logits`` is the network; ``forward`` is its sigmoid (``output: sigmoid``,
    the lectures') or the logits themselves (``output: linear``). The loss is BCE from the
    logits or MSE of the output (``loss``). Unit-sum jet images, whose pixels sit far below
    1, want ``linear`` + ``mse``: a sigmoid pinned near 0 has no gradient left to learn
    their structure."""

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.logits(x)
        return torch.sigmoid(logits) if self.config.output == "sigmoid" else logits

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        target = batch["target"].float()
        if self.config.loss == "mse":
            return {"loss": nn.functional.mse_loss(self(batch["input"]).float(), target)}
        logits = self.logits(batch["input"]).float()
        return {"loss": nn.functional.binary_cross_entropy_with_logits(logits, target)}


@dataclass(frozen=True)
class DenseAEConfig:
    image_size: int = 28
    in_channels: int = 1
    code_size: int = 32
    loss: str = "bce"
    output: str = "sigmoid"

    def __post_init__(self) -> None:
        for name in ("image_size", "in_channels", "code_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"model_params.{name} must be >= 1")
        _check_head(self.loss, self.output)


class DenseAE(_SigmoidAE):
    """Flatten -> Linear(code_size) + ReLU -> Linear(pixels) -> sigmoid (the Keras blog's
    784-32-784 autoencoder: 50,992 parameters)."""

    config_class = DenseAEConfig
    registry_name = "dense_ae"
    modality = "images"

    def __init__(self, config: DenseAEConfig) -> None:
        super().__init__(config)
        n = config.in_channels * config.image_size**2
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(n, config.code_size), nn.ReLU())
        self.decoder = nn.Linear(config.code_size, n)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encode(x)).view(x.shape)


@dataclass(frozen=True)
class ConvAEConfig:
    in_channels: int = 1
    channels: tuple[int, ...] = (16, 8, 8)  # encoder widths; the code has channels[-1]
    kernel_size: int = 3
    loss: str = "bce"
    output: str = "sigmoid"

    def __post_init__(self) -> None:
        _check_head(self.loss, self.output)
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        if not self.channels or min(self.channels) < 1:
            raise ValueError(f"model_params.channels must be >= 1 each, got {self.channels}")
        if self.kernel_size % 2 != 1:
            raise ValueError(
                f"model_params.kernel_size must be odd for 'same' padding, got {self.kernel_size}"
            )


class ConvAE(_SigmoidAE):
    """Conv + ReLU + 2x max-pool (ceil: Keras' ``same``) per width in ``channels`` down to
    the code (28x28 -> 4x4x8 with the defaults); the decoder mirrors it with 2x upsampling,
    is cropped back to the input size and ends in a sigmoid convolution. With the defaults
    this is the Keras blog's convolutional autoencoder, 4,385 parameters."""

    config_class = ConvAEConfig
    registry_name = "conv_ae"
    modality = "images"

    def __init__(self, config: ConvAEConfig) -> None:
        super().__init__(config)
        k, widths = config.kernel_size, config.channels

        def conv(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cout, k, padding=k // 2), nn.ReLU(inplace=True))

        enc: list[nn.Module] = []
        cin = config.in_channels
        for w in widths:
            enc += [conv(cin, w), nn.MaxPool2d(2, ceil_mode=True)]
            cin = w
        self.encoder = nn.Sequential(*enc)
        dec: list[nn.Module] = []
        for w in reversed(widths):
            dec += [conv(cin, w), nn.Upsample(scale_factor=2, mode="nearest")]
            cin = w
        self.decoder = nn.Sequential(*dec)
        self.head = nn.Conv2d(cin, config.in_channels, k, padding=k // 2)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        h = self.decoder(self.encode(x))
        dy, dx = h.shape[-2] - x.shape[-2], h.shape[-1] - x.shape[-1]
        h = h[..., dy // 2 : dy // 2 + x.shape[-2], dx // 2 : dx // 2 + x.shape[-1]]
        return self.head(h)
