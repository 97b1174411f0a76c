"""Models trained for many steps on tiny hand-made or simulated data: each must learn (its
loss falls, or it reaches a known optimum). Their shapes, parameter counts and loss terms are
unit tests (tests/unit/test_models.py, test_image_family.py, test_gan.py, test_radio.py)."""

import numpy as np
import pytest
import torch

from aeflow.data.simulate.radio import RadioSimulation, simulate_radio
from aeflow.evaluation.baselines import pca_reconstructor
from aeflow.models import build_model, count_parameters
from aeflow.training.adversarial import AdversarialTrainer
from conftest import bars


# ---- image autoencoders --------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["dense_ae", "conv_ae"])
def test_bottleneck_models_use_bce_and_learn(name):
    torch.manual_seed(0)
    model = build_model(name)
    # images of bars at random rows: structured, learnable through a small code
    x = torch.zeros(256, 1, 28, 28)
    rows = torch.randint(4, 24, (256,))
    for i, r in enumerate(rows):
        x[i, 0, r - 2 : r + 2, 4:24] = 1.0
    batch = {"input": x, "target": x}
    with torch.no_grad():
        by_hand = torch.nn.functional.binary_cross_entropy(model(x), x)
        assert float(model.loss(batch)["loss"]) == pytest.approx(float(by_hand), rel=1e-4)
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    first = None
    for _ in range(60):
        loss = model.loss(batch)["loss"]
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first


def test_linear_ae_learns_the_pca_subspace():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    basis = rng.normal(size=(3, 16))
    data = (rng.normal(size=(512, 3)) @ basis + 0.05 * rng.normal(size=(512, 16))).astype(
        np.float32
    )
    model = build_model("linear_ae", {"image_size": 4, "code_size": 3})
    assert count_parameters(model) == 16 * 3 + 3 + 3 * 16 + 16
    x = torch.from_numpy(data).view(-1, 1, 4, 4)
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    for _ in range(1500):
        loss = model.loss({"input": x, "target": x})["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    pca_mse = float(((pca_reconstructor(data, 3)(data) - data) ** 2).mean())
    assert loss.item() == pytest.approx(pca_mse, rel=0.05)  # the PCA optimum


@pytest.mark.parametrize("architecture", ["dense", "conv"])
def test_vae_learns(architecture):
    torch.manual_seed(0)
    model = build_model("vae", {"architecture": architecture, "beta": 0.5})
    x = bars(128)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    first = None
    for _ in range(40):
        loss = model.loss({"input": x, "target": x})["loss"]
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.7 * first


# ---- GANs: the adversarial loop ------------------------------------------------------------------
GAN_EPOCHS = 25


def _bright_images(n, mean=0.8, sd=0.05, seed=0):
    g = torch.Generator().manual_seed(seed)
    level = (mean + sd * torch.randn(n, generator=g)).clamp(0, 1)
    return level[:, None, None, None].expand(n, 1, 8, 8).contiguous()


@pytest.mark.parametrize("name", ["wgan_gp", "gan"])
def test_adversarial_loop_moves_samples_to_the_data(name):
    """Images of one bright level (0.8): the generator starts near 0.5 and must move up."""
    torch.manual_seed(0)
    torch.set_num_threads(1)
    params = {"channels": [16, 8], "latent_dim": 8, "ema_decay": 0.0}
    model = build_model(name, params, image_size=8, in_channels=1)
    if name == "wgan_gp":  # a faster recipe for the test
        model.config = model.config.__class__(
            **{**model.config.__dict__, "generator_lr": 1e-3, "critic_lr": 1e-3, "n_critic": 2}
        )
    before = model.sample(256).mean().item()
    data = {"image": _bright_images(512)}
    trainer = AdversarialTrainer(model, torch.device("cpu"), batch_size=64, channels_last=False)
    history = trainer.fit(data, {"image": _bright_images(128, seed=1)}, epochs=GAN_EPOCHS)
    after = model.sample(256).mean().item()
    assert abs(after - 0.8) < abs(before - 0.8) / 2, (before, after)
    assert len(history) == GAN_EPOCHS and {"critic_loss", "generator_loss"} <= set(history[-1])
    if name == "wgan_gp":
        assert {"wasserstein", "penalty", "val_wasserstein"} <= set(history[-1])


# ---- radio traces --------------------------------------------------------------------------------
def test_conv1d_dae_learns_to_denoise_pulses():
    """A few hundred steps on simulated traces lower the loss well below predicting zero."""
    d = simulate_radio(3000, RadioSimulation(noise="cosine"), np.random.default_rng(7))
    x = torch.from_numpy(d["traces"][:1024]).unsqueeze(1)
    y = torch.from_numpy(d["signals"][:1024]).unsqueeze(1)
    torch.manual_seed(0)
    model = build_model("conv1d_dae", {"channels": [8, 16, 16]})
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    zero_loss = float((y**2).mean())
    for _step in range(150):
        i = torch.randint(0, 1024, (64,))
        loss = torch.nn.functional.mse_loss(model(x[i]), y[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        final = float(torch.nn.functional.mse_loss(model(x), y))
    assert final < 0.6 * zero_loss
