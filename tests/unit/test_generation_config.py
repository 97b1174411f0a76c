"""The PCA Gaussian baseline of the generate stage, and the config checks and defaults of
generative experiments."""

import numpy as np
import pytest

from aeflow.config import ConfigError, validate_config
from aeflow.evaluation.baselines import pca_gaussian_samples
from conftest import GALAXIES


def test_pca_gaussian_samples_have_the_data_shape_and_range():
    rng = np.random.default_rng(0)
    train = rng.uniform(0.2, 0.6, size=(200, 3, 4, 4)).astype(np.float32)
    out = pca_gaussian_samples(train, 50, components=5, seed=1)
    assert out.shape == (50, 3, 4, 4) and out.dtype == np.float32
    assert out.min() >= 0.2 - 1e-6 and out.max() <= 0.6 + 1e-6
    assert np.allclose(out.mean(), train.mean(), atol=0.02)


def _config(model="gan", kind="galaxies", **exp):
    ds = dict(GALAXIES) if kind == "galaxies" else {"kind": kind, "source": "simulate"}
    return {
        "datasets": {"d": ds},
        "experiments": {"e": {"dataset": "d", "model": model, **exp}},
    }


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        (_config(model="dense_ae"), "experiments.e.task: denoise on clean images needs"),
        (_config(model="acgan", kind="airshowers"), "acgan needs class labels"),
        (_config(anomaly={}), "experiments.e.anomaly"),
        (_config(corrupt={"noise_sd": 0.1}), "experiments.e.corrupt: not available"),
        (_config(model_params={"betas": [0.5, 1.0]}), "experiments.e.model_params.betas"),
        (_config(generate={"n_samples": 3}), "experiments.e.generate.n_samples"),
        (
            {**_config(), "classifier": {"feature_dim": 1}},
            "classifier.feature_dim",
        ),
    ],
)
def test_bad_generative_configs_name_the_key(cfg, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        validate_config(cfg)


def test_generative_experiments_get_their_defaults():
    cfg = validate_config(_config(model="wgan_gp"))
    assert cfg["experiments"]["e"]["generate"]["k"] == 3
    assert cfg["classifier"]["epochs"] == 8
    assert cfg["datasets"]["d"]["preprocess"]["classes"]["barred_spiral"] == [5]


def test_autoencoders_on_a_generative_kind_are_judged_on_reconstructions():
    from aeflow.plan import is_generative

    cfg = validate_config(_config(model="conv_ae", task="colorize"))
    assert not is_generative(cfg["experiments"]["e"], cfg["datasets"])
    cfg = validate_config(_config(model="vae"))  # it samples: judged on its samples
    assert is_generative(cfg["experiments"]["e"], cfg["datasets"])
