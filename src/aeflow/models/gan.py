"""Generative adversarial networks for images in [0, 1]: a plain GAN, an auxiliary-classifier
GAN (acGAN), WGAN-GP, its auxiliary-classifier twin and WGAN-div — one generator/critic
architecture, five objectives.

Generator: z (+ a label embedding for acGAN) -> linear -> (c0, b, b) -> stride-2 transposed
convolutions doubling the size up to ``image_size`` (``b`` = the size halved while even and
above 4, at most ``len(channels) - 1`` times: 32 -> 4, 28 -> 7, 9 -> 9); widths left over
(small images) become 3x3 convolutions at full size -> a 3x3 convolution to ``in_channels``
and a sigmoid. Critic: the mirror with stride-2 convolutions and leaky
ReLUs, no batch norm (a gradient penalty is per sample; batch statistics would couple them),
then a linear validity head and, for acGAN, a class head. Both heads return logits: the class
loss is ``cross_entropy`` of logits (no softmax applied twice).

Objectives (the critic ``f`` is high on real images):

- ``gan``: non-saturating (Goodfellow et al. 2014): BCE of D(x) to 1 and D(G(z)) to 0;
  the generator maximizes log D(G(z)).
- ``acgan`` (Odena et al. 2017): the GAN loss plus cross-entropy of the class head on real
  (true labels) and generated (requested labels) images, for both players.
- ``wgan_gp`` (Gulrajani et al. 2017): E f(G(z)) - E f(x) + lambda E (|grad f(x_hat)| - 1)^2
  on random interpolates x_hat; lambda = 10, n_critic 5, Adam 1e-4, betas (0.5, 0.9) as in
  the book's Exercise 18.2.
- ``acwgan_gp``: the acGAN's conditioning and class head with WGAN-GP's objective (the
  critic's class cross-entropy added to its loss, the generator's to its own).
- ``wgan_div`` (Wu et al. 2018): E f(G(z)) - E f(x) + k E |grad f(x_hat)|^p, k = 2, p = 6,
  with the gradient taken at the same random interpolates as WGAN-GP (the paper allows any
  mix of real and generated points; some implementations use the real and fake points).

Each model carries its optimization recipe (learning rates, betas, n_critic) in its config:
it is part of what defines the method. :class:`aeflow.training.adversarial.AdversarialTrainer`
runs the alternating steps for all four.
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from aeflow.models.base import Model


@dataclass(frozen=True)
class GANConfig:
    image_size: int = 32
    in_channels: int = 3
    latent_dim: int = 64
    channels: tuple[int, ...] = (128, 64, 32)  # generator widths, coarse to fine; critic mirrors
    generator_lr: float = 2e-4
    critic_lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    n_critic: int = 1  # critic steps per generator step
    gp_weight: float = 10.0  # wgan_gp: lambda
    div_k: float = 2.0  # wgan_div: k
    div_p: float = 6.0  # wgan_div: p
    class_weight: float = 1.0  # acgan: weight of the class cross-entropy
    ema_decay: float = 0.0  # > 0: samples come from this moving average of the generator
    # > 0: the sigmoid stretched this far beyond [0, 1] and clipped, so that generated
    # pixels reach the data's end points exactly (silent stations at 0, saturated at 1)
    output_margin: float = 0.0
    # the critic sees each real image under a random one of the square's 8 symmetries
    # (flips, transposition): for data whose physics has them (air-shower cores and
    # azimuths spread evenly over the array)
    dihedral_augment: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        for name in ("image_size", "in_channels", "latent_dim", "n_critic"):
            if getattr(self, name) < 1:
                raise ValueError(f"model_params.{name} must be >= 1, got {getattr(self, name)}")
        if not self.channels or min(self.channels) < 1:
            raise ValueError(f"model_params.channels must be positive widths, got {self.channels}")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"model_params.betas must be two numbers in [0, 1), got {self.betas}")
        for name in ("generator_lr", "critic_lr", "div_p"):
            if getattr(self, name) <= 0:
                raise ValueError(f"model_params.{name} must be > 0")
        for name in ("gp_weight", "div_k", "class_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"model_params.{name} must be >= 0")
        if not 0 <= self.output_margin < 1:
            raise ValueError(
                f"model_params.output_margin must be in [0, 1), got {self.output_margin}"
            )
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"model_params.ema_decay must be in [0, 1), got {self.ema_decay}")
        n_classes = getattr(self, "n_classes", None)  # class-conditional models
        if n_classes is not None and n_classes < 2:
            raise ValueError(
                f"model_params.n_classes must be >= 2 for a class-conditional GAN, got {n_classes}"
            )


@dataclass(frozen=True)
class ACGANConfig(GANConfig):
    n_classes: int = 3  # filled from the data's labels when not set
    # the critic's class head also learns the requested labels of generated images (Odena)
    class_loss_on_fake: bool = True


@dataclass(frozen=True)
class WGANGPConfig(GANConfig):
    generator_lr: float = 1e-4
    critic_lr: float = 1e-4
    betas: tuple[float, float] = field(default=(0.5, 0.9))
    n_critic: int = 5


@dataclass(frozen=True)
class WGANDivConfig(WGANGPConfig):
    pass


@dataclass(frozen=True)
class ACWGANGPConfig(WGANGPConfig):
    n_classes: int = 3  # as ACGANConfig's
    class_loss_on_fake: bool = True


def base_size(image_size: int, max_doublings: int) -> tuple[int, int]:
    """(b, n): the generator's seed size and the number of doublings from b to image_size."""
    b, n = image_size, 0
    while b % 2 == 0 and b > 4 and n < max_doublings:
        b, n = b // 2, n + 1
    return b, n


class Generator(nn.Module):
    def __init__(self, config: GANConfig) -> None:
        super().__init__()
        widths = config.channels
        self.base, n_up = base_size(config.image_size, len(widths) - 1)
        n_classes = getattr(config, "n_classes", 0)  # class-conditional models only
        self.embed = nn.Embedding(n_classes, config.latent_dim) if n_classes else None
        n_in = config.latent_dim * (2 if self.embed is not None else 1)
        self.project = nn.Sequential(
            nn.Linear(n_in, widths[0] * self.base**2, bias=False),
            nn.Unflatten(1, (widths[0], self.base, self.base)),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(),
        )
        blocks: list[nn.Module] = []
        for i, (w_in, w_out) in enumerate(itertools.pairwise(widths)):
            # the size doubles n_up times; widths beyond that get 3x3 convolutions at full size
            up = i < n_up
            blocks += [
                nn.ConvTranspose2d(w_in, w_out, 4, stride=2, padding=1, bias=False)
                if up
                else nn.Conv2d(w_in, w_out, 3, padding=1, bias=False),
                nn.BatchNorm2d(w_out),
                nn.ReLU(),
            ]
        blocks += [nn.Conv2d(widths[-1], config.in_channels, 3, padding=1)]
        self.body = nn.Sequential(*blocks)
        self.margin = config.output_margin

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            if labels is None:
                raise ValueError("this generator is conditional: give the class labels")
            z = torch.cat([z, self.embed(labels)], dim=1)
        return self.squash(self.body(self.project(z)))

    def squash(self, logits: torch.Tensor) -> torch.Tensor:
        """Logits to pixels in [0, 1]: the sigmoid, or with ``output_margin`` m the sigmoid
        stretched to [-m, 1 + m] and clipped (the end points reached, not only approached)."""
        y = torch.sigmoid(logits)
        if not self.margin:
            return y
        return ((1 + 2 * self.margin) * y - self.margin).clamp(0.0, 1.0)

    def unsquash(self, pixels: torch.Tensor) -> torch.Tensor:
        """The logits :meth:`squash` maps to ``pixels`` (inside (0, 1))."""
        return torch.logit((pixels + self.margin) / (1 + 2 * self.margin))


class Critic(nn.Module):
    """The discriminator (GAN) or critic (WGAN): validity logits and, with classes, class
    logits from shared features."""

    def __init__(self, config: GANConfig) -> None:
        super().__init__()
        widths = tuple(reversed(config.channels))
        base, n_down = base_size(config.image_size, len(widths) - 1)
        n_flat = len(widths) - 1 - n_down  # the generator's full-size 3x3 blocks, mirrored
        layers: list[nn.Module] = [nn.Conv2d(config.in_channels, widths[0], 3, padding=1)]
        layers.append(nn.LeakyReLU(0.2))
        for i, (w_in, w_out) in enumerate(itertools.pairwise(widths)):
            if i < n_flat:
                layers.append(nn.Conv2d(w_in, w_out, 3, padding=1))
            else:
                layers.append(nn.Conv2d(w_in, w_out, 4, stride=2, padding=1))
            layers.append(nn.LeakyReLU(0.2))
        layers.append(nn.Flatten())
        self.features = nn.Sequential(*layers)
        n_features = widths[-1] * base**2
        self.validity = nn.Linear(n_features, 1)
        n_classes = getattr(config, "n_classes", 0)
        self.classes = nn.Linear(n_features, n_classes) if n_classes else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        h = self.features(x)
        logits = self.classes(h) if self.classes is not None else None
        return self.validity(h).squeeze(1), logits


def gradient_norm(critic, points: torch.Tensor) -> torch.Tensor:
    """|grad_x f(x)|_2 per sample at ``points``, differentiable (for the penalties)."""
    points = points.detach().requires_grad_(True)
    out = critic(points)[0]
    (grad,) = torch.autograd.grad(out.sum(), points, create_graph=True)
    return grad.flatten(1).norm(dim=1)


def interpolates(real: torch.Tensor, fake: torch.Tensor, generator=None) -> torch.Tensor:
    """x_hat = eps x + (1 - eps) x_fake, one uniform eps per sample."""
    eps = torch.rand(
        (len(real),) + (1,) * (real.dim() - 1),
        device=real.device,
        dtype=real.dtype,
        generator=generator,
    )
    return eps * real + (1 - eps) * fake


def gradient_penalty(critic, real, fake, weight: float, generator=None) -> torch.Tensor:
    """WGAN-GP: weight * E (|grad f(x_hat)| - 1)^2."""
    norm = gradient_norm(critic, interpolates(real, fake, generator))
    return weight * (norm - 1.0).pow(2).mean()


def divergence_penalty(critic, real, fake, k: float, p: float, generator=None) -> torch.Tensor:
    """WGAN-div: k * E |grad f(x_hat)|^p."""
    norm = gradient_norm(critic, interpolates(real, fake, generator))
    return k * norm.pow(p).mean()


class GAN(Model):
    """The plain GAN; the subclasses change the objective (and the conditioning)."""

    config_class = GANConfig
    registry_name = "gan"
    modality = "images"
    conditional = False
    adversarial = True

    def __init__(self, config: GANConfig) -> None:
        super().__init__(config)
        self.generator = Generator(config)
        self.critic = Critic(config)
        # An exponential moving average of the generator's weights (Yazici et al. 2019): it
        # smooths the oscillation of adversarial training; samples are drawn from it.
        self.generator_ema = copy.deepcopy(self.generator) if config.ema_decay else None
        if self.generator_ema is not None:
            self.generator_ema.requires_grad_(False)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.generator(z, labels)

    def describe(self) -> dict:
        return super().describe() | {
            f"n_parameters_{name}": n for name, n in parameter_counts(self).items()
        }

    @torch.no_grad()
    def init_from_data(self, images: torch.Tensor) -> None:
        """Start the generator at the data's mean colour: the output bias is the logit of
        the mean pixel per channel, so that the first samples already have the dark sky of
        galaxy images instead of mid-grey (the critic then spends its first steps on shapes)."""
        mean = images.float().mean(dim=(0, 2, 3)).clamp(1e-3, 1 - 1e-3)  # on the data's device
        bias = self.generator.body[-1].bias
        bias.copy_(self.generator.unsquash(mean).to(bias))
        if self.generator_ema is not None:  # the average starts where the generator does
            self.generator_ema.load_state_dict(self.generator.state_dict())

    def augment(self, real: torch.Tensor) -> torch.Tensor:
        """The real batch the critic sees: with ``dihedral_augment``, each image under a
        random element of the dihedral group of the square (a horizontal flip, a vertical
        flip and a transposition, each with probability 1/2: all 8 equally likely)."""
        if not self.config.dihedral_augment:
            return real
        if real.shape[-1] != real.shape[-2]:
            raise ValueError(f"dihedral_augment needs square images, got {tuple(real.shape)}")
        for op in (lambda x: x.flip(-1), lambda x: x.flip(-2), lambda x: x.transpose(-1, -2)):
            pick = torch.rand(len(real), device=real.device) < 0.5
            real = torch.where(pick[:, None, None, None], op(real), real)
        return real

    def noise(self, n: int, device, generator=None) -> torch.Tensor:
        return torch.randn(n, self.config.latent_dim, device=device, generator=generator)

    @torch.no_grad()
    def update_ema(self) -> None:
        """Move the averaged generator towards the current one (after a generator step)."""
        if self.generator_ema is None:
            return
        decay = self.config.ema_decay
        current = self.generator.state_dict()
        for key, avg in self.generator_ema.state_dict().items():
            if avg.is_floating_point():
                avg.lerp_(current[key], 1.0 - decay)
            else:
                avg.copy_(current[key])

    @torch.no_grad()
    def sample(self, n: int, labels=None, device="cpu", generator=None, noise=None) -> torch.Tensor:
        """``n`` generated images from the averaged generator (the trained one when
        ``ema_decay`` is 0), in eval mode: batch-norm running statistics. ``noise`` (n,
        latent_dim) replaces the draw from ``generator``."""
        net = self.generator_ema if self.generator_ema is not None else self.generator
        was_training = net.training
        net.eval()
        z = self.noise(n, device, generator) if noise is None else noise
        out = net(z, labels)
        net.train(was_training)
        return out

    def optimizers(self) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
        c = self.config
        return (
            torch.optim.Adam(self.generator.parameters(), lr=c.generator_lr, betas=c.betas),
            torch.optim.Adam(self.critic.parameters(), lr=c.critic_lr, betas=c.betas),
        )

    # ---- objectives: the critic's and the generator's losses --------------------------------
    def critic_loss(
        self, real: torch.Tensor, fake: torch.Tensor, labels=None, fake_labels=None
    ) -> dict[str, torch.Tensor]:
        real_out, _ = self.critic(real)
        fake_out, _ = self.critic(fake)
        loss = F.binary_cross_entropy_with_logits(
            real_out.float(), torch.ones_like(real_out.float())
        ) + F.binary_cross_entropy_with_logits(fake_out.float(), torch.zeros_like(fake_out.float()))
        return {
            "loss": loss,
            "real_score": real_out.float().mean(),
            "fake_score": fake_out.float().mean(),
        }

    def generator_loss(self, fake: torch.Tensor, fake_labels=None) -> dict[str, torch.Tensor]:
        out, _ = self.critic(fake)
        return {
            "loss": F.binary_cross_entropy_with_logits(out.float(), torch.ones_like(out.float()))
        }


class ACGAN(GAN):
    config_class = ACGANConfig
    registry_name = "acgan"
    conditional = True

    def critic_loss(self, real, fake, labels=None, fake_labels=None):
        real_out, real_cls = self.critic(real)
        fake_out, fake_cls = self.critic(fake)
        validity = F.binary_cross_entropy_with_logits(
            real_out.float(), torch.ones_like(real_out.float())
        ) + F.binary_cross_entropy_with_logits(fake_out.float(), torch.zeros_like(fake_out.float()))
        cls = class_terms(self, real_cls, labels, fake_cls, fake_labels)
        accuracy = (real_cls.argmax(1) == labels).float().mean()
        return {
            "loss": validity + self.config.class_weight * cls,
            "validity": validity,
            "class_loss": cls,
            "real_class_accuracy": accuracy,
        }

    def generator_loss(self, fake, fake_labels=None):
        out, cls = self.critic(fake)
        validity = F.binary_cross_entropy_with_logits(out.float(), torch.ones_like(out.float()))
        class_loss = F.cross_entropy(cls.float(), fake_labels)
        return {
            "loss": validity + self.config.class_weight * class_loss,
            "validity": validity,
            "class_loss": class_loss,
        }


class WGANGP(GAN):
    config_class = WGANGPConfig
    registry_name = "wgan_gp"
    wasserstein = True  # the critic estimates W1(real, generated)

    def penalty(self, real, fake) -> torch.Tensor:
        return gradient_penalty(self.critic, real.float(), fake.float(), self.config.gp_weight)

    def critic_loss(self, real, fake, labels=None, fake_labels=None):
        real_out = self.critic(real)[0].float().mean()
        fake_out = self.critic(fake)[0].float().mean()
        # the penalty's double backward runs in fp32, outside any autocast
        with torch.autocast(real.device.type, enabled=False):
            penalty = self.penalty(real, fake)
        return {
            "loss": fake_out - real_out + penalty,
            "wasserstein": real_out - fake_out,  # the critic's estimate of W1(real, fake)
            "penalty": penalty,
        }

    def generator_loss(self, fake, fake_labels=None):
        return {"loss": -self.critic(fake)[0].float().mean()}


class WGANDiv(WGANGP):
    config_class = WGANDivConfig
    registry_name = "wgan_div"

    def penalty(self, real, fake) -> torch.Tensor:
        c = self.config
        return divergence_penalty(self.critic, real.float(), fake.float(), c.div_k, c.div_p)


def class_terms(model: GAN, real_cls, labels, fake_cls, fake_labels) -> torch.Tensor:
    """The auxiliary classifier's cross-entropy for the critic: on the real images' labels,
    and (``class_loss_on_fake``) on the labels generated images were asked for."""
    cls = F.cross_entropy(real_cls.float(), labels)
    if model.config.class_loss_on_fake:
        cls = cls + F.cross_entropy(fake_cls.float(), fake_labels)
    return cls


class ACWGANGP(WGANGP):
    """An auxiliary-classifier GAN with a Wasserstein critic (AC-WGAN-GP, as in Gulrajani et
    al. 2017's conditional CIFAR-10 model): the acGAN's label-conditioned generator and class
    head, with WGAN-GP's objective in place of the GAN loss. The saturating GAN loss lets the
    class term pull every generated image towards its class's most recognisable variants
    (few variants per class); the critic's Wasserstein estimate keeps pushing the generated
    distribution to cover the real one."""

    config_class = ACWGANGPConfig
    registry_name = "acwgan_gp"
    conditional = True

    def critic_loss(self, real, fake, labels=None, fake_labels=None):
        real_out, real_cls = self.critic(real)
        fake_out, fake_cls = self.critic(fake)
        real_score, fake_score = real_out.float().mean(), fake_out.float().mean()
        with torch.autocast(real.device.type, enabled=False):
            penalty = self.penalty(real, fake)
        cls = class_terms(self, real_cls, labels, fake_cls, fake_labels)
        return {
            "loss": fake_score - real_score + penalty + self.config.class_weight * cls,
            "wasserstein": real_score - fake_score,
            "penalty": penalty,
            "class_loss": cls,
            "real_class_accuracy": (real_cls.argmax(1) == labels).float().mean(),
        }

    def generator_loss(self, fake, fake_labels=None):
        out, cls = self.critic(fake)
        class_loss = F.cross_entropy(cls.float(), fake_labels)
        return {
            "loss": -out.float().mean() + self.config.class_weight * class_loss,
            "class_loss": class_loss,
        }


def parameter_counts(model: GAN) -> dict[str, int]:
    return {
        "generator": sum(p.numel() for p in model.generator.parameters()),
        "critic": sum(p.numel() for p in model.critic.parameters()),
    }


__all__ = [
    "ACGAN",
    "ACWGANGP",
    "GAN",
    "WGANGP",
    "WGANDiv",
    "divergence_penalty",
    "gradient_penalty",
    "parameter_counts",
]
