"""Galaxies: the simulator's classes (azimuthal Fourier modes, colours), the Galaxy10 layout,
class mapping, split and resizing."""

import logging

import h5py
import numpy as np
import pytest

from aeflow.data import galaxies, kinds
from aeflow.data.simulate.galaxies import (
    GALAXY10_DECALS,
    GalaxySimulation,
    azimuthal_modes,
    galaxy_flux,
    simulate_galaxies,
)
from aeflow.data.sources import RawDataError

SIZE = 64
CENTRE = ((SIZE - 1) / 2, (SIZE - 1) / 2)
R_E = 0.15 * SIZE  # half-light radius of the clean galaxies, pixels
H = R_E / 1.678  # their disks' scale length
PITCH = 20.0
# No noise, PSF, sky or centre jitter; face-on disks, round ellipticals, fixed size and pitch.
CLEAN = {
    "image_size": SIZE,
    "psf_sigma": 0.0,
    "noise_sd": 0.0,
    "sky_level": 0.0,
    "centre_jitter": 0.0,
    "radius_range": (0.15, 0.15),
    "elliptical_axis_ratio_range": (1.0, 1.0),
    "disk_axis_ratio_range": (1.0, 1.0),
    "pitch_range": (PITCH, PITCH),
    "bar_length_range": (0.8, 0.8),  # bar semi-major axis 0.8 R_E = 7.7 pixels
    "asinh_softening": 0.1,
}
INNER = np.linspace(1.5, 3.5, 5)  # inside the bar
DISK = np.linspace(H, 2.5 * H, 12)


def _one_class(name: str, n: int = 12, seed: int = 0, **kw) -> np.ndarray:
    fractions = tuple(float(c == name) for c in galaxies.CLASS_NAMES)
    p = GalaxySimulation(**{**CLEAN, **kw}, class_fractions=fractions)
    return simulate_galaxies(n, p, np.random.default_rng(seed))["images"]


@pytest.fixture(scope="module")
def clean():
    return {name: _one_class(name) for name in galaxies.CLASS_NAMES}


def _modes(images: np.ndarray, radii: np.ndarray) -> np.ndarray:
    return np.array([azimuthal_modes(img, CENTRE, radii, 2) for img in images])


def test_shapes_dtypes_labels_and_fractions():
    p = GalaxySimulation(image_size=32, class_fractions=(2, 1, 1))
    out = simulate_galaxies(400, p, np.random.default_rng(0))
    assert out["images"].shape == (400, 32, 32, 3) and out["images"].dtype == np.uint8
    assert out["ans"].shape == (400,) and np.issubdtype(out["ans"].dtype, np.integer)
    assert set(np.unique(out["ans"])) == {2, 5, 7}
    fractions = [np.mean(out["ans"] == i) for i in (5, 2, 7)]  # barred, elliptical, spiral
    np.testing.assert_allclose(fractions, [0.5, 0.25, 0.25], atol=0.07)
    assert out["images"].max() > 200  # a bright centre, a dark sky
    assert np.median(out["images"][:, :3, :3]) < 20
    assert GALAXY10_DECALS[5] == "barred spiral" and GALAXY10_DECALS[2] == "round smooth"
    assert GALAXY10_DECALS[7] == "unbarred loose spiral" and len(GALAXY10_DECALS) == 10


def test_reproducible_with_a_seed():
    p = GalaxySimulation(image_size=32)
    a = simulate_galaxies(10, p, np.random.default_rng(5))
    b = simulate_galaxies(10, p, np.random.default_rng(5))
    c = simulate_galaxies(10, p, np.random.default_rng(6))
    for key in ("images", "ans"):
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["images"], c["images"])
    cfg = {"n_samples": 10, "seed": 5, "simulate": {"image_size": 32}}
    drawn = galaxies.simulate(cfg, 10, np.random.default_rng(5))
    np.testing.assert_array_equal(drawn["images"], a["images"])


def _red_over_blue(images: np.ndarray, mask: np.ndarray) -> np.ndarray:
    rgb = images.astype(np.float64)[:, mask]  # (n, pixels, 3)
    return rgb[..., 0].sum(axis=1) / rgb[..., 2].sum(axis=1)


def test_bulges_and_ellipticals_are_redder_than_disks():
    # default noise, sky and PSF, but centred (to know where the centre and the disk are)
    p = {"centre_jitter": 0.0, "radius_range": (0.15, 0.15)}
    ell = _one_class("elliptical", n=10, seed=1, **{**CLEAN, **p, "psf_sigma": 1.0})
    spi = _one_class("spiral", n=10, seed=1, **{**CLEAN, **p, "psf_sigma": 1.0})
    noisy = GalaxySimulation(image_size=SIZE, class_fractions=(0, 0, 1), **p)
    spi_noisy = simulate_galaxies(10, noisy, np.random.default_rng(1))["images"]
    y, x = np.mgrid[0:SIZE, 0:SIZE]
    r = np.hypot(y - CENTRE[0], x - CENTRE[1])
    centre, outer = r < 2, (r > 1.2 * R_E) & (r < 2 * R_E)
    assert (_red_over_blue(ell, centre) > 1.4).all()
    assert (_red_over_blue(spi, outer) < 0.8).all()
    assert (_red_over_blue(spi_noisy, outer) < 0.9).all()
    # within a spiral: the bulge redder than its disk
    assert (_red_over_blue(spi, centre) > _red_over_blue(spi, outer) + 0.2).all()


def test_round_ellipticals_have_no_m2_power(clean):
    amp = np.abs(_modes(clean["elliptical"], np.r_[INNER, DISK]))
    assert amp.max() < 0.01


def test_spirals_wind_with_their_pitch_angle(clean):
    a = _modes(clean["spiral"], DISK)
    assert (np.median(np.abs(a), axis=1) > 0.2).all()  # arm power in the disk
    phase = np.unwrap(np.angle(a), axis=1) / 2  # the crest's angle at each radius
    slope = np.array([np.polyfit(np.log(DISK), ph, 1)[0] for ph in phase])
    # a logarithmic spiral: theta = ln(r) / tan(pitch) + const, wound either way
    np.testing.assert_allclose(np.abs(slope), 1 / np.tan(np.deg2rad(PITCH)), rtol=0.1)
    assert np.ptp(phase, axis=1).min() > 1.0
    assert {np.sign(s) for s in slope} == {-1.0, 1.0}  # both chiralities drawn


def test_barred_spirals_have_a_straight_inner_m2(clean):
    bar, spiral = _modes(clean["barred_spiral"], INNER), _modes(clean["spiral"], INNER)
    assert (np.median(np.abs(bar), axis=1) > 0.08).all()
    assert (np.median(np.abs(spiral), axis=1) < 0.05).all()  # no bar: little inner m=2
    phase = np.unwrap(np.angle(bar), axis=1) / 2
    assert np.ptp(phase, axis=1).max() < 0.25  # one straight bar, not a winding arm
    outer = _modes(clean["barred_spiral"], DISK)
    assert (np.median(np.abs(outer), axis=1) > 0.2).all()  # and arms outside it


def test_linear_flux_components():
    p = GalaxySimulation(**{**CLEAN, "arm_strength_range": (0.0, 0.0)})
    flux = galaxy_flux("barred_spiral", p, np.random.default_rng(0))
    assert flux.shape == (SIZE, SIZE, 3) and flux.mean(axis=-1).max() == pytest.approx(1.0)
    a = azimuthal_modes(flux, CENTRE, [3.0, 5.0, 12.0], 2)
    assert abs(a[0]) > 0.3 and abs(a[2]) < 1e-3  # bar inside, a smooth disk outside
    with pytest.raises(ValueError, match="unknown galaxy kind"):
        galaxy_flux("irregular", p, np.random.default_rng(0))


@pytest.mark.parametrize(
    "section, key",
    [
        ({"radius_range": [0.3, 0.1]}, "simulate.radius_range"),
        ({"radius_range": [0.1, 0.7]}, "simulate.radius_range"),
        ({"class_fractions": [1, 1]}, "simulate.class_fractions"),
        ({"class_fractions": [0, 0, 0]}, "simulate.class_fractions"),
        ({"pitch_range": [0, 30]}, "simulate.pitch_range"),
        ({"image_size": 4}, "simulate.image_size"),
        ({"n_arms": 0}, "simulate.n_arms"),
        ({"disk_rgb": [1, -1, 1]}, "simulate.disk_rgb"),
        ({"noise_sd": -0.1}, "simulate.noise_sd"),
        ({"bulge_fraction_range": [0.5, 0.6], "bar_fraction_range": [0.4, 0.5]}, "simulate.bar_"),
    ],
)
def test_simulation_errors_name_the_key(section, key):
    with pytest.raises(ValueError, match=rf"^{key}"):
        galaxies.simulation({"simulate": section})


def test_simulation_from_yaml_lists():
    p = galaxies.simulation({"simulate": {"radius_range": [0.1, 0.1], "bulge_rgb": [1, 0, 0]}})
    assert p.radius_range == (0.1, 0.1) and p.bulge_rgb == (1, 0, 0)


def _raw(n=8, size=8, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    return {"images": images, "ans": rng.integers(0, 10, n).astype(np.uint8)}


@pytest.mark.parametrize(
    "change, pattern",
    [
        (lambda a: a.update(images=a["images"][..., 0]), r"x\.h5: key 'images' has shape"),
        (lambda a: a.update(images=a["images"][..., :2]), r"x\.h5: key 'images' has shape"),
        (lambda a: a.update(images=a["images"][:0], ans=a["ans"][:0]), r"key 'images' holds no"),
        (lambda a: a.update(ans=a["ans"][:-1]), r"x\.h5: key 'ans' has shape \(7,\)"),
        (lambda a: a.update(ans=a["ans"] - 3.0), r"x\.h5: key 'ans' must hold non-negative"),
        (lambda a: a.update(images=a["images"] * 2), r"x\.h5: key 'images'.*\[0, 1\].*image 0"),
        (lambda a: a.update(images=np.where(a["images"] > 0.99, np.nan, a["images"])), "NaN"),
        (lambda a: a.update(images=(a["images"] * 510).astype(np.int16)), "'images'.*8-bit"),
        (lambda a: a.update(images=a["images"] > 0.5), r"key 'images' has dtype bool"),
    ],
)
def test_check_raw_errors_name_path_and_key(change, pattern):
    arrays = _raw()
    arrays["images"] = arrays["images"] / np.float32(255.0)  # float in [0, 1]
    change(arrays)
    with pytest.raises(RawDataError, match=pattern):
        galaxies.check_raw(arrays, "x.h5")


def test_check_raw_scales():
    arrays = _raw()
    images, labels = galaxies.check_raw(arrays, "x.h5")
    assert images.dtype == np.uint8 and labels.dtype == np.int16  # scaled in prepare
    f_images, _ = galaxies.check_raw({**arrays, "images": arrays["images"] / 255.0}, "x.h5")
    assert f_images.dtype == np.float32 and f_images.max() <= 1
    i_images, _ = galaxies.check_raw({**arrays, "images": arrays["images"].astype(int)}, "x.h5")
    np.testing.assert_array_equal(i_images, arrays["images"])


CLASSES = {"barred_spiral": [5], "elliptical": [2, 3, 4], "spiral": [6, 7]}


def _cfg(image_size=16, classes=CLASSES, **split):
    return {
        "n_samples": 20,
        "seed": 0,
        "simulate": {"image_size": 32},
        "preprocess": {"image_size": image_size, "classes": classes},
        "split": {"n_train": None, "test_fraction": 0.2, "val_fraction": 0.1, "seed": 0, **split},
    }


def test_galaxy10_file_to_prepared_dataset(tmp_path):
    rng = np.random.default_rng(0)
    ans = np.array([5, 2, 3, 0, 7, 6, 8, 4, 5, 1, 2, 7, 9, 2, 6, 5] * 2, np.uint8)
    images = rng.integers(0, 256, (len(ans), 32, 32, 3), dtype=np.uint8)
    path = tmp_path / "Galaxy10_DECals.h5"
    with h5py.File(path, "w") as f:  # the Galaxy10 DECaLS layout (plus unused columns)
        f["images"] = images
        f["ans"] = ans
        f["ra"] = rng.uniform(0, 360, len(ans))
    arrays = kinds.read(galaxies, path)
    checked = galaxies.check_raw(arrays, str(path))
    cfg = _cfg()
    (kept_images, labels), split = galaxies.select_split(checked, cfg)
    mapped = np.isin(ans, [5, 2, 3, 4, 6, 7])
    assert len(labels) == mapped.sum() == 24
    expected = np.select([ans == 5, np.isin(ans, [2, 3, 4])], [0, 1], 2)[mapped]
    np.testing.assert_array_equal(labels, expected)
    assert list(np.unique(split)) == ["test", "train", "val"] and len(split) == 24
    assert (split == "test").sum() == round(0.2 * 24)
    ds = galaxies.prepare((kept_images, labels), cfg, str(path), split)
    assert ds["input"].dims == ("sample", "channel", "y", "x")
    assert ds["input"].shape == (24, 3, 16, 16) and ds["input"].dtype == np.float32
    np.testing.assert_array_equal(ds["target"].values, ds["input"].values)
    # 2x2 block mean of the kept images, channels first
    block = images[mapped].astype(np.float64).reshape(24, 16, 2, 16, 2, 3).mean((2, 4)) / 255
    np.testing.assert_allclose(ds["input"].values, block.transpose(0, 3, 1, 2), atol=1e-6)
    assert ds["label"].dtype == np.int16
    np.testing.assert_array_equal(ds["label"].values, expected)
    assert ds["label"].attrs["class_names"] == list(galaxies.CLASS_NAMES)
    assert ds.attrs["class_names"] == list(galaxies.CLASS_NAMES)
    assert "block mean" in ds.attrs["recipe"]
    np.testing.assert_array_equal(ds["sample"].values, np.arange(24))


def test_simulated_npz_through_the_kind(tmp_path):
    cfg = _cfg(image_size=32)
    path = tmp_path / "g.npz"
    np.savez(path, **galaxies.simulate(cfg, cfg["n_samples"], np.random.default_rng(0)))
    checked = galaxies.check_raw(kinds.read(galaxies, path), str(path))
    (images, labels), split = galaxies.select_split(checked, cfg)
    assert len(labels) == 20 and set(labels) <= {0, 1, 2}
    ds = galaxies.prepare((images, labels), cfg, str(path), split)
    assert ds["input"].shape == (20, 3, 32, 32)
    assert list(ds["channel"].values) == ["R", "G", "B"]
    np.testing.assert_allclose(ds["input"].values, images.transpose(0, 3, 1, 2) / 255, atol=1e-6)


def test_resize_crop_and_upscale_warning(caplog):
    images = np.random.default_rng(0).random((3, 30, 40, 3)).astype(np.float32)
    labels = np.array([0, 1, 2], np.int16)
    split = np.array(["train", "val", "test"], dtype=object)
    ds = galaxies.prepare((images, labels), _cfg(image_size=16), "x.npz", split)
    assert ds["input"].shape == (3, 3, 16, 16)
    assert ds["input"].min() >= 0 and ds["input"].max() <= 1
    assert "centre-cropped" in ds.attrs["recipe"] and "anti-aliased" in ds.attrs["recipe"]
    with caplog.at_level(logging.WARNING, logger="aeflow.data.galaxies"):
        ds = galaxies.prepare((images, labels), _cfg(image_size=48), "x.npz", split)
    assert ds["input"].shape == (3, 3, 48, 48)
    assert "upscaling" in caplog.text


def test_select_split_drops_unmapped_and_rejects_bad_classes():
    images = np.zeros((6, 4, 4, 3), np.uint8)
    raw = np.array([0, 5, 1, 7, 8, 2], np.int16)
    (kept, labels), split = galaxies.select_split((images, raw), _cfg())
    np.testing.assert_array_equal(labels, [0, 2, 1])
    assert len(kept) == len(split) == 3
    duplicate = {**CLASSES, "spiral": [6, 7, 5]}
    with pytest.raises(ValueError, match=r"^preprocess\.classes: raw class 5 is listed under both"):
        galaxies.select_split((images, raw), _cfg(classes=duplicate))
    with pytest.raises(ValueError, match=r"^preprocess\.classes: no sample .*0 \(disturbed\)"):
        galaxies.select_split((images[:1], raw[:1]), _cfg())
    with pytest.raises(ValueError, match=r"^preprocess\.classes: unknown class 'lenticular'"):
        galaxies.select_split((images, raw), _cfg(classes={"lenticular": [3]}))
    with pytest.raises(ValueError, match=r"^preprocess\.classes\.spiral: raw ids"):
        galaxies.select_split((images, raw), _cfg(classes={"spiral": [-1]}))
    with pytest.raises(ValueError, match=r"^split\.n_train"):
        galaxies.select_split((images, raw), _cfg(n_train=10))
