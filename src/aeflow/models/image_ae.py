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

import itertools
from dataclasses import dataclass

import torch
from torch import nn

from aeflow.models.base import Autoencoder

LOSSES = ("bce", "mse", "lab")
OUTPUTS = ("sigmoid", "linear")


def _check_head(loss: str, output: str) -> None:
    if loss not in LOSSES:
        raise ValueError(f"model_params.loss must be one of {LOSSES}, got {loss!r}")
    if output not in OUTPUTS:
        raise ValueError(f"model_params.output must be one of {OUTPUTS}, got {output!r}")
    if loss in ("bce", "lab") and output != "sigmoid":
        raise ValueError(f"model_params.loss {loss!r} needs output 'sigmoid' (values in [0, 1])")


def lab_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared difference in CIELAB, in units of 100 (L* spans 0-100): colour images
    (N, 3, H, W) compared as a viewer sees them, not channel by channel."""
    from aeflow.evaluation.colour import rgb_to_lab

    if output.shape[1] != 3:
        raise ValueError(
            f"model_params.loss 'lab' compares colour images (3 channels), got {output.shape[1]}"
        )
    return nn.functional.mse_loss(rgb_to_lab(output), rgb_to_lab(target)) / 100**2


class _SigmoidAE(Autoencoder):
    """Shared: ``logits`` is the network; ``forward`` is its sigmoid (``output: sigmoid``,
    the lectures') or the logits themselves (``output: linear``). The loss is BCE from the
    logits, MSE of the output or MSE in CIELAB of a colour output (``loss``). Unit-sum jet
    images, whose pixels sit far below 1, want ``linear`` + ``mse``: a sigmoid pinned near 0
    has no gradient left to learn their structure."""

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._output(self.logits(x))

    def _output(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(logits) if self.config.output == "sigmoid" else logits

    def decode_logits(self, code: torch.Tensor, size=None) -> torch.Tensor:
        raise NotImplementedError

    def decode(self, code: torch.Tensor, size=None) -> torch.Tensor:
        """Images of ``size`` (H, W) from codes of :meth:`encode`'s shape: for latent-space
        pictures."""
        return self._output(self.decode_logits(code, size))

    def reconstruction_loss(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean BCE (from logits), MSE per pixel or MSE in CIELAB, as configured."""
        if self.config.loss == "mse":
            return nn.functional.mse_loss(self(x).float(), target.float())
        if self.config.loss == "lab":
            return lab_loss(self(x).float(), target.float())
        logits = self.logits(x).float()
        return nn.functional.binary_cross_entropy_with_logits(logits, target.float())

    def penalties(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Weighted regularization terms added to the loss (none here)."""
        return {}

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        terms = {"reconstruction": self.reconstruction_loss(batch["input"], batch["target"])}
        terms |= self.penalties(batch["input"])
        return {"loss": sum(terms.values()), **terms}


CODE_ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "linear": nn.Identity}


@dataclass(frozen=True)
class DenseAEConfig:
    image_size: int = 28  # pixels per side, or the height of non-square images
    image_width: int | None = None  # None: square
    in_channels: int = 1
    code_size: int = 32
    hidden: tuple[int, ...] = ()  # ReLU layers between pixels and code (mirrored in the decoder)
    loss: str = "bce"
    output: str = "sigmoid"
    code_activation: str = "relu"
    l1_code: float = 0.0  # weight of mean_batch(sum_units |code|): the sparse autoencoder
    contractive: float = 0.0  # weight of mean_batch ||d code / d x||_F^2

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        for name in ("image_size", "in_channels", "code_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"model_params.{name} must be >= 1")
        if self.image_width is not None and self.image_width < 1:
            raise ValueError("model_params.image_width must be >= 1")
        if any(h < 1 for h in self.hidden):
            raise ValueError("model_params.hidden: layer widths must be >= 1")
        if self.contractive and self.hidden:
            raise ValueError(
                "model_params.contractive: the closed-form Jacobian penalty needs a one-layer "
                "encoder (hidden: [])"
            )
        _check_head(self.loss, self.output)
        if self.code_activation not in CODE_ACTIVATIONS:
            raise ValueError(
                f"model_params.code_activation must be one of {tuple(CODE_ACTIVATIONS)}, "
                f"got {self.code_activation!r}"
            )
        for name in ("l1_code", "contractive"):
            if getattr(self, name) < 0:
                raise ValueError(f"model_params.{name} must be >= 0")


def _relu_stack(widths: list[int]) -> nn.Sequential:
    """Linear + ReLU from each width to the next."""
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(widths):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers)


class DenseAE(_SigmoidAE):
    """Flatten -> Linear(code_size) + activation -> Linear(pixels) -> sigmoid (the Keras
    blog's 784-32-784 autoencoder: 50,992 parameters), with optional L1 (sparse) and
    Jacobian (contractive) penalties on the code. ``hidden`` adds ReLU layers on both sides
    of the code (e.g. [512, 128]: 784-512-128-32-128-512-784), the depth a nonlinear code
    needs to beat PCA."""

    config_class = DenseAEConfig
    registry_name = "dense_ae"
    modality = "images"

    def __init__(self, config: DenseAEConfig) -> None:
        super().__init__(config)
        n = config.in_channels * config.image_size * (config.image_width or config.image_size)
        widths = [n, *config.hidden]
        self.hidden = _relu_stack(widths)  # empty without hidden layers
        self.linear = nn.Linear(widths[-1], config.code_size)
        self.activation = CODE_ACTIVATIONS[config.code_activation]()
        if config.hidden:
            expand = _relu_stack([config.code_size, *reversed(config.hidden)])
            self.decoder = nn.Sequential(*expand, nn.Linear(config.hidden[0], n))
        else:
            self.decoder = nn.Linear(config.code_size, n)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(self.linear(self.hidden(x.flatten(1))))

    def decode_logits(self, code: torch.Tensor, size=None) -> torch.Tensor:
        c, h = self.config.in_channels, self.config.image_size
        return self.decoder(code).view(len(code), c, h, self.config.image_width or h)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encode(x)).view(x.shape)

    def jacobian_norm2(self, x: torch.Tensor) -> torch.Tensor:
        """||d code / d x||_F^2 per sample, in closed form: the code is act(W x + b), so
        J = diag(act'(a)) W and ||J||^2 = sum_j act'(a_j)^2 ||W_j||^2."""
        a = self.linear(x.flatten(1)).float()
        if self.config.code_activation == "sigmoid":
            h = torch.sigmoid(a)
            slope = h * (1 - h)
        elif self.config.code_activation == "relu":
            slope = (a > 0).to(a.dtype)
        else:
            slope = torch.ones_like(a)
        return (slope**2 * (self.linear.weight.float() ** 2).sum(dim=1)).sum(dim=1)

    def penalties(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        terms = {}
        if self.config.l1_code:
            terms["l1_code"] = self.config.l1_code * self.encode(x).float().abs().sum(1).mean()
        if self.config.contractive:
            terms["contractive"] = self.config.contractive * self.jacobian_norm2(x).mean()
        return terms


@dataclass(frozen=True)
class SparseAEConfig(DenseAEConfig):
    l1_code: float = 1.0e-4  # the Keras blog's activity_regularizer l1(10e-5)


class SparseAE(DenseAE):
    """The dense autoencoder with an L1 penalty on the code (sparse activations)."""

    config_class = SparseAEConfig
    registry_name = "sparse_ae"


@dataclass(frozen=True)
class ContractiveAEConfig(DenseAEConfig):
    code_activation: str = "sigmoid"
    contractive: float = 1.0e-3


class ContractiveAE(DenseAE):
    """The dense autoencoder with a sigmoid code and the contractive penalty: the squared
    Frobenius norm of the encoder's Jacobian (Rifai et al. 2011)."""

    config_class = ContractiveAEConfig
    registry_name = "contractive_ae"


@dataclass(frozen=True)
class LinearAEConfig(DenseAEConfig):
    code_activation: str = "linear"
    output: str = "linear"
    loss: str = "mse"


class LinearAE(DenseAE):
    """No nonlinearity, MSE: its optimum spans the same subspace as PCA with ``code_size``
    components (Baldi & Hornik 1989) - the link the lectures draw."""

    config_class = LinearAEConfig
    registry_name = "linear_ae"


@dataclass(frozen=True)
class ConvAEConfig:
    in_channels: int = 1
    out_channels: int | None = None  # None: as many as in (a colorization: 1 in, 3 out)
    channels: tuple[int, ...] = (16, 8, 8)  # encoder widths; the code has channels[-1]
    kernel_size: int = 3
    loss: str = "bce"
    output: str = "sigmoid"
    output_bias: str = "zero"  # or "data_mean": start at the training targets' mean colour
    keep_luminance: bool = False  # a colorization: output scaled to the input's luminance

    def __post_init__(self) -> None:
        _check_head(self.loss, self.output)
        if self.keep_luminance and self.loss == "bce":
            raise ValueError("model_params.keep_luminance needs loss 'mse' or 'lab' (not bce)")
        if self.output_bias not in ("zero", "data_mean"):
            raise ValueError(
                f"model_params.output_bias must be 'zero' or 'data_mean', got {self.output_bias!r}"
            )
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
        self.head = nn.Conv2d(cin, config.out_channels or config.in_channels, k, padding=k // 2)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    @torch.no_grad()
    def init_from_data(self, targets: torch.Tensor) -> None:
        """With ``output_bias: data_mean``, start at the training targets' mean per channel
        (the output bias its logit, or the mean itself for a linear output): on dark images
        (galaxies on black sky) a network that starts at mid-grey can kill its ReLUs
        pulling the whole image down, and then outputs one constant image."""
        if self.config.output_bias != "data_mean":
            return
        mean = targets.float().mean(dim=(0, 2, 3))
        if self.config.output == "sigmoid":
            mean = torch.logit(mean.clamp(1e-3, 1 - 1e-3))
        self.head.bias.copy_(mean.to(self.head.bias))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self._decode_to(self.encode(x), x.shape[-2:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = super().forward(x)
        if not self.config.keep_luminance:
            return out
        # the network proposes the colour, the grey input keeps the detail: each pixel's
        # colour scaled so that its luminance is the input's (what the bottleneck blurred)
        from aeflow.evaluation.colour import luminance

        if x.shape[1] != 1 or out.shape[1] != 3:
            raise ValueError(
                "model_params.keep_luminance maps a grey input to a colour output (task "
                f"colorize), got {x.shape[1]} -> {out.shape[1]} channels"
            )
        luma = luminance(out)[:, None]
        return (out * x.to(out.dtype) / luma.clamp_min(1e-4)).clamp(0, 1)

    def _decode_to(self, code: torch.Tensor, size) -> torch.Tensor:
        h = self.decoder(code)
        dy, dx = h.shape[-2] - size[0], h.shape[-1] - size[1]
        h = h[..., dy // 2 : dy // 2 + size[0], dx // 2 : dx // 2 + size[1]]
        return self.head(h)

    def decode_logits(self, code: torch.Tensor, size=None) -> torch.Tensor:
        """Decoded and cropped to ``size`` (default: the full upsampled size, 32x32 for the
        4x4 code of a 28x28 image)."""
        n = 2 ** len(self.config.channels)
        return self._decode_to(code, size or (code.shape[-2] * n, code.shape[-1] * n))
