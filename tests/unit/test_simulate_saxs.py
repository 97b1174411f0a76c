import numpy as np
import pytest

from aeflow.data.simulate.saxs import (
    SaxsSimulation,
    expected_patterns,
    simulate_saxs,
    speckle_contrast,
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


@pytest.mark.parametrize("coherence_length", [None, 4.0])
def test_target_is_the_speckle_average(coherence_length):
    """Averaging the speckled pattern over many position draws of identical particles gives
    the target at every pixel, the forward peak included (no edge-diffraction artefacts)."""
    p = SaxsSimulation(
        mean_particles=30,
        radius_range=(2.0, 2.0),
        polydispersity_range=(0, 0),
        coherence_length=coherence_length,
    )
    speckled, averaged = expected_patterns(1000, p, np.random.default_rng(1))
    ratio = speckled.mean(axis=0) / averaged.mean(axis=0)
    # exponential speckle statistics: the mean of 1000 draws is within ~4 % (1 sigma)
    assert np.abs(ratio - 1).max() < 0.2
    assert np.abs(ratio - 1).mean() < 0.04
    assert ratio[32, 32] == pytest.approx(1.0, abs=0.1)
    if coherence_length is None:
        # the coherent forward peak is in the target too, far above the incoherent level
        assert averaged[:, 32, 32].mean() > 5 * averaged[:, 32, 36].mean()


def test_speckle_contrast_coherent_vs_partial():
    coherent = SaxsSimulation()
    partial = SaxsSimulation(coherence_length=5.0)  # the default config's partial set
    s, i = expected_patterns(100, coherent, np.random.default_rng(2))
    c_full = speckle_contrast(s, i, q_min_pixels=4)
    s, i = expected_patterns(100, partial, np.random.default_rng(2))
    c_part = speckle_contrast(s, i, q_min_pixels=4)
    assert 0.9 < c_full < 1.1  # fully developed speckle
    assert c_part < 0.6 * c_full
    assert 0.2 < c_part < 0.4  # ~ 1/sqrt(effective number of modes)


def test_bad_parameters():
    with pytest.raises(ValueError, match="radius_range"):
        SaxsSimulation(radius_range=(3.0, 1.0))
    with pytest.raises(ValueError, match="image_size"):
        SaxsSimulation(image_size=30)
