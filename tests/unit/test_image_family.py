"""The lecture autoencoder family: sparse, contractive, linear, stacked and variational
autoencoders - parameter counts, shapes, their loss terms checked by hand."""

import itertools

import numpy as np
import pytest
import torch

from aeflow.models import build_model, count_parameters
from aeflow.models.vae import kl_divergence
from aeflow.training.pretrain import greedy_layerwise, pretrain_layer
from conftest import bars


def test_sparse_ae_adds_an_l1_penalty_on_the_code():
    model = build_model("sparse_ae")
    assert count_parameters(model) == 50_992  # the dense 784-32-784 network
    x = torch.rand(8, 1, 28, 28)
    with torch.no_grad():
        terms = model.loss({"input": x, "target": x})
        code = model.encode(x)
    assert code.shape == (8, 32)
    assert float(terms["l1_code"]) == pytest.approx(1e-4 * float(code.abs().sum(1).mean()))
    assert float(terms["loss"]) == pytest.approx(float(terms["reconstruction"] + terms["l1_code"]))


@pytest.mark.parametrize("activation", ["sigmoid", "relu", "linear"])
def test_contractive_penalty_matches_a_finite_difference_jacobian(activation):
    torch.manual_seed(1)
    model = build_model(
        "contractive_ae", {"image_size": 6, "code_size": 5, "code_activation": activation}
    ).double()
    x = torch.rand(3, 1, 6, 6, dtype=torch.float64)
    closed = model.jacobian_norm2(x)
    eps = 1e-6
    for i in range(3):
        xi = x[i : i + 1].flatten()
        jac = torch.zeros(5, 36, dtype=torch.float64)
        for k in range(36):
            d = torch.zeros(36, dtype=torch.float64)
            d[k] = eps
            up = model.encode((xi + d).view(1, 1, 6, 6))[0]
            down = model.encode((xi - d).view(1, 1, 6, 6))[0]
            jac[:, k] = (up - down) / (2 * eps)
        assert float(closed[i]) == pytest.approx(float((jac**2).sum()), rel=1e-5)
    terms = model.loss({"input": x, "target": x})
    assert float(terms["contractive"]) == pytest.approx(1e-3 * float(closed.mean()), rel=1e-6)


def test_stacked_ae_shapes_and_layerwise_pretraining():
    model = build_model("stacked_ae", {"layers": [64, 16], "pretrain_epochs": 4})
    widths = [784, 64, 16]
    assert count_parameters(model) == sum(
        a * b + b + b * a + a for a, b in itertools.pairwise(widths)
    )
    x = bars(128)
    assert model.encode(x).shape == (128, 16) and model(x).shape == x.shape
    before = {k: v.clone() for k, v in model.state_dict().items()}
    history = greedy_layerwise(model, x, "cpu", batch_size=32)
    assert [h["layer"] for h in history] == [0] * 4 + [1] * 4
    for layer in (0, 1):  # each layer's own loss falls during its phase
        losses = [h["loss"] for h in history if h["layer"] == layer]
        assert losses[-1] < losses[0]
    after = model.state_dict()
    for k in before:  # every layer (encoder and mirrored decoder) was trained
        assert not torch.equal(before[k], after[k]), k


def test_stacked_pretraining_of_one_layer_leaves_the_others_alone():
    torch.manual_seed(0)
    model = build_model("stacked_ae", {"layers": [32, 8], "pretrain_epochs": 2})
    x = bars(64)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    codes = model.codes(x, 1, "cpu")
    assert codes.shape == (64, 32)
    losses = pretrain_layer(model, 1, codes, "cpu", 16, seed=0)
    assert len(losses) == 2
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"enc.1.weight", "enc.1.bias", "dec.1.weight", "dec.1.bias"}


def test_vae_kl_term_on_a_known_case():
    mu = torch.tensor([[0.0, 0.0], [1.0, -2.0]])
    logvar = torch.tensor([[0.0, 0.0], [np.log(4.0), 0.0]])
    # KL(N(0,1)||N(0,1)) = 0; second: 0.5*(1 + 4 - 1 - ln 4) + 0.5*(4 + 1 - 1 - 0)
    expected = [0.0, 0.5 * (4 - np.log(4)) + 2.0]
    np.testing.assert_allclose(kl_divergence(mu, logvar).numpy(), expected, rtol=1e-6)


@pytest.mark.parametrize("architecture", ["dense", "conv"])
def test_vae_shapes_and_loss_terms(architecture):
    torch.manual_seed(0)
    model = build_model("vae", {"architecture": architecture, "beta": 0.5})
    if architecture == "dense":  # the lecture's 784-512-2 encoder and mirrored decoder
        n = 784 * 512 + 512 + 2 * (512 * 2 + 2) + 2 * 512 + 512 + 512 * 784 + 784
        assert count_parameters(model) == n
    x = bars(128)
    assert model.encode(x).shape == (128, 2)
    assert model(x).shape == x.shape and float(model(x).max()) <= 1
    assert model.decode(torch.zeros(3, 2)).shape == (3, 1, 28, 28)
    terms = model.loss({"input": x, "target": x})
    assert float(terms["loss"]) == pytest.approx(
        float(terms["reconstruction"] + 0.5 * terms["kl"]), rel=1e-6
    )


def test_vae_mse_reconstruction_is_the_keras_pixels_times_mse():
    """The lecture VAE's loss: 784 x MSE of the sigmoid output + KL, per image."""
    torch.manual_seed(0)
    model = build_model("vae", {"reconstruction": "mse"})
    x = bars(16)
    gen_state = torch.get_rng_state()
    terms = model.loss({"input": x, "target": x})
    # the same sampled code by hand
    torch.set_rng_state(gen_state)
    mu, logvar = model.posterior(x)
    z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
    out = model.decode(z)
    expected = 784 * ((out - x) ** 2).mean(dim=(1, 2, 3)).mean()
    assert float(terms["reconstruction"]) == pytest.approx(float(expected), rel=1e-5)
    assert float(terms["loss"]) == pytest.approx(float(expected + terms["kl"]), rel=1e-5)
    # far below the BCE form on the same images (BCE of a pixel >= its squared error)
    bce = build_model("vae", {})
    bce.load_state_dict(model.state_dict())
    torch.set_rng_state(gen_state)
    assert float(bce.loss({"input": x, "target": x})["reconstruction"]) > float(expected)


def test_deep_dense_ae_mirrors_its_hidden_layers():
    model = build_model("dense_ae", {"hidden": [64, 16], "code_size": 4, "loss": "mse"})
    # 784-64-16-4 encoder, 4-16-64-784 decoder
    n = (784 * 64 + 64) + (64 * 16 + 16) + (16 * 4 + 4) + (4 * 16 + 16) + (16 * 64 + 64)
    assert count_parameters(model) == n + 64 * 784 + 784
    x = bars(8)
    assert model.encode(x).shape == (8, 4)
    assert model(x).shape == x.shape
    assert model.decode(torch.zeros(2, 4)).shape == (2, 1, 28, 28)
    assert count_parameters(build_model("dense_ae", {"hidden": []})) == 50_992
    with pytest.raises(ValueError, match=r"model_params\.contractive: the closed-form"):
        build_model("contractive_ae", {"hidden": [64]})


def test_rmsprop_takes_keras_defaults():
    from aeflow.training.recipe import make_optimizer

    params = [torch.nn.Parameter(torch.zeros(3))]
    tc = {"learning_rate": 1e-3, "weight_decay": 0.0, "optimizer": "rmsprop"}
    opt = make_optimizer(params, tc)
    assert isinstance(opt, torch.optim.RMSprop)
    group = opt.param_groups[0]
    assert (group["alpha"], group["eps"], group["lr"]) == (0.9, 1e-7, 1e-3)
    assert isinstance(make_optimizer(params, tc | {"optimizer": "adam"}), torch.optim.Adam)


def test_bad_family_params_are_named():
    with pytest.raises(ValueError, match=r"model_params\.architecture"):
        build_model("vae", {"architecture": "rnn"})
    with pytest.raises(ValueError, match=r"model_params\.reconstruction"):
        build_model("vae", {"reconstruction": "l1"})
    with pytest.raises(ValueError, match=r"model_params\.code_activation"):
        build_model("sparse_ae", {"code_activation": "tanh"})
    with pytest.raises(ValueError, match=r"model_params\.layers"):
        build_model("stacked_ae", {"layers": []})


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("dense_ae", {}),
        ("conv_ae", {}),
        ("stacked_ae", {"layers": [32, 8]}),
        ("vae", {}),
        ("linear_ae", {}),
    ],
)
def test_decode_of_encode_is_forward(name, params):
    torch.manual_seed(0)
    model = build_model(name, params).eval()
    x = torch.rand(3, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(model.decode(model.encode(x), x.shape[-2:]), model(x))
