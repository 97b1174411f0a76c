import pytest
import torch

from aeflow.models import build_model, count_parameters, model_from_description


def test_skip_dae_matches_the_book():
    model = build_model("skip_dae")
    assert count_parameters(model) == 213_025
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 11
    assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) for c in convs)
    # the two output convolutions are linear (no ReLU after them)
    assert not any(isinstance(m, torch.nn.ReLU) for m in model.head.modules())


@pytest.mark.parametrize("size", [64, 32, 16])
def test_skip_dae_shapes(size):
    model = build_model("skip_dae").eval()
    x = torch.rand(3, 1, size, size)
    with torch.no_grad():
        assert model(x).shape == (3, 1, size, size)
        y = model.to(memory_format=torch.channels_last)(
            x.contiguous(memory_format=torch.channels_last)
        )
    assert y.shape == (3, 1, size, size)


def test_skip_connections_carry_information():
    """Zeroing the bottleneck must not zero the output: c1 and c2 skip around it."""
    model = build_model("skip_dae").eval()
    with torch.no_grad():
        for p in model.bottleneck.parameters():
            p.zero_()
        assert model(torch.rand(1, 1, 16, 16)).abs().sum() > 0


def test_width_changes_parameter_count():
    assert count_parameters(build_model("skip_dae", {"width": 8})) < 20_000


def test_description_roundtrip():
    model = build_model("skip_dae", {"width": 16})
    desc = model.describe()
    assert desc["model"] == "skip_dae" and desc["config"]["width"] == 16
    rebuilt = model_from_description(desc)
    assert count_parameters(rebuilt) == desc["n_parameters"]


def test_bad_model_params():
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['depth'\]"):
        build_model("skip_dae", {"depth": 3})
    with pytest.raises(ValueError, match="kernel_size"):
        build_model("skip_dae", {"kernel_size": 4})
    with pytest.raises(KeyError, match="unknown model"):
        build_model("nope")


def test_dense_ae_is_the_lecture_784_32_784():
    model = build_model("dense_ae")
    assert count_parameters(model) == 784 * 32 + 32 + 32 * 784 + 784  # 50,992
    x = torch.rand(5, 1, 28, 28)
    with torch.no_grad():
        y = model(x)
    assert y.shape == x.shape and float(y.min()) >= 0 and float(y.max()) <= 1
    assert model.encode(x).shape == (5, 32)


def test_conv_ae_has_a_4x4x8_code():
    model = build_model("conv_ae")
    # encoder 3x3 convs 1->16->8->8, decoder 8->8->8->16, head 16->1 (the Keras blog: 4,385)
    expected = sum(
        cin * cout * 9 + cout
        for cin, cout in [(1, 16), (16, 8), (8, 8), (8, 8), (8, 8), (8, 16), (16, 1)]
    )
    assert count_parameters(model) == expected == 4385
    x = torch.rand(3, 1, 28, 28)
    assert model.encode(x).shape == (3, 8, 4, 4)
    assert model(x).shape == x.shape
    assert model(torch.rand(2, 1, 40, 40)).shape == (2, 1, 40, 40)  # jet images too


@pytest.mark.parametrize(
    ("name", "params", "shape"),
    [("skip_dae", {"width": 4}, (10, 1, 16, 16)), ("galaxy_vae", {}, (6, 3, 16, 16))],
)
def test_mean_loss_is_the_batch_mean_of_the_loss(name, params, shape):
    """The test objective (computed in channels_last for images) is the sample-weighted mean
    of the model's own loss over batches, whatever the layout: a dense model that flattens
    3-channel images sees them in the same order."""
    import numpy as np

    from aeflow.models.inference import mean_loss

    model = build_model(name, params, in_channels=shape[1], image_size=shape[-1]).eval()
    x = np.random.default_rng(0).random(shape).astype(np.float32)
    expected = []
    torch.manual_seed(0)  # mean_loss's own seed: the VAE's sampled codes are the same draws
    with torch.no_grad():
        for start in range(0, len(x), 4):
            batch = torch.from_numpy(x[start : start + 4])
            loss = model.loss({"input": batch, "target": batch})["loss"]
            expected.append(float(loss) * len(batch))
    got = mean_loss(model, x, batch_size=4, device="cpu", seed=0)
    assert got == pytest.approx(sum(expected) / len(x), rel=1e-5)
