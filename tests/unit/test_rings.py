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


def _ring_metrics(output, reference):
    """The ring block of ``output`` and its per-pattern ratios."""
    values = rings.ring_values(output, reference)
    return rings.ring_summary(values), {k: v for k, v in values.items() if k != "ringed"}


def test_ring_metrics_count_kept_and_lost_rings():
    truth = np.stack([_sphere_pattern(3.0), _sphere_pattern(2.0), _sphere_pattern(0.5)])
    # output 0 the truth; output 1 a sphere 20 % larger (ring moved in); output 2 no ring
    output = np.stack([_sphere_pattern(3.0), _sphere_pattern(2.4), _sphere_pattern(0.5)])
    reference = rings.Reference.of(truth)
    block, per_sample = _ring_metrics(output, reference)
    ratio = per_sample["radius_ratio"]
    assert block["n_with_rings"] == 2 and block["rings_kept"] == 1.0
    assert block["radius_within_tolerance"] == 0.5
    assert ratio[0] == pytest.approx(1.0) and ratio[1] == pytest.approx(1.2, rel=0.04)
    assert np.isnan(ratio[2])
    assert "sphere_fit" not in block and "fit_radius_ratio" not in per_sample  # no log scales
    # a flat output keeps no ring: none within tolerance, no error to take a median of
    block, per_sample = _ring_metrics(np.zeros_like(truth), reference)
    assert block["rings_kept"] == 0.0 and block["radius_within_tolerance"] == 0.0
    assert block["median_radius_error"] is None and np.isnan(per_sample["radius_ratio"]).all()


def test_no_patterns_no_rings():
    assert rings.radial_profile(np.zeros((0, 16, 16))).shape == (0, 8)
    empty = np.zeros((0, 16, 16))
    block, per_sample = _ring_metrics(empty, rings.Reference.of(empty, np.zeros(0)))
    assert block["n_with_rings"] == 0 and block["radius_within_tolerance"] is None
    assert block["sphere_fit"]["radius_within_tolerance_all"] is None
    assert per_sample["radius_ratio"].shape == per_sample["fit_radius_ratio"].shape == (0,)
    # a detector too small for the fit (6 rings beyond the forward peak needed): no radius
    small = rings.fit_sphere(np.ones((2, 16, 16)), np.ones(2))
    assert small["radius"].shape == (2,) and np.isnan(small["radius"]).all()


def _prepared(intensity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Intensities as the SAXS preparation scales them: log10(x + 1) / per-image maximum."""
    logged = np.log10(intensity + 1.0)
    scale = logged.max(axis=(1, 2))
    return logged / scale[:, None, None], scale


def _polydisperse(radius: float, poly: float, amplitude=1e5, background=2.0, size=SIZE):
    """Ring-free-by-construction check: the intensity of log-normally distributed spheres
    (number-mean ``radius`` in 1/q-pixel units, relative sd ``poly``), by brute-force
    sampling of radii rather than the fit's quadrature."""
    yy, xx = np.indices((size, size))
    k, pixel = np.unique(np.hypot(yy - size // 2, xx - size // 2), return_inverse=True)
    s = np.sqrt(np.log1p(poly**2))
    radii = radius * np.exp(s * np.random.default_rng(0).standard_normal(4000) - s**2 / 2)
    x = np.maximum(k[:, None] * radii, 1e-6)
    phi = 3 * (np.sin(x) - x * np.cos(x)) / x**3
    intensity = (radii**6 * phi**2).mean(-1)[pixel].reshape(size, size)
    return amplitude * intensity / intensity.max() + background


@pytest.mark.parametrize(("radius", "poly"), [(0.2, 0.0), (0.3, 0.1), (0.12, 0.2), (0.45, 0.25)])
def test_the_sphere_fit_finds_radius_and_polydispersity(radius, poly):
    images, scale = _prepared(_polydisperse(radius, poly)[None])
    fit = rings.fit_sphere(images, scale)
    assert fit["radius"][0] == pytest.approx(radius, rel=0.02)
    assert fit["polydispersity"][0] == pytest.approx(poly, abs=0.051)
    # the ring means of the intensity fitted with those of the model's (not of the log
    # intensity: 0.11 at the deep minima of (0.2, 0)); what is left comes from the test's
    # sampled radii against the fit's quadrature and grid of widths
    assert fit["rms_relative_residual"][0] < 0.08
    # amplitude and background do not matter; a flat image has no size to fit
    other, other_scale = _prepared(_polydisperse(radius, poly, amplitude=3e3, background=40)[None])
    assert rings.fit_sphere(other, other_scale)["radius"][0] == pytest.approx(radius, rel=0.02)


def test_the_sphere_fit_judges_outputs_against_the_true_patterns():
    truth, scale = _prepared(np.stack([_polydisperse(r, 0.1) for r in (0.2, 0.3, 0.12)]))
    larger, _ = _prepared(np.stack([_polydisperse(r, 0.1) for r in (0.2, 0.33, 0.18)]))
    # the ring scale of 'larger' is the truth's: the outputs are judged in the truths' scaling
    reference = rings.Reference.of(truth, scale)
    assert np.isfinite(reference.minimum[:2]).all() and np.isnan(reference.minimum[2])
    block, per_sample = _ring_metrics(larger, reference)
    np.testing.assert_allclose(per_sample["fit_radius_ratio"], [1.0, 1.1, 1.5], rtol=0.02)
    fit = block["sphere_fit"]
    assert fit["radius_within_tolerance"] == 0.5  # of the two ringed patterns
    assert fit["radius_within_tolerance_all"] == pytest.approx(1 / 3)
    assert fit["median_radius_error"] == pytest.approx(0.05, abs=0.02)


def _speckled(n: int, radius: float = 0.3, poly: float = 0.1):
    """Prepared patterns of one polydisperse intensity times fully developed speckle
    (exponential, mean 1, independent per pixel), and the intensity."""
    intensity = _polydisperse(radius, poly, amplitude=2e3)
    speckle = np.random.default_rng(1).exponential(1.0, (n, SIZE, SIZE))
    return (*_prepared(intensity * speckle), intensity)


def test_the_fit_averages_the_counts_over_rings():
    images, scale, intensity = _speckled(8)
    counts = intensity * np.random.default_rng(1).exponential(1.0, (8, SIZE, SIZE))
    np.testing.assert_allclose(
        rings.intensity_profile(images, scale), rings.radial_profile(counts + 1.0), rtol=1e-5
    )
    # the ring mean of the counts is the efficient estimate under speckle: the size is kept;
    # the ring mean of the log-counts is biased where the counts are few
    from_counts = rings.fit_sphere(images, scale)["radius"]
    assert np.abs(from_counts / 0.3 - 1).max() < 0.03
    log_profile = 10.0 ** (rings.radial_profile(images) * scale[:, None])
    assert not np.allclose(log_profile, rings.intensity_profile(images, scale), rtol=0.1)


def test_an_output_given_the_measured_ring_intensities():
    measured, scale, _ = _speckled(3)
    yy, xx = np.indices((SIZE, SIZE))
    angle = np.arctan2(yy - SIZE // 2, xx - SIZE // 2)
    output = np.broadcast_to(0.5 + 0.05 * np.cos(angle), measured.shape).astype(np.float32)
    restored = rings.with_measured_profile(output, measured, scale)
    assert restored.shape == output.shape and restored.dtype == np.float32
    # every ring's mean intensity is the measurement's (so is the fitted size) ...
    np.testing.assert_allclose(
        rings.intensity_profile(restored, scale),
        rings.intensity_profile(measured, scale),
        rtol=1e-4,
    )
    np.testing.assert_allclose(
        rings.fit_sphere(restored, scale)["radius"],
        rings.fit_sphere(measured, scale)["radius"],
        rtol=1e-3,
    )
    # ... and the output's structure within a ring is kept: one shift per ring
    index, _ = rings.ring_index(SIZE, SIZE)
    shift = (restored - output).reshape(3, -1)
    for ring in (3, 10, 25, 40):  # 40: a corner beyond the full rings
        assert np.ptp(shift[:, index == ring], axis=1).max() < 1e-5


def test_the_sphere_fit_recovers_the_simulated_radius():
    from aeflow.data.saxs import preprocess
    from aeflow.data.simulate.saxs import SaxsSimulation, simulate_saxs

    params = SaxsSimulation(radius_range=(2.0, 2.0), polydispersity_range=(0.1, 0.1))
    raw = simulate_saxs(16, params, np.random.default_rng(3))
    speckled, target, scale = preprocess(raw["speckle_images"], raw["target_images"])
    dq = 2 * np.pi / params.field_of_view  # radius in 1/q-pixel units: R * dq
    true_fit = rings.fit_sphere(target, scale)
    # each pattern holds ~40 spheres: its own mean radius scatters by a few per cent
    assert np.median(true_fit["radius"] / dq) == pytest.approx(2.0, rel=0.02)
    assert np.median(true_fit["polydispersity"]) == pytest.approx(0.1, abs=0.051)
    speckle_fit = rings.fit_sphere(speckled, scale)
    assert np.median(np.abs(speckle_fit["radius"] / true_fit["radius"] - 1)) < 0.05


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
