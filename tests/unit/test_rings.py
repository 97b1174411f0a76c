"""SAXS rings: radial profiles, the first form-factor minimum and the particle radius it
gives, on patterns made by hand from the sphere form factor."""

import numpy as np
import pytest

from aeflow.evaluation import rings

SIZE = 64


def _sphere_pattern(radius: float, dq: float = 2 * np.pi / 64) -> np.ndarray:
    """log10 of a sphere's |F|^2 on a 64x64 detector, q = 0 at pixel (32, 32), plus a flat
    background that keeps the log finite."""
    yy, xx = np.indices((SIZE, SIZE))
    x = np.hypot(yy - SIZE // 2, xx - SIZE // 2) * dq * radius
    x = np.where(x == 0, 1e-9, x)
    form = (3 * (np.sin(x) - x * np.cos(x)) / x**3) ** 2
    return np.log10(form + 1e-6)


def test_radial_profile_by_hand():
    flat = np.full((2, SIZE, SIZE), 3.0)
    np.testing.assert_allclose(rings.radial_profile(flat), 3.0)
    assert rings.radial_profile(flat).shape == (2, SIZE // 2)
    ring = np.zeros((1, 8, 8))
    ring[0, 4, 6] = ring[0, 4, 2] = ring[0, 6, 4] = ring[0, 2, 4] = 1.0  # on radius 2
    profile = rings.radial_profile(ring)[0]
    assert profile[2] > 0 and profile[0] == profile[1] == profile[3] == 0


@pytest.mark.parametrize("radius", [2.0, 2.5, 3.0])
def test_the_first_minimum_gives_the_sphere_radius(radius):
    dq = 2 * np.pi / 64
    r_min = rings.first_minimum(rings.radial_profile(_sphere_pattern(radius)[None]))[0]
    assert r_min == pytest.approx(rings.FIRST_ZERO / (radius * dq), rel=0.04)
    # a pattern without a ring within the detector (a small sphere): no minimum
    assert np.isnan(rings.first_minimum(rings.radial_profile(_sphere_pattern(0.5)[None]))[0])


def test_ring_metrics_count_kept_and_lost_rings():
    truth = np.stack([_sphere_pattern(3.0), _sphere_pattern(2.0), _sphere_pattern(0.5)])
    # output 0 the truth; output 1 a sphere 20 % larger (ring moved in); output 2 no ring
    output = np.stack([_sphere_pattern(3.0), _sphere_pattern(2.4), _sphere_pattern(0.5)])
    block, ratio = rings.ring_metrics(output, truth)
    assert block["n_with_rings"] == 2 and block["rings_kept"] == 1.0
    assert block["radius_within_tolerance"] == 0.5
    assert ratio[0] == pytest.approx(1.0) and ratio[1] == pytest.approx(1.2, rel=0.04)
    assert np.isnan(ratio[2])
    # a flat output keeps no ring: none within tolerance, no error to take a median of
    block, ratio = rings.ring_metrics(np.zeros_like(truth), truth)
    assert block["rings_kept"] == 0.0 and block["radius_within_tolerance"] == 0.0
    assert block["median_radius_error"] is None and np.isnan(ratio).all()


def test_no_patterns_no_rings():
    assert rings.radial_profile(np.zeros((0, 16, 16))).shape == (0, 8)
    block, ratio = rings.ring_metrics(np.zeros((0, 16, 16)), np.zeros((0, 16, 16)))
    assert block["n_with_rings"] == 0 and block["radius_within_tolerance"] is None
    assert ratio.shape == (0,)


def test_the_ring_loss_of_the_saxs_network():
    import torch

    from aeflow.models import build_model
    from aeflow.models.skip_dae import radial_profiles

    torch.manual_seed(0)
    x, t = torch.rand(3, 1, 16, 16), torch.rand(3, 1, 16, 16)
    # the differentiable profile is the evaluation's profile
    np.testing.assert_allclose(
        radial_profiles(t).numpy(), rings.radial_profile(t[:, 0].numpy()), rtol=1e-5
    )
    book = build_model("skip_dae", {})
    assert list(book.loss({"input": x, "target": t})) == ["loss"] and book.tracked_terms == ()
    model = build_model("skip_dae", {"profile_weight": 3.0, "profile_slope_weight": 30.0})
    model.load_state_dict(book.state_dict())
    terms = model.loss({"input": x, "target": t})
    with torch.no_grad():
        out = model(x)
        mse = torch.mean((out - t) ** 2)
        po, pt = radial_profiles(out), radial_profiles(t)
        profile = torch.mean((po - pt) ** 2)
        slope = torch.mean((po.diff(dim=-1) - pt.diff(dim=-1)) ** 2)
    assert model.tracked_terms == ("mse", "profile", "profile_slope")
    assert float(terms["mse"].detach()) == pytest.approx(float(mse), rel=1e-5)
    assert float(terms["loss"].detach()) == pytest.approx(
        float(mse + 3 * profile + 30 * slope), rel=1e-5
    )
    terms["loss"].backward()  # differentiable through the ring averages
    assert model.head[-1][0].weight.grad is not None
    with pytest.raises(ValueError, match="profile_weight must be >= 0"):
        build_model("skip_dae", {"profile_weight": -1.0})
