import pytest
import torch

from aeflow.config import load_schema
from aeflow.models import REGISTRY, build_model, count_parameters, model_from_description


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


def test_schema_lists_every_registered_model():
    schema = load_schema()
    assert set(schema["$defs"]["experiment"]["properties"]["model"]["enum"]) == set(REGISTRY)
