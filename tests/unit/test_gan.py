"""GAN family: penalties on hand-checkable critics, shapes, acGAN heads, the adversarial loop."""

import copy

import pytest
import torch
from torch.nn import functional as F

from aeflow.models import build_model, model_from_description
from aeflow.models.gan import base_size, divergence_penalty, gradient_penalty, parameter_counts
from aeflow.training.adversarial import AdversarialTrainer


class LinearCritic(torch.nn.Module):
    """f(x) = w . x: its gradient is w everywhere, so |grad f| = |w|."""

    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(w)

    def forward(self, x):
        return (x.flatten(1) * self.w).sum(1), None


@pytest.mark.parametrize("norm", [0.5, 1.0, 3.0])
def test_penalties_of_a_linear_critic(norm):
    w = torch.zeros(1 * 2 * 2)
    w[0], w[3] = 0.6 * norm, 0.8 * norm  # |w| = norm
    critic = LinearCritic(w)
    real, fake = torch.rand(5, 1, 2, 2), torch.rand(5, 1, 2, 2)
    gp = gradient_penalty(critic, real, fake, weight=10.0)
    assert gp.item() == pytest.approx(10.0 * (norm - 1.0) ** 2, abs=1e-5)
    div = divergence_penalty(critic, real, fake, k=2.0, p=6.0)
    assert div.item() == pytest.approx(2.0 * norm**6, rel=1e-5)
    # the penalty is differentiable in the critic's parameters: d/dw 10 (|w| - 1)^2
    gp.backward()
    expected = 20.0 * (norm - 1.0) * w / norm
    assert torch.allclose(critic.w.grad, expected, atol=1e-5)


def test_penalty_of_a_quadratic_critic_at_known_points():
    """f(x) = sum x^2 / 2 has grad x: at interpolates of real = fake = x0, |grad| = |x0|."""

    class Quadratic(torch.nn.Module):
        def forward(self, x):
            return 0.5 * x.flatten(1).pow(2).sum(1), None

    x0 = torch.full((4, 1, 1, 4), 0.5)  # |x0| = 1 per sample
    assert gradient_penalty(Quadratic(), x0, x0, 10.0).item() == pytest.approx(0.0, abs=1e-6)
    assert divergence_penalty(Quadratic(), 2 * x0, 2 * x0, 2.0, 6.0).item() == pytest.approx(
        2.0 * 2.0**6
    )


@pytest.mark.parametrize(
    ("size", "channels", "base", "doublings"),
    [(32, 3, 4, 3), (28, 1, 7, 2), (9, 1, 9, 0), (64, 3, 8, 3), (16, 1, 4, 2)],
)
def test_generator_and_critic_shapes(size, channels, base, doublings):
    assert base_size(size, 3) == (base, doublings)
    for name in ("gan", "acgan", "wgan_gp", "acwgan_gp", "wgan_div"):
        model = build_model(
            name, {"channels": [32, 16, 8, 8]}, image_size=size, in_channels=channels, n_classes=3
        )
        labels = torch.tensor([0, 1, 2, 0]) if model.conditional else None
        x = model(torch.randn(4, model.config.latent_dim), labels)
        assert x.shape == (4, channels, size, size)
        assert x.min() >= 0 and x.max() <= 1  # sigmoid output, as the data
        validity, classes = model.critic(x)
        assert validity.shape == (4,)
        assert (classes is not None) == (name in ("acgan", "acwgan_gp"))
        counts = parameter_counts(model)
        desc = model.describe()
        assert desc["n_parameters"] == counts["generator"] + counts["critic"]
        assert desc["n_parameters_generator"] == counts["generator"]
        rebuilt = model_from_description(desc)
        assert parameter_counts(rebuilt) == counts


def test_parameter_count_of_the_default_wgan_gp():
    model = build_model("wgan_gp", {}, image_size=32, in_channels=3)
    counts = parameter_counts(model)
    # 3 widths: two doublings from an 8x8 seed. Generator: linear 64 -> 128*8*8 (no bias) +
    # BN, two transposed convs 4x4 (no bias) + BN, conv3x3 to RGB
    g = 64 * 128 * 64 + 2 * 128 + 128 * 64 * 16 + 2 * 64 + 64 * 32 * 16 + 2 * 32 + 32 * 3 * 9 + 3
    assert counts["generator"] == g
    # critic: conv3x3 3 -> 32, two stride-2 convs 4x4, linear 128*8*8 -> 1
    c = 3 * 32 * 9 + 32 + 32 * 64 * 16 + 64 + 64 * 128 * 16 + 128 + 128 * 64 + 1
    assert counts["critic"] == c
    assert model.config.n_critic == 5 and model.config.betas == (0.5, 0.9)
    assert model.config.generator_lr == 1e-4 and model.config.gp_weight == 10


def test_acgan_class_head_and_losses():
    model = build_model("acgan", {"channels": [16, 8]}, image_size=8, in_channels=1, n_classes=3)
    real = torch.rand(6, 1, 8, 8)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    fake = model(torch.randn(6, model.config.latent_dim), labels)
    terms = model.critic_loss(real, fake.detach(), labels, labels)
    assert all(t.dim() == 0 for t in terms.values())
    _, logits = model.critic(real)
    assert logits.shape == (6, 3)
    # the class head gives logits: cross-entropy of them, no softmax applied before
    _, fake_logits = model.critic(fake.detach())
    expected = F.cross_entropy(logits, labels) + F.cross_entropy(fake_logits, labels)
    assert terms["class_loss"].item() == pytest.approx(expected.item(), rel=1e-5)
    g_terms = model.generator_loss(fake, labels)
    assert g_terms["loss"].item() == pytest.approx(
        (g_terms["validity"] + g_terms["class_loss"]).item(), rel=1e-6
    )
    with pytest.raises(ValueError, match="conditional"):
        model(torch.randn(2, model.config.latent_dim))
    with pytest.raises(ValueError, match="n_classes"):
        build_model("acgan", {"n_classes": 1})


def test_the_wasserstein_acgan_adds_the_class_terms_to_the_wgan_gp_objective():
    """acwgan_gp: the critic's loss is WGAN-GP's plus the class cross-entropy on real (and,
    by default, generated) images; the generator's is -E f(G(z, y)) plus its class term;
    the recipe is WGAN-GP's (n_critic 5)."""
    torch.manual_seed(0)
    model = build_model(
        "acwgan_gp",
        {"channels": [16, 8], "class_weight": 0.5},
        image_size=8,
        n_classes=3,
        in_channels=1,
    )
    assert model.conditional and model.wasserstein and model.config.n_critic == 5
    real = torch.rand(6, 1, 8, 8)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    asked = torch.tensor([2, 2, 1, 1, 0, 0])
    fake = model(torch.randn(6, model.config.latent_dim), asked).detach()
    torch.manual_seed(1)  # the penalty's interpolates
    terms = model.critic_loss(real, fake, labels, asked)
    (real_out, real_logits), (fake_out, fake_logits) = model.critic(real), model.critic(fake)
    cls = F.cross_entropy(real_logits, labels) + F.cross_entropy(fake_logits, asked)
    assert terms["class_loss"].item() == pytest.approx(cls.item(), rel=1e-5)
    w = real_out.mean() - fake_out.mean()
    assert terms["wasserstein"].item() == pytest.approx(w.item(), rel=1e-5)
    expected = -w + terms["penalty"] + 0.5 * cls
    assert terms["loss"].item() == pytest.approx(expected.item(), rel=1e-5)
    g = model.generator_loss(fake, asked)
    g_expected = -fake_out.mean() + 0.5 * F.cross_entropy(fake_logits, asked)
    assert g["loss"].item() == pytest.approx(g_expected.item(), rel=1e-5)
    # the class head can learn the real images only
    real_only = build_model(
        "acwgan_gp",
        {"channels": [16, 8], "class_loss_on_fake": False},
        image_size=8,
        n_classes=3,
        in_channels=1,
    )
    real_only.load_state_dict(model.state_dict())
    torch.manual_seed(1)
    only = real_only.critic_loss(real, fake, labels, asked)
    assert only["class_loss"].item() == pytest.approx(
        F.cross_entropy(real_logits, labels).item(), rel=1e-5
    )


def test_bad_gan_params():
    with pytest.raises(ValueError, match="betas"):
        build_model("wgan_gp", {"betas": [0.5, 1.5]})
    with pytest.raises(ValueError, match="n_critic"):
        build_model("wgan_gp", {"n_critic": 0})
    with pytest.raises(ValueError, match="unknown key"):
        build_model("gan", {"lambda": 10})


def _bright_images(n, mean=0.8, sd=0.05, seed=0):
    g = torch.Generator().manual_seed(seed)
    level = (mean + sd * torch.randn(n, generator=g)).clamp(0, 1)
    return level[:, None, None, None].expand(n, 1, 8, 8).contiguous()


def test_samples_come_from_the_moving_average_of_the_generator():
    torch.manual_seed(0)
    model = build_model("gan", {"channels": [8, 8], "ema_decay": 0.9}, image_size=8)
    assert (
        parameter_counts(model)["generator"] + parameter_counts(model)["critic"]
        == (
            model.describe()["n_parameters"]  # the average is not a trainable parameter
        )
    )
    old = {k: v.clone() for k, v in model.generator_ema.state_dict().items()}
    with torch.no_grad():
        for p in model.generator.parameters():
            p.add_(1.0)
    model.update_ema()
    for key, value in model.generator.state_dict().items():
        if value.is_floating_point():
            assert torch.allclose(
                model.generator_ema.state_dict()[key], 0.9 * old[key] + 0.1 * value
            )
    z = torch.randn(3, model.config.latent_dim)
    gen = torch.Generator().manual_seed(1)
    sample = model.sample(3, generator=gen)
    gen = torch.Generator().manual_seed(1)
    z = torch.randn(3, model.config.latent_dim, generator=gen)
    model.generator_ema.eval()
    assert torch.allclose(sample, model.generator_ema(z))
    assert not torch.allclose(sample, model.generator.eval()(z))


def test_generator_steps_every_n_critic_batches():
    torch.manual_seed(0)
    model = build_model("wgan_gp", {"channels": [8, 8]}, image_size=8, in_channels=1)
    trainer = AdversarialTrainer(model, torch.device("cpu"), batch_size=16, channels_last=False)
    g0 = {k: v.detach().clone() for k, v in model.generator.named_parameters()}
    c0 = {k: v.detach().clone() for k, v in model.critic.named_parameters()}
    trainer.train_epoch({"image": _bright_images(64)}, epoch=1)  # 4 batches < n_critic 5
    # (parameters: the generator's batch-norm statistics do move when it makes fakes)
    assert all(torch.equal(g0[k], v) for k, v in model.generator.named_parameters())
    assert not all(torch.equal(c0[k], v) for k, v in model.critic.named_parameters())
    trainer.train_epoch({"image": _bright_images(32)}, epoch=2)  # batch 5 and 6: one G step
    changed = [k for k, v in model.generator.named_parameters() if not torch.equal(g0[k], v)]
    assert changed
    assert trainer.steps == 6


def test_adversarial_trainer_resumes_exactly():
    """Two epochs straight, or one, a checkpoint, and the second: the same weights."""

    def make():
        torch.manual_seed(0)
        model = build_model("wgan_gp", {"channels": [8, 8]}, image_size=8, in_channels=1)
        return AdversarialTrainer(model, torch.device("cpu"), batch_size=8, channels_last=False)

    data, val = {"image": _bright_images(64)}, {"image": _bright_images(32, seed=1)}
    straight = make()
    straight.fit(data, val, epochs=2)
    first = make()
    first.fit(data, val, epochs=1)
    state = copy.deepcopy(first.state_dict())
    torch.manual_seed(123)  # whatever happened in between: the checkpoint restores the streams
    resumed = make()
    resumed.load_state_dict(state)
    resumed.fit(data, val, epochs=2)
    assert resumed.epoch == 2 and len(resumed.history) == 2
    assert resumed.steps == straight.steps
    assert state["generator_optimizer"]["state"]  # the generator's Adam moments are saved
    for key, value in straight.model.state_dict().items():
        assert torch.allclose(resumed.model.state_dict()[key], value, atol=1e-6), key


def test_a_generator_with_an_output_margin_reaches_zero_and_one():
    """output_margin: the stretched, clipped sigmoid gives exact 0 and 1 (silent and
    saturated stations) for large logits, stays strictly inside for moderate ones, and the
    generator still starts at the data's mean."""
    model = build_model(
        "wgan_gp", {"channels": [16, 8], "output_margin": 0.05}, image_size=8, in_channels=1
    )
    g = model.generator
    logits = torch.tensor([-5.0, -1.0, 0.0, 1.0, 5.0])
    out = g.squash(logits)
    assert out[0] == 0.0 and out[-1] == 1.0
    assert 0 < out[1] < 0.5 == out[2] < out[3] < 1
    pixels = torch.tensor([0.1, 0.5, 0.9])
    torch.testing.assert_close(g.squash(g.unsquash(pixels)), pixels)
    plain = build_model("wgan_gp", {"channels": [16, 8]}, image_size=8, in_channels=1)
    inside = plain.generator.squash(logits)  # the sigmoid only approaches the end points
    assert inside[0] > 0 and inside[-1] < 1
    model.init_from_data(torch.full((4, 1, 8, 8), 0.2))
    bias = g.body[-1].bias
    assert g.squash(bias).item() == pytest.approx(0.2, rel=1e-5)
    with pytest.raises(ValueError, match="output_margin"):
        build_model("wgan_gp", {"output_margin": 1.5})


def test_dihedral_augmentation_shows_the_critic_every_symmetry_of_the_square():
    model = build_model(
        "wgan_gp", {"channels": [16, 8], "dihedral_augment": True}, image_size=4, in_channels=1
    )
    image = torch.arange(16.0).reshape(1, 1, 4, 4)
    torch.manual_seed(0)
    out = model.augment(image.expand(400, 1, 4, 4))
    seen = {tuple(o.flatten().tolist()) for o in out}
    group = set()
    for k in range(4):  # the 8 elements: 4 rotations, each with and without a flip
        r = torch.rot90(image[0, 0], k)
        group |= {tuple(r.flatten().tolist()), tuple(r.flip(-1).flatten().tolist())}
    assert seen == group and len(group) == 8
    symmetric = torch.ones(3, 1, 4, 4)
    torch.testing.assert_close(model.augment(symmetric), symmetric)
    plain = build_model("wgan_gp", {"channels": [16, 8]}, image_size=4, in_channels=1)
    assert plain.augment(image) is image  # off by default
    with pytest.raises(ValueError, match="square"):
        model.augment(torch.zeros(2, 1, 4, 6))
