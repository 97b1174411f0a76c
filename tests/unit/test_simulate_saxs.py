import numpy as np
import pytest

from aeflow.data.simulate.saxs import (
    SaxsSimulation,
    simulate_saxs,
    sphere_form_factor,
)


def test_form_factor_limits_and_first_zero():
    r = np.array(2.0)
    volume = 4 / 3 * np.pi * 8
    assert sphere_form_factor(np.array(0.0), r) == pytest.approx(volume)
    assert sphere_form_factor(np.array(1e-4), r) == pytest.approx(volume, rel=1e-6)
    # first zero of 3(sin x - x cos x)/x^3 at x = 4.4934
    assert sphere_form_factor(np.array(4.4934 / 2.0), r) == pytest.approx(0.0, abs=1e-3 * volume)
    # continuous across the Taylor/closed-form switch
    x = np.array([0.0099, 0.0101]) / 2.0
    a, b = sphere_form_factor(x, r)
    assert a == pytest.approx(b, rel=1e-6)


def test_raw_format_and_counts():
    out = simulate_saxs(24, SaxsSimulation(), np.random.default_rng(0))
    assert set(out) == {"speckle_images", "target_images"}
    for a in out.values():
        assert a.shape == (24, 64, 64)
        assert a.dtype == np.float32
        assert np.isfinite(a).all() and (a >= 0).all()
    speckle = out["speckle_images"]
    assert np.array_equal(speckle, np.round(speckle))  # Poisson counts
    # intensities over several decades (Porod fall-off): a peak of >= 1e4 counts and a
    # good share of pixels with fewer than 100 counts in every image
    assert (speckle.max(axis=(1, 2)) >= 1e4 * 0.9).all()
    assert ((speckle < 100).mean(axis=(1, 2)) > 0.05).all()


def test_seeded_and_reproducible():
    p = SaxsSimulation()
    a = simulate_saxs(5, p, np.random.default_rng(7))["speckle_images"]
    b = simulate_saxs(5, p, np.random.default_rng(7))["speckle_images"]
    c = simulate_saxs(5, p, np.random.default_rng(8))["speckle_images"]
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_bad_parameters():
    with pytest.raises(ValueError, match="radius_range"):
        SaxsSimulation(radius_range=(3.0, 1.0))
    with pytest.raises(ValueError, match="image_size"):
        SaxsSimulation(image_size=30)
