"""Procedural galaxy images in the Galaxy10 DECaLS layout: ellipticals, spirals, barred spirals.

Each galaxy is a sum of light profiles on the pixel grid (pixel centres at integer indices,
the galaxy centre at the image centre plus a small jitter), in a disk plane that is rotated by
a position angle and squashed by an axis ratio (the inclination) on the sky:

* elliptical ("round smooth", Galaxy10 class 2): one Sérsic profile
  ``I(r) ~ exp(-b_n ((r / r_e)^(1/n) - 1))`` with index n in ``sersic_range`` and axis ratio
  in ``elliptical_axis_ratio_range``.
* spiral ("unbarred loose spiral", class 7): an exponential disk of scale length
  ``h = r_e / 1.678`` (r_e its half-light radius) whose light is modulated by ``n_arms``
  logarithmic arms, ``1 + A(r) (c ((1 + cos psi) / 2)^s - 1)`` with
  ``psi = m (theta - chirality ln(r / h) / tan(pitch) - phi0)`` (unit mean over theta, so the
  arms redistribute the disk light without changing its profile; A fades in towards the
  centre), plus a small Sérsic bulge (index ``bulge_sersic``, radius ``bulge_radius`` x r_e)
  holding ``bulge_fraction`` of the light.
* barred spiral (class 5): the spiral plus a Ferrers bar ``(1 - m^2)^2`` (m^2 = (u/a)^2 +
  (v/b)^2) along its own angle through the centre, semi-major axis ``bar_length`` x r_e, axis
  ratio ``bar_axis_ratio``, ``bar_fraction`` of the light; the arms start at the bar ends.

Colours: the bulge, bar and ellipticals (old stars) have the RGB weights ``bulge_rgb``
(redder), disks and arms ``disk_rgb`` (bluer). The linear RGB flux is blurred by a Gaussian PSF
(``psf_sigma`` pixels), scaled so that the peak of the mean over channels is 1, and displayed
with an asinh stretch that keeps the colour ratios (``asinh_softening``: smaller shows fainter
outskirts); a pixel whose brightest channel would exceed 1 is scaled down as a whole (no colour
clipping). Then x ``brightness``, ``sky_level`` plus Gaussian sky noise (``noise_sd``, in the
displayed [0, 1] units), clipped to [0, 1] and stored as uint8 as in Galaxy10.

Sizes (``radius_range``, ``centre_jitter``) are fractions of the image size, so a dataset looks
the same at any ``image_size``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from scipy import ndimage, special

# The ten classes of Galaxy10 DECaLS (``ans`` in Galaxy10_DECals.h5).
GALAXY10_DECALS = {
    0: "disturbed",
    1: "merging",
    2: "round smooth",
    3: "in-between round smooth",
    4: "cigar shaped smooth",
    5: "barred spiral",
    6: "unbarred tight spiral",
    7: "unbarred loose spiral",
    8: "edge-on without bulge",
    9: "edge-on with bulge",
}

# The simulated classes, in the order of ``class_fractions``, and their Galaxy10 ids.
CLASSES = ("barred_spiral", "elliptical", "spiral")
GALAXY10_IDS = (5, 2, 7)


@dataclass(frozen=True)
class GalaxySimulation:
    """Parameters of the simulator (config key ``datasets.<name>.simulate``).

    ``*_range`` pairs are (low, high) of a uniform draw per galaxy; equal ends fix the value.
    """

    image_size: int = 64
    class_fractions: tuple[float, float, float] = (1.0, 1.0, 1.0)  # relative, normalized
    radius_range: tuple[float, float] = (0.08, 0.2)  # half-light radius / image size
    centre_jitter: float = 0.02  # sd of the centre offset / image size
    sersic_range: tuple[float, float] = (2.5, 5.0)  # ellipticals
    elliptical_axis_ratio_range: tuple[float, float] = (0.6, 1.0)
    disk_axis_ratio_range: tuple[float, float] = (0.4, 1.0)  # cos(inclination) of disks
    brightness_range: tuple[float, float] = (0.7, 1.0)  # displayed peak
    n_arms: int = 2
    pitch_range: tuple[float, float] = (10.0, 30.0)  # degrees
    arm_strength_range: tuple[float, float] = (0.6, 0.9)  # A: 0 no arms, 1 nothing between
    arm_sharpness: float = 2.0  # s: larger makes narrower arms
    bulge_fraction_range: tuple[float, float] = (0.05, 0.3)  # of a spiral's light
    bulge_radius: float = 0.25  # bulge half-light radius / disk half-light radius
    bulge_sersic: float = 2.0
    bar_length_range: tuple[float, float] = (0.6, 1.0)  # bar semi-major axis / disk r_e
    bar_axis_ratio_range: tuple[float, float] = (0.2, 0.35)
    bar_fraction_range: tuple[float, float] = (0.15, 0.3)  # of a barred spiral's light
    bulge_rgb: tuple[float, float, float] = (1.0, 0.78, 0.55)  # bulge, bar, ellipticals
    disk_rgb: tuple[float, float, float] = (0.6, 0.75, 1.0)  # disk and arms
    asinh_softening: float = 0.02
    psf_sigma: float = 1.0  # pixels; 0: no blur
    sky_level: float = 0.02
    noise_sd: float = 0.02

    def __post_init__(self) -> None:
        def fail(name: str, what: str) -> None:
            raise ValueError(f"simulate.{name} {what}")

        if int(self.image_size) != self.image_size or self.image_size < 8:
            fail("image_size", f"must be an integer >= 8, got {self.image_size}")
        if int(self.n_arms) != self.n_arms or self.n_arms < 1:
            fail("n_arms", f"must be an integer >= 1, got {self.n_arms}")
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.endswith("_range"):
                if len(value) != 2 or not value[0] <= value[1]:
                    fail(f.name, f"must be [low, high] with low <= high, got {list(value)}")
            elif f.name in ("class_fractions", "bulge_rgb", "disk_rgb") and (
                len(value) != 3 or min(value) < 0 or sum(value) <= 0
            ):
                fail(f.name, f"must be 3 non-negative numbers, not all 0, got {list(value)}")
        bounds = {  # name: (low, high, low open, high open)
            "radius_range": (0, 0.5, True, False),
            "sersic_range": (0.3, 10, False, False),
            "elliptical_axis_ratio_range": (0, 1, True, False),
            "disk_axis_ratio_range": (0, 1, True, False),
            "brightness_range": (0, 1, True, False),
            "pitch_range": (0, 90, True, True),
            "arm_strength_range": (0, 1, False, False),
            "bulge_fraction_range": (0, 1, False, True),
            "bar_length_range": (0, 5, True, False),
            "bar_axis_ratio_range": (0, 1, True, False),
            "bar_fraction_range": (0, 1, False, True),
            "centre_jitter": (0, 0.25, False, False),
            "arm_sharpness": (0, 20, False, False),
            "bulge_radius": (0, 5, True, False),
            "bulge_sersic": (0.3, 10, False, False),
            "asinh_softening": (0, np.inf, True, False),
            "psf_sigma": (0, np.inf, False, False),
            "sky_level": (0, 1, False, True),
            "noise_sd": (0, np.inf, False, False),
        }
        for name, (lo, hi, lo_open, hi_open) in bounds.items():
            value = getattr(self, name)
            for v in value if name.endswith("_range") else (value,):
                if (v <= lo if lo_open else v < lo) or (v >= hi if hi_open else v > hi):
                    interval = f"{'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}"
                    fail(name, f"must lie in {interval}, got {v}")
        if self.bulge_fraction_range[1] + self.bar_fraction_range[1] >= 1:
            fail("bar_fraction_range", "plus bulge_fraction_range must leave light for the disk")


def sersic_b(n: float) -> float:
    """b_n such that r_e encloses half the light of a Sérsic profile of index n."""
    return float(special.gammaincinv(2 * n, 0.5))


def _sersic(r: np.ndarray, r_e: float, n: float) -> np.ndarray:
    return np.exp(-sersic_b(n) * ((r / r_e) ** (1.0 / n) - 1.0))


def _unit_sum(a: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """``a`` scaled to unit sum; a component too small to cover a pixel centre (all zero)
    becomes a point at the pixel nearest the galaxy centre."""
    total = a.sum()
    if total > 0:
        return a / total
    point = np.zeros_like(a)
    point[tuple(np.clip(np.round(centre).astype(int), 0, np.array(a.shape) - 1))] = 1.0
    return point


def _arms(
    r: np.ndarray, theta: np.ndarray, h: float, p: GalaxySimulation, rng, start: tuple[float, float]
) -> np.ndarray:
    """Logarithmic-arm modulation of unit mean over theta, faded in inside ``start[0]``.

    ``start`` = (radius, angle) where the arms' first crest lies (the bar end)."""
    pitch = np.deg2rad(rng.uniform(*p.pitch_range))
    strength = rng.uniform(*p.arm_strength_range)
    chirality = rng.choice((-1.0, 1.0))
    r_in, angle_in = start
    winding = chirality * np.log(np.maximum(r, 1e-3) / h) / np.tan(pitch)
    phase0 = angle_in - chirality * np.log(r_in / h) / np.tan(pitch)
    crest = ((1 + np.cos(p.n_arms * (theta - winding - phase0))) / 2) ** p.arm_sharpness
    # mean of ((1 + cos)/2)^s over a period
    mean = special.gamma(p.arm_sharpness + 0.5) / (
        np.sqrt(np.pi) * special.gamma(p.arm_sharpness + 1)
    )
    fade = 1 - np.exp(-((r / r_in) ** 4))  # no arms inside the bar (or the inner disk)
    return 1 + strength * fade * (crest / mean - 1)


def galaxy_flux(kind: str, p: GalaxySimulation, rng: np.random.Generator) -> np.ndarray:
    """Linear RGB flux (H, W, 3) of one galaxy of ``kind`` (one of :data:`CLASSES`), before
    PSF, stretch and noise; the peak of the mean over channels is 1."""
    size = p.image_size
    centre = (size - 1) / 2 + rng.normal(0, p.centre_jitter * size, 2)
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    dy, dx = y - centre[0], x - centre[1]
    pa = rng.uniform(0, np.pi)
    # u along the major axis, w along the minor axis (v = w / q in the disk plane)
    u = dx * np.cos(pa) + dy * np.sin(pa)
    w = -dx * np.sin(pa) + dy * np.cos(pa)
    r_e = rng.uniform(*p.radius_range) * size
    soft = 0.5  # pixels: keeps a cusp's sampled peak finite (below the PSF scale)
    bulge_rgb, disk_rgb = np.asarray(p.bulge_rgb), np.asarray(p.disk_rgb)
    if kind == "elliptical":
        q = rng.uniform(*p.elliptical_axis_ratio_range)
        r = np.sqrt(u**2 + (w / q) ** 2 + soft**2)
        old = _sersic(r, r_e, rng.uniform(*p.sersic_range))
        flux = old[..., None] * bulge_rgb
    elif kind in ("spiral", "barred_spiral"):
        q = rng.uniform(*p.disk_axis_ratio_range)
        v = w / q
        r = np.hypot(u, v)
        theta = np.arctan2(v, u)
        h = r_e / 1.678  # exponential scale length of half-light radius r_e
        bulge_q = (1 + q) / 2  # bulges are thicker than disks
        bulge = _sersic(
            np.sqrt(u**2 + (w / bulge_q) ** 2 + soft**2), p.bulge_radius * r_e, p.bulge_sersic
        )
        f_bulge = rng.uniform(*p.bulge_fraction_range)
        f_bar = 0.0
        start = (h, rng.uniform(0, 2 * np.pi))
        if kind == "barred_spiral":
            bar_angle = rng.uniform(0, np.pi)
            # at least a pixel across: a bar between the pixel centres would vanish
            a = max(rng.uniform(*p.bar_length_range) * r_e, 1.0)
            b = max(a * rng.uniform(*p.bar_axis_ratio_range), 1.0)
            bu = u * np.cos(bar_angle) + v * np.sin(bar_angle)
            bv = -u * np.sin(bar_angle) + v * np.cos(bar_angle)
            bar = np.clip(1 - (bu / a) ** 2 - (bv / b) ** 2, 0, None) ** 2
            f_bar = rng.uniform(*p.bar_fraction_range)
            start = (a, bar_angle)
        disk = np.exp(-r / h) * _arms(r, theta, h, p, rng, start)
        # light fractions as measured on the grid (what the image shows)
        old = f_bulge * _unit_sum(bulge, centre)
        if f_bar:
            old = old + f_bar * _unit_sum(bar, centre)
        young = (1 - f_bulge - f_bar) * _unit_sum(disk, centre)
        flux = old[..., None] * bulge_rgb + young[..., None] * disk_rgb
    else:
        raise ValueError(f"unknown galaxy kind {kind!r} (known: {', '.join(CLASSES)})")
    return flux / flux.mean(axis=-1).max()


def render(flux: np.ndarray, p: GalaxySimulation, rng: np.random.Generator) -> np.ndarray:
    """PSF, colour-preserving asinh stretch, brightness, sky and noise: uint8 (H, W, 3)."""
    if p.psf_sigma > 0:
        flux = ndimage.gaussian_filter(flux, sigma=(p.psf_sigma, p.psf_sigma, 0), mode="constant")
    intensity = flux.mean(axis=-1, keepdims=True)
    peak = intensity.max()
    stretched = np.arcsinh(intensity / (p.asinh_softening * peak)) / np.arcsinh(
        1 / p.asinh_softening
    )
    rgb = flux * np.divide(stretched, intensity, out=np.zeros_like(intensity), where=intensity > 0)
    rgb /= np.maximum(rgb.max(axis=-1, keepdims=True), 1.0)  # no channel above 1, same colour
    rgb = rgb * rng.uniform(*p.brightness_range) + p.sky_level
    if p.noise_sd > 0:
        rgb = rgb + rng.normal(0, p.noise_sd, rgb.shape)
    return np.round(np.clip(rgb, 0, 1) * 255).astype(np.uint8)


def simulate_galaxies(
    n: int, p: GalaxySimulation, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """The Galaxy10 layout: ``images`` uint8 (n, H, W, 3) and ``ans`` (n,) Galaxy10 DECaLS
    ids (5 barred spiral, 2 round smooth = elliptical, 7 unbarred loose spiral)."""
    fractions = np.asarray(p.class_fractions, dtype=np.float64)
    which = rng.choice(len(CLASSES), size=n, p=fractions / fractions.sum())
    images = np.empty((n, p.image_size, p.image_size, 3), np.uint8)
    for i, k in enumerate(which):
        images[i] = render(galaxy_flux(CLASSES[k], p, rng), p, rng)
    return {"images": images, "ans": np.asarray(GALAXY10_IDS, np.uint8)[which]}


def azimuthal_modes(image: np.ndarray, centre: tuple[float, float], radii, m: int) -> np.ndarray:
    """Azimuthal Fourier mode m of an image on circles of the given radii (pixels) around
    ``centre`` = (row, column): ``<I exp(-i m theta)> / <I>`` per radius (complex).

    ``abs`` is the relative amplitude (0 for an axisymmetric image; 1 at most), ``angle / m``
    the phase angle of the pattern's crest (theta from the +x (column) axis towards +y (row)).
    A colour image (H, W, 3) is averaged over channels. Bilinear sampling at >= 64 angles.
    """
    img = np.asarray(image, dtype=np.float64)
    if img.ndim == 3:
        img = img.mean(axis=-1)
    radii = np.atleast_1d(np.asarray(radii, dtype=np.float64))
    n_angles = max(64, int(np.ceil(8 * np.pi * radii.max())))
    theta = np.linspace(0, 2 * np.pi, n_angles, endpoint=False)
    rows = centre[0] + radii[:, None] * np.sin(theta)
    cols = centre[1] + radii[:, None] * np.cos(theta)
    values = ndimage.map_coordinates(img, [rows, cols], order=1, mode="nearest")
    mean = values.mean(axis=1)
    mode = (values * np.exp(-1j * m * theta)).mean(axis=1)
    return np.divide(mode, mean, out=np.zeros_like(mode), where=mean > 0)
