"""Colour: CIELAB against scikit-image, ΔE and the chroma error on hand-made colours, the
colour gradient of a red-centred galaxy, the colorization baselines, the grey inputs of
task colorize, and the conv autoencoder's colour output, Lab loss and starting bias."""

import numpy as np
import pytest
import torch
import xarray as xr

from aeflow.config import ConfigError, validate_config
from aeflow.data.tasks import with_task_inputs
from aeflow.evaluation import colour
from aeflow.evaluation.baselines import colorization_baselines
from aeflow.models import build_model
from conftest import GALAXIES


def _rgb(n=4, size=6, seed=0):
    return np.random.default_rng(seed).random((n, 3, size, size)).astype(np.float32)


def test_lab_agrees_with_scikit_image_in_numpy_and_torch():
    from skimage.color import rgb2lab

    x = _rgb()
    x[0, :, 0, 0] = 0  # black: the linear segment of the cube root
    expected = np.moveaxis(rgb2lab(np.moveaxis(x, 1, -1)), -1, 1)
    np.testing.assert_allclose(colour.rgb_to_lab(x), expected, atol=1e-4)
    t = torch.tensor(x, requires_grad=True)
    lab = colour.rgb_to_lab(t)
    np.testing.assert_allclose(lab.detach().numpy(), expected, atol=1e-3)
    lab.sum().backward()
    assert torch.isfinite(t.grad).all()


def test_delta_e_and_chroma_error_on_hand_made_colours():
    black, white = np.zeros((1, 3, 2, 2)), np.ones((1, 3, 2, 2))
    assert colour.delta_e(white, black)[0] == pytest.approx(100, abs=1e-3)  # L* 100 vs 0
    assert colour.chroma_error(white, black)[0] == pytest.approx(0, abs=0.01)  # both grey
    red = np.zeros((1, 3, 2, 2))
    red[:, 0] = 1
    assert colour.chroma_error(red, black)[0] > 50  # sRGB red: a* 80, b* 67
    assert colour.delta_e(red, red)[0] == 0


def test_luminance_weights_and_shape_check():
    grey = np.full((2, 3, 4, 4), 0.4, np.float32)
    np.testing.assert_allclose(colour.luminance(grey), 0.4, rtol=1e-6)  # weights sum to 1
    assert sum(colour.LUMA_WEIGHTS) == pytest.approx(1)
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        colour.luminance(grey[:, :2])


def test_a_red_centre_in_a_blue_disk_has_a_positive_colour_gradient():
    img = np.zeros((2, 3, 16, 16))
    img[:, 2] = 0.5  # blue everywhere
    img[0, 0, 6:10, 6:10], img[0, 2, 6:10, 6:10] = 0.8, 0.2  # a red centre in the first
    g = colour.colour_gradient(img)
    assert g[0] > 0.5 and g[1] == pytest.approx(0, abs=1e-6)


def test_colorization_baselines_on_data_they_can_explain():
    rng = np.random.default_rng(1)
    y = rng.uniform(0.05, 0.5, size=(50, 1, 5, 5))
    # every pixel's colour a fixed multiple of one grey level: each baseline's best case
    tint = np.array([1.2, 1.0, 0.6])[None, :, None, None]
    target = (y * tint).astype(np.float32)
    grey, mean_colour, linear = colorization_baselines(target)
    x = colour.luminance(target)
    assert [grey.name, mean_colour.name, linear.name] == ["grey", "mean_colour", "linear"]
    np.testing.assert_allclose(grey.apply(x)[:, 0], x, rtol=1e-6)  # R = G = B = Y
    np.testing.assert_allclose(mean_colour.apply(x), target, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(linear.apply(x), target, rtol=1e-3, atol=1e-4)
    assert np.abs(grey.apply(x) - target).max() > 0.05  # ... which the grey image is not


def _colour_store(channels=3, n=6):
    target = _rgb(n)[:, :channels]
    return xr.Dataset(
        {
            "input": (("sample", "channel", "y", "x"), target),
            "target": (("sample", "channel", "y", "x"), target),
        },
        coords={"sample": np.arange(n)},
        attrs={"dataset": "mine"},
    )


def test_task_colorize_gives_grey_inputs_read_lazily():
    ds = with_task_inputs(_colour_store(), {"task": "colorize"})
    assert ds["input"].dims == ("sample", "y", "x")
    np.testing.assert_allclose(
        ds["input"].isel(sample=[1, 4]).values, colour.luminance(ds["target"].values[[1, 4]])
    )
    with pytest.raises(ValueError, match=r"colorize needs colour images.*'mine'"):
        with_task_inputs(_colour_store(channels=1), {"task": "colorize"})


def test_conv_ae_maps_one_channel_to_three_and_starts_at_the_data_mean():
    model = build_model(
        "conv_ae",
        {"channels": [4, 8], "loss": "lab", "output_bias": "data_mean"},
        in_channels=1,
        out_channels=3,
        image_size=8,
    )
    x = torch.rand(5, 1, 8, 8)
    assert model(x).shape == (5, 3, 8, 8)
    targets = torch.full((10, 3, 8, 8), 0.1)
    targets[:, 0] = 0.3
    model.init_from_data(targets)
    np.testing.assert_allclose(torch.sigmoid(model.head.bias).detach(), [0.3, 0.1, 0.1], rtol=1e-5)
    loss = model.loss({"input": x, "target": torch.rand(5, 3, 8, 8)})["loss"]
    assert loss.item() > 0
    grey = build_model("conv_ae", {"channels": [4], "loss": "lab"}, in_channels=1)
    with pytest.raises(ValueError, match="'lab' compares colour images"):
        grey.loss({"input": x, "target": x})
    with pytest.raises(ValueError, match="'lab' needs output 'sigmoid'"):
        build_model("conv_ae", {"loss": "lab", "output": "linear"})
    with pytest.raises(ValueError, match="output_bias"):
        build_model("conv_ae", {"output_bias": "mean"})


def _galaxy_experiment(**exp):
    return {
        "datasets": {"g": dict(GALAXIES)},
        "experiments": {"e": {"dataset": "g", "model": "conv_ae", "task": "colorize", **exp}},
    }


@pytest.mark.parametrize(
    ("exp", "message"),
    [
        ({"model": "dense_ae"}, "experiments.e.model: colorize needs a model whose output"),
        ({"corrupt": {"noise_sd": 0.1}}, "experiments.e.corrupt: colorize takes none"),
    ],
)
def test_bad_colorize_configs_name_the_key(exp, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        validate_config(_galaxy_experiment(**exp))


@pytest.mark.parametrize(
    ("dataset", "model"),
    [
        ({"kind": "fashion_mnist", "source": "installed"}, "conv_ae"),  # grey images
        ({"kind": "radio", "source": "simulate"}, "conv1d_dae"),  # traces
    ],
)
def test_colorize_without_colour_images_is_refused_by_the_config_check(dataset, model):
    cfg = {
        "datasets": {"d": dataset},
        "experiments": {"e": {"dataset": "d", "model": model, "task": "colorize"}},
    }
    with pytest.raises(ConfigError, match=r"experiments\.e\.task: colorize needs colour images"):
        validate_config(cfg)


def test_lab_is_computed_in_float32_under_autocast():
    x = torch.rand(2, 3, 4, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        lab = colour.rgb_to_lab(x)
    assert lab.dtype == torch.float32
    np.testing.assert_allclose(
        lab.numpy(), colour.rgb_to_lab(x.numpy().astype(np.float64)), atol=1e-3
    )


def test_keep_luminance_gives_the_inputs_luminance_back():
    model = build_model(
        "conv_ae",
        {"channels": [4], "loss": "lab", "keep_luminance": True},
        in_channels=1,
        out_channels=3,
        image_size=8,
    )
    x = torch.rand(4, 1, 8, 8) * 0.5  # dim enough that no channel is clipped at 1
    out = model(x).detach().numpy()
    assert out.shape == (4, 3, 8, 8) and out.min() >= 0 and out.max() < 1  # nothing clipped
    np.testing.assert_allclose(colour.luminance(out), x[:, 0].numpy(), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="keep_luminance needs loss"):
        build_model("conv_ae", {"keep_luminance": True})  # bce
    grey = build_model("conv_ae", {"channels": [4], "loss": "mse", "keep_luminance": True})
    with pytest.raises(ValueError, match="maps a grey input to a colour output"):
        grey(torch.rand(2, 1, 8, 8))
