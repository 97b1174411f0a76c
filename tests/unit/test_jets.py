"""Jets: the toy shower's mass peaks, the jet-image recipe, the top-tagging HDF5 reader."""

import h5py
import numpy as np
import pytest

from aeflow.config import ConfigError, validate_config
from aeflow.data import jets
from aeflow.data.simulate.jets import (
    M_W,
    JetSimulation,
    boost,
    invariant_mass,
    simulate_jet,
    simulate_jets,
)
from aeflow.data.sources import RawDataError


@pytest.fixture(scope="module")
def simulated():
    return simulate_jets(1200, JetSimulation(), np.random.default_rng(1))


def test_mass_peaks_of_qcd_and_top_jets(simulated):
    c = simulated["constituents"].astype(np.float64)
    mass = invariant_mass(c)
    top = simulated["is_signal_new"] == 1
    assert 0.4 < top.mean() < 0.6
    hist, edges = np.histogram(mass[top], bins=np.arange(0, 300, 10))
    assert 150 <= edges[hist.argmax()] <= 190  # the top peak
    assert np.mean((mass[top] > 140) & (mass[top] < 200)) > 0.6
    assert np.median(mass[~top]) < 90  # one hard prong: light
    assert np.mean((mass[~top] > 140) & (mass[~top] < 200)) < 0.2
    pt = np.hypot(c[..., 1].sum(1), c[..., 2].sum(1))
    assert 560 < np.median(pt) < 640


def test_top_partons_form_the_w_and_top_masses():
    rng = np.random.default_rng(2)
    for _ in range(20):
        _, partons = simulate_jet(True, JetSimulation(), rng)
        assert invariant_mass(partons[1:]) == pytest.approx(M_W, rel=1e-6)
        assert invariant_mass(partons) == pytest.approx(173.0, rel=1e-6)


def test_boost_preserves_mass():
    p = np.array([10.0, 1.0, 2.0, 3.0])
    assert invariant_mass(boost(p, np.array([0.3, -0.2, 0.5]))) == pytest.approx(invariant_mass(p))


def _constituent(pt, eta, phi):
    return [pt * np.cosh(eta), pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)]


def test_jet_image_recipe_by_hand():
    # three particles along a line tilted by 45 degrees, near phi = pi (wrap-around)
    c = np.array(
        [
            [
                _constituent(100, 0.5, np.pi - 0.01),
                _constituent(50, 0.7, -np.pi + 0.19),  # across the +-pi seam
                _constituent(20, 0.3, np.pi - 0.21),
            ]
        ]
    )
    img = jets.jet_images(c, n_pixels=40, radius=0.8)[0]
    assert img.shape == (40, 40) and img.sum() == pytest.approx(1.0)
    _, cols = np.nonzero(img)
    # rotated onto the vertical axis: all three in the two central columns
    assert set(cols) <= {19, 20}
    # centred on the pt centroid, and the harder half up (rows grow with phi)
    y = (np.arange(40) + 0.5) * 0.04 - 0.8
    assert abs((img.sum(axis=1) * y).sum()) < 0.03
    assert img[20:].sum() > img[:20].sum()


def test_images_of_simulated_jets(simulated):
    img = jets.jet_images(simulated["constituents"][:200])
    np.testing.assert_allclose(img.sum(axis=(1, 2)), 1.0, rtol=1e-5)
    mean = img.mean(axis=0)
    assert mean[18:22, 18:22].sum() > 0.3  # the hard core at the centre
    assert mean[20:].sum() >= mean[:20].sum() and mean[:, 20:].sum() >= mean[:, :20].sum()


def test_reader_errors_name_the_file(tmp_path, simulated):
    path = tmp_path / "bad.h5"
    with h5py.File(path, "w") as f:
        f["table/block0_items"] = np.array(["E_0", "PX_0"], dtype="S")
        f["table/block0_values"] = np.zeros((3, 2))
    with pytest.raises(RawDataError, match=r"bad\.h5: .*is_signal_new"):
        jets.read_raw(path)
    raw = {k: v[:5].copy() for k, v in simulated.items()}
    raw["constituents"][2] = 0
    with pytest.raises(RawDataError, match=r"x\.npz: .*jet 2 has no constituent"):
        jets.check_raw(raw, "x.npz")
    raw = {k: v[:5].copy() for k, v in simulated.items()}
    raw["is_signal_new"][0] = 3
    with pytest.raises(RawDataError, match="0 \\(QCD\\) or 1 \\(top\\)"):
        jets.check_raw(raw, "x.npz")


def test_jets_config():
    cfg = {
        "datasets": {"j": {"kind": "jets", "source": "simulate", "simulate": {"theta_min": 1.0}}},
        "experiments": {"e": {"dataset": "j", "model": "skip_dae", "task": "reconstruct"}},
    }
    with pytest.raises(ConfigError, match=r"datasets\.j\.simulate\.theta_min"):
        validate_config(cfg)


def test_a_shower_that_leaves_the_cone_is_drawn_again():
    """Hard wide-angle emissions near |eta| = 1.5 push every particle out of the cone in
    most showers; every jet of the sample still has constituents."""
    hard = JetSimulation(
        soft_particles=0.0, qcd_emissions=6.0, theta_min=0.6, z_min=0.3, eta_range=(1.4, 1.5)
    )
    c = simulate_jets(100, hard, np.random.default_rng(0))["constituents"]
    assert (c[..., 0] > 0).any(axis=1).all()
    # far forward every particle of such a shower lands beyond the cone: a clear error
    hopeless = JetSimulation(
        soft_particles=0.0,
        qcd_emissions=60.0,
        theta_min=0.7,
        z_min=0.45,
        radius=0.75,
        eta_range=(3.9, 4.0),
        signal_fraction=0.0,
    )
    with pytest.raises(ValueError, match="too hard"):
        simulate_jets(1, hopeless, np.random.default_rng(0))
