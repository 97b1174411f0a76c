"""The SAXS simulator behind the fetch stage, checked statistically: averaged over many
simulated draws, the speckled patterns give the target, and partial coherence lowers the
speckle contrast as it should. (Thousands of full-size simulations: tens of seconds, so not
in the unit tier; the simulator's formulas and raw format are in tests/unit.)"""

import numpy as np
import pytest

from aeflow.data.simulate.saxs import SaxsSimulation, expected_patterns, speckle_contrast


@pytest.mark.parametrize("coherence_length", [None, 4.0])
def test_target_is_the_speckle_average(coherence_length):
    """Averaging the speckled pattern over many position draws of identical particles gives
    the target at every pixel, the forward peak included (no edge-diffraction artefacts)."""
    # the central quarter of the default detector (same q spacing): a quarter of the work
    p = SaxsSimulation(
        image_size=32,
        field_of_view=32.0,
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
    assert ratio[16, 16] == pytest.approx(1.0, abs=0.1)
    if coherence_length is None:
        # the coherent forward peak is in the target too, far above the incoherent level
        assert averaged[:, 16, 16].mean() > 5 * averaged[:, 16, 20].mean()


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
