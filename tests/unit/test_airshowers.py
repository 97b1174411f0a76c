"""Air-shower footprints: the toy surface-detector simulator, the kind, the observables."""

import itertools

import numpy as np
import pytest
from scipy.stats import spearmanr

from aeflow.data import airshowers
from aeflow.data.simulate.airshowers import (
    AirShowerSimulation,
    expected_signals,
    simulate_airshowers,
    station_grid,
)
from aeflow.data.sources import RawDataError
from aeflow.evaluation.observables import compare_observables, footprint_observables

SPACING = 1500.0


@pytest.fixture(scope="module")
def simulated():
    return simulate_airshowers(3000, AirShowerSimulation(), np.random.default_rng(1))


def _cfg(**preprocess):
    return {
        "kind": "airshowers",
        "source": "simulate",
        "n_samples": 50,
        "seed": 5,
        "simulate": {"spacing_m": SPACING},
        "preprocess": preprocess,
    }


# ---- simulator --------------------------------------------------------------------------------
def test_layout_dtypes_and_reproducibility(simulated):
    m = simulated["shower_maps"]
    assert m.shape == (3000, 9, 9, 1) and m.dtype == np.float32
    assert simulated["energy"].shape == simulated["zenith"].shape == (3000,)
    assert simulated["azimuth"].shape == (3000,) and simulated["core"].shape == (3000, 2)
    again = simulate_airshowers(3000, AirShowerSimulation(), np.random.default_rng(1))
    for key, value in simulated.items():
        np.testing.assert_array_equal(again[key], value)
    other = simulate_airshowers(20, AirShowerSimulation(), np.random.default_rng(2))
    assert not np.array_equal(other["shower_maps"], m[:20])
    small = simulate_airshowers(4, AirShowerSimulation(n_stations=5), np.random.default_rng(0))
    assert small["shower_maps"].shape == (4, 5, 5, 1)


def test_parameter_ranges(simulated):
    e = np.log10(simulated["energy"])
    assert e.min() >= 18.5 and e.max() <= 20.0
    assert np.mean(e < 19.25) == pytest.approx(0.5, abs=0.05)  # uniform in log E
    z = simulated["zenith"]
    assert z.min() >= 0 and z.max() <= 60
    # uniform in sin^2: half the showers below sin^2 = 3/8, i.e. 37.8 degrees
    assert np.median(z) == pytest.approx(37.76, abs=2.0)
    assert np.abs(simulated["core"]).max() <= SPACING / 2
    flat = simulate_airshowers(
        2000, AirShowerSimulation(spectral_index=1.0), np.random.default_rng(3)
    )
    assert np.mean(np.log10(flat["energy"]) < 19.25) == pytest.approx(0.5, abs=0.05)


def test_poisson_integers_trigger_and_saturation(simulated):
    s = simulated["shower_maps"]
    np.testing.assert_array_equal(s, np.round(s))
    assert s.min() == 0 and s.max() == 1000  # saturated near the core
    p = AirShowerSimulation()
    exp = expected_signals(
        simulated["energy"], simulated["zenith"], simulated["azimuth"], simulated["core"], p
    )
    assert (s[..., 0][exp < p.trigger_threshold_vem] == 0).all()
    # Poisson: mean and variance of the count follow the expectation (unsaturated stations)
    band = (exp > 20) & (exp < 40)
    residual = s[..., 0][band] - exp[band]
    assert abs(residual.mean()) < 0.5
    assert (residual**2 / exp[band]).mean() == pytest.approx(1.0, abs=0.15)


def test_signals_fall_with_distance_from_the_core(simulated):
    x, y = station_grid(9, SPACING)
    core = simulated["core"]
    d = np.hypot(x[None] - core[:, 0, None, None], y[None] - core[:, 1, None, None])
    s = simulated["shower_maps"][..., 0]
    bins = np.arange(0, 6001, 1000)
    means = [s[(d >= a) & (d < b)].mean() for a, b in itertools.pairwise(bins)]
    assert all(m1 > m2 for m1, m2 in itertools.pairwise(means))
    assert means[0] > 30 * means[2]


def test_total_signal_and_triggered_stations_grow_with_energy(simulated):
    s = simulated["shower_maps"][..., 0]
    e = simulated["energy"]
    assert spearmanr(e, s.sum(axis=(1, 2))).statistic > 0.8
    n_trig = (s > 0).sum(axis=(1, 2))
    assert spearmanr(e, n_trig).statistic > 0.5
    low, high = e < 10**18.8, e > 10**19.3
    assert n_trig[high].mean() > n_trig[low].mean() + 3


def test_ldf_is_steeper_for_vertical_showers():
    p = AirShowerSimulation()
    n = 2
    e = np.full(n, 1e19)
    core = np.zeros((n, 2))
    exp = expected_signals(e, np.array([0.0, 60.0]), np.zeros(n), core, p)
    # stations 3 and 1 spacings along y (perpendicular to the azimuth: no projection effect)
    ratio = exp[:, 4 + 1, 4] / exp[:, 4 + 3, 4]
    assert ratio[0] > ratio[1]
    # in the shower plane, stations along the azimuth are closer to the axis when inclined
    assert exp[1, 4, 4 + 2] > exp[1, 4 + 2, 4]
    assert exp[0, 4, 4 + 2] == pytest.approx(exp[0, 4 + 2, 4])


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("n_stations", 2),
        ("spacing_m", 0.0),
        ("log10_energy_range", (19.0, 18.0)),
        ("zenith_max_deg", 80.0),
        ("ldf_beta_vertical", 0.5),
        ("saturation_vem", 1.0),
        ("spectral_index", -1.0),
    ],
)
def test_invalid_parameters_name_the_field(field, value):
    with pytest.raises(ValueError, match=f"simulate.{field}"):
        AirShowerSimulation(**{field: value})


def test_simulation_time():
    import time

    t = time.perf_counter()
    simulate_airshowers(20000, AirShowerSimulation(), np.random.default_rng(0))
    assert time.perf_counter() - t < 5.0


# ---- observables ------------------------------------------------------------------------------
def test_single_station_barycentre():
    s = np.zeros((2, 9, 9))
    s[0, 2, 6] = 50.0
    s[0, 0, 0] = 2.0  # below threshold: not read out, does not pull the barycentre
    s[1, 4, 4] = 1.0  # nothing triggered: no core, no signal read out
    obs = footprint_observables(s, SPACING)
    assert obs["core_x"][0] == pytest.approx(2 * SPACING)
    assert obs["core_y"][0] == pytest.approx(-2 * SPACING)
    assert np.isnan(obs["core_x"][1]) and np.isnan(obs["core_y"][1])
    np.testing.assert_array_equal(obs["n_triggered"], [1, 0])
    np.testing.assert_array_equal(obs["total_signal"], [50, 0])
    np.testing.assert_array_equal(obs["max_signal"], [50, 1])
    assert np.isnan(obs["lateral_slope"]).all()


def test_power_law_footprint_gives_the_slope():
    x, y = station_grid(9, SPACING)
    core = np.array([[0.0, 0.0], [300.0, -200.0]])
    r = np.hypot(x[None] - core[:, 0, None, None], y[None] - core[:, 1, None, None])
    s = 1e12 * np.maximum(r, 1.0) ** -2.5  # all above threshold
    s[0, 4, 4] = 0.0  # the station on the core
    obs = footprint_observables(s, SPACING)
    # symmetric around the centre: barycentre at the core, exact slope
    assert obs["core_x"][0] == pytest.approx(0, abs=1e-6)
    assert obs["core_y"][0] == pytest.approx(0, abs=1e-6)
    assert obs["lateral_slope"][0] == pytest.approx(-2.5, abs=1e-9)
    # off-centre core: the barycentre is pulled towards it and the slope roughly kept
    assert np.hypot(obs["core_x"][1] - 300, obs["core_y"][1] + 200) < 300
    assert obs["lateral_slope"][1] == pytest.approx(-2.5, abs=0.5)


def test_slope_needs_three_stations_at_different_distances():
    s = np.zeros((3, 9, 9))
    s[0, 4, 5], s[0, 4, 6] = 100.0, 10.0  # two stations
    s[1, 4, 3], s[1, 4, 5], s[1, 3, 4], s[1, 5, 4] = 20.0, 20.0, 20.0, 20.0  # one ring
    s[2, 4, 4], s[2, 4, 5], s[2, 4, 6], s[2, 4, 7] = 1000.0, 100.0, 10.0, 2.0  # 2 VEM: silent
    obs = footprint_observables(s, SPACING)
    assert np.isnan(obs["lateral_slope"]).all()
    np.testing.assert_array_equal(obs["n_triggered"], [2, 4, 3])


def test_observables_of_simulated_showers(simulated):
    s = simulated["shower_maps"][..., 0]
    obs = footprint_observables(s, SPACING)
    assert set(obs) == {
        "total_signal",
        "max_signal",
        "n_triggered",
        "core_x",
        "core_y",
        "lateral_slope",
    }
    assert all(v.shape == (3000,) for v in obs.values())
    core = simulated["core"]
    ok = obs["n_triggered"] >= 4
    err = np.hypot(obs["core_x"] - core[:, 0], obs["core_y"] - core[:, 1])[ok]
    assert np.median(err) < 400
    slope = obs["lateral_slope"]
    assert np.mean(np.isfinite(slope)) > 0.3
    assert -4.5 < np.nanmedian(slope) < -1.5


def test_compare_observables():
    rng = np.random.default_rng(0)
    a = {"x": rng.normal(0, 2, 500), "y": np.r_[rng.normal(0, 1, 100), np.nan]}
    same = compare_observables(a, a)
    assert same["x"]["wasserstein"] == 0 and same["y"]["wasserstein"] == 0
    assert same["y"]["n_real"] == 100
    shifted = compare_observables(a, {"x": a["x"] + 0.7, "z": a["x"]})
    assert set(shifted) == {"x"}
    assert shifted["x"]["wasserstein"] == pytest.approx(0.7)
    assert shifted["x"]["standardized_wasserstein"] == pytest.approx(0.7 / a["x"].std())
    assert shifted["x"]["generated_mean"] - shifted["x"]["real_mean"] == pytest.approx(0.7)
    assert shifted["x"]["generated_std"] == pytest.approx(shifted["x"]["real_std"])
    empty = compare_observables({"x": np.array([np.nan])}, {"x": np.ones(3)})
    assert empty["x"]["wasserstein"] is None and empty["x"]["real_mean"] is None


# ---- the kind: raw files, checks, preparation ---------------------------------------------------
def _book_file(path, n=12, extras=True, **override):
    rng = np.random.default_rng(0)
    arrays = {"shower_maps": rng.poisson(5.0, (n, 9, 9, 1)).astype(np.float32)}
    if extras:
        arrays.update(
            energy=np.full(n, 1e19),
            zenith=np.linspace(0, 50, n),
            azimuth=np.linspace(0, 300, n),
            core=rng.uniform(-700, 700, (n, 2)),
        )
    arrays.update(override)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    np.savez(path, **arrays)
    return path


def test_read_and_check_the_book_layout(tmp_path):
    path = _book_file(tmp_path / "showers.npz")
    arrays = airshowers.read_raw(path)
    assert set(arrays) == {"shower_maps", "energy", "zenith", "azimuth", "core"}
    signals, extras = airshowers.check_raw(arrays, str(path))
    assert signals.shape == (12, 9, 9) and signals.dtype == np.float64
    assert extras["core"].shape == (12, 2)
    bare = _book_file(tmp_path / "bare.npz", extras=False)
    signals, extras = airshowers.check_raw(airshowers.read_raw(bare), str(bare))
    assert extras == {} and signals.shape == (12, 9, 9)
    # (N, H, W) without a channel is accepted too
    signals, _ = airshowers.check_raw({"shower_maps": np.ones((3, 9, 9))}, "x.npz")
    assert signals.shape == (3, 9, 9)
    assert airshowers.read_raw(tmp_path / "showers.h5") is None


@pytest.mark.parametrize(
    ("override", "key", "message"),
    [
        ({"shower_maps": np.full((4, 9, 9, 1), np.nan)}, "shower_maps", "NaN"),
        ({"shower_maps": -np.ones((4, 9, 9, 1))}, "shower_maps", "negative"),
        ({"shower_maps": np.ones((4, 81))}, "shower_maps", "shape"),
        ({"shower_maps": np.ones((4, 9, 8, 1))}, "shower_maps", "square"),
        ({"energy": np.ones(5)}, "energy", "shape"),
        ({"core": np.ones((12, 3))}, "core", "shape"),
        ({"zenith": np.r_[np.ones(11), np.inf]}, "zenith", "NaN"),
    ],
)
def test_check_raw_errors_name_file_and_key(tmp_path, override, key, message):
    path = _book_file(tmp_path / "bad.npz", **override)
    with pytest.raises(RawDataError, match=message) as err:
        airshowers.check_raw(airshowers.read_raw(path), str(path))
    assert str(path) in str(err.value) and repr(key) in str(err.value)


def test_missing_shower_maps_names_file_and_key(tmp_path):
    path = tmp_path / "nomaps.npz"
    np.savez(path, energy=np.ones(3))
    with pytest.raises(RawDataError, match="'shower_maps'") as err:
        airshowers.read_raw(path)
    assert str(path) in str(err.value)


def test_prepare_scales_by_the_training_split(tmp_path):
    signals = np.zeros((6, 9, 9))
    signals[:, 4, 4] = [10, 99, 5, 2000, 7, 3]
    signals[:, 4, 5] = 4
    extras = {"energy": np.arange(1, 7) * 1e18, "core": np.ones((6, 2))}
    split = np.array(["train", "train", "val", "test", "train", "val"])
    ds = airshowers.prepare((signals, extras), _cfg(), "raw.npz", split)
    assert ds["input"].dims == ("sample", "y", "x") and ds["input"].dtype == np.float32
    np.testing.assert_array_equal(ds["input"].values, ds["target"].values)
    assert ds.attrs["signal_transform"] == "log1p"
    assert ds.attrs["signal_scale"] == pytest.approx(2.0)  # log10(1 + 99): train only
    assert ds.attrs["spacing_m"] == SPACING and "recipe" in ds.attrs
    train = ds["input"].values[split == "train"]
    assert train.min() >= 0 and train.max() == pytest.approx(1.0)
    assert ds["input"].values.max() > 1  # the test footprint's 2000 VEM, not seen in training
    assert ds["energy"].attrs["units"] == "eV" and ds["core_x"].attrs["units"] == "m"
    # station positions in metres, the array centre at 0
    np.testing.assert_allclose(ds["x"].values, (np.arange(9) - 4) * SPACING)
    assert ds["y"].attrs["units"] == "m" and ds["input"].attrs["units"] == "1"
    assert "zenith" not in ds
    back = airshowers.to_signal(ds["input"].values, ds.attrs)
    np.testing.assert_allclose(back, signals, rtol=1e-5, atol=1e-4)
    exact = airshowers.to_signal(airshowers.from_signal(signals, ds.attrs), ds.attrs)
    np.testing.assert_allclose(exact, signals, rtol=1e-12, atol=1e-10)
    assert (airshowers.to_signal(np.array([-0.5, -1e-3]), ds.attrs) == 0).all()

    linear = airshowers.prepare((signals, {}), _cfg(transform="none"), "raw.npz", split)
    assert linear.attrs["signal_scale"] == 99.0
    np.testing.assert_allclose(airshowers.to_signal(linear["input"].values, linear.attrs), signals)
    with pytest.raises(ValueError, match=r"preprocess\.transform"):
        airshowers.prepare((signals, {}), _cfg(transform="sqrt"), "raw.npz", split)


def test_simulate_then_check_and_prepare():
    cfg = _cfg()
    raw = airshowers.simulate(cfg, cfg["n_samples"], np.random.default_rng(cfg["seed"]))
    assert raw["shower_maps"].shape == (50, 9, 9, 1)
    assert airshowers.simulation(cfg).spacing_m == SPACING
    checked = airshowers.check_raw(raw, "simulated")
    split = np.where(np.arange(50) < 40, "train", "test")
    ds = airshowers.prepare(checked, cfg, "simulated", split)
    assert set(ds.data_vars) >= {"input", "target", "energy", "zenith", "core_x", "core_y"}
    assert airshowers.KINDS[0].modality == "images" and airshowers.RAW_KEYS == ("shower_maps",)


def test_object_extras_are_refused(tmp_path):
    path = tmp_path / "pickled.npz"
    np.savez(path, shower_maps=np.ones((2, 9, 9, 1)), energy=np.array([1, "a"], dtype=object))
    with pytest.raises(RawDataError, match="'energy'") as err:
        airshowers.read_raw(path, name="book file")
    assert "book file" in str(err.value)


def test_saturated_stations_are_counted_at_the_top_of_the_scale():
    """n_saturated: stations at the largest training signal (1000 VEM here) count, a
    generator's 930 VEM (0.99 of the scaled top) does not."""
    from aeflow.evaluation.observables import SATURATED_FRACTION, observables_of

    signals = np.zeros((4, 9, 9))
    signals[:, 4, 4] = 1000.0  # saturated in every footprint
    signals[0, 4, 3] = 1000.0
    signals[1, 4, 3] = 500.0
    split = np.array(["train", "train", "test", "test"])
    ds = airshowers.prepare((signals, {}), _cfg(), "raw.npz", split)
    images = ds["input"].values[:, None]
    obs = observables_of(ds, images)
    np.testing.assert_array_equal(obs["n_saturated"], [2, 1, 1, 1])
    near = images.copy()
    near[:, 0, 4, 4] = 0.99  # a sigmoid's approach to the top: about 930 VEM
    assert 900 < airshowers.to_signal(np.float64(0.99), ds.attrs) < 1000 * SATURATED_FRACTION
    np.testing.assert_array_equal(observables_of(ds, near)["n_saturated"], [1, 0, 0, 0])
    assert "n_saturated" not in footprint_observables(signals, SPACING)  # no level given
