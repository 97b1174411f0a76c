"""Small-angle X-ray scattering (SAXS) of random nanoparticle arrangements, with speckle.

Physics. A sample holds ``n`` spheres of radius ``R_j`` at transverse positions ``r_j``. In the
far field (Born approximation) the scattered amplitude at momentum transfer ``q`` in the
detector plane is

    A(q) = sum_j F(q; R_j) exp(-i q . r_j),    F(q; R) = V(R) * 3 [sin(qR) - qR cos(qR)] / (qR)^3

(the sphere form factor; the projection of a sphere onto the detector plane is the q_z = 0
cut of its 3-D transform). A fully coherent beam records ``|A(q)|^2``: the interference
between particles makes speckle, with exponential intensity statistics (contrast 1). The
speckle average over particle positions is the *incoherent* pattern ``sum_j |F(q; R_j)|^2``
of the same sample: the clean target.

Partial coherence: with a transverse coherence length ``xi`` shorter than the illuminated
area, particles in different coherence patches (squares of side ``xi``) do not interfere; the
pattern is the incoherent sum of the mutually incoherent modes,
``sum_m |sum_{j in m} F_j exp(-i q.r_j)|^2``. Speckle contrast falls roughly as
``1 / sqrt(number of patches)`` and grains grow as patches shrink.

Detection: the expected coherent pattern is scaled so that its peak (at q = 0) holds
``peak_counts`` photons, plus a flat background; the recorded image is a Poisson draw. The
target is the expected incoherent pattern on the same scale (noise free). Counts span
several decades (Porod's q^-4 fall-off), hence the log scale in preprocessing.

Units: lengths in arbitrary units ``a``; ``dq = 2 pi / field_of_view`` per detector pixel.
The detector is ``image_size`` pixels square with q = 0 at pixel ``image_size // 2``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SaxsSimulation:
    """Parameters of the simulator (config key ``datasets.<name>.simulate``)."""

    image_size: int = 64
    field_of_view: float = 64.0
    illuminated_size: float = 24.0
    mean_particles: float = 40.0
    radius_range: tuple[float, float] = (1.0, 3.0)
    polydispersity_range: tuple[float, float] = (0.05, 0.25)
    peak_counts_range: tuple[float, float] = (1.0e4, 1.0e6)
    background_counts: float = 0.5
    coherence_length: float | None = None
    chunk_size: int = 32

    def __post_init__(self) -> None:
        for name in ("radius_range", "polydispersity_range", "peak_counts_range"):
            lo, hi = getattr(self, name)
            if not 0 <= lo <= hi:
                raise ValueError(f"simulate.{name}: need 0 <= low <= high, got {[lo, hi]}")
        if self.image_size % 4:
            raise ValueError(f"simulate.image_size: {self.image_size} is not a multiple of 4")

    @property
    def q_axis(self) -> np.ndarray:
        """Momentum transfer of the detector pixels along one axis, in 1/a."""
        dq = 2 * np.pi / self.field_of_view
        return (np.arange(self.image_size) - self.image_size // 2) * dq


def sphere_form_factor(q: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """Scattering amplitude of a homogeneous sphere, ``V * 3 (sin x - x cos x) / x^3``, x = qR.

    Broadcasts ``q`` against ``radius``; exact limit ``V`` at ``x -> 0``.
    """
    x = q * radius
    volume = 4.0 / 3.0 * np.pi * radius**3
    small = np.abs(x) < 1e-2
    xs = np.where(small, 1, x)
    shape = 3 * (np.sin(xs) - xs * np.cos(xs)) / xs**3
    # Taylor series near 0 (the closed form cancels catastrophically there): 1 - x^2/10
    shape = np.where(small, 1 - x**2 / 10, shape)
    return volume * shape


def _draw_samples(n: int, p: SaxsSimulation, rng: np.random.Generator):
    """Particle radii, positions, patch ids and a validity mask, padded to the largest count."""
    counts = np.maximum(rng.poisson(p.mean_particles, size=n), 1)
    m = int(counts.max())
    valid = np.arange(m)[None, :] < counts[:, None]
    mean_r = rng.uniform(*p.radius_range, size=(n, 1))
    poly = rng.uniform(*p.polydispersity_range, size=(n, 1))
    # Schulz-like spread as a log-normal with the requested relative width.
    sigma = np.sqrt(np.log1p(poly**2))
    radii = mean_r * np.exp(sigma * rng.standard_normal((n, m)) - sigma**2 / 2)
    half = p.illuminated_size / 2
    pos = rng.uniform(-half, half, size=(n, m, 2))
    if p.coherence_length is None or p.coherence_length >= p.illuminated_size:
        patch = np.zeros((n, m), dtype=np.int64)
        n_patches = 1
    else:
        per_side = int(np.ceil(p.illuminated_size / p.coherence_length))
        cell = np.clip(((pos + half) / p.coherence_length).astype(np.int64), 0, per_side - 1)
        patch = cell[..., 0] * per_side + cell[..., 1]
        n_patches = per_side * per_side
    return radii, pos, patch, n_patches, valid


def expected_patterns(
    n: int, params: SaxsSimulation, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Noise-free (speckled, incoherent) intensity patterns, shape (n, H, W), arbitrary units.

    The speckled pattern follows ``params.coherence_length``; the incoherent one is its
    speckle average. Both are on the same scale.
    """
    p = params
    q1 = p.q_axis
    qabs = np.hypot(q1[:, None], q1[None, :])  # (H, W)
    radii, pos, patch, n_patches, valid = _draw_samples(n, p, rng)
    h = p.image_size
    speckled = np.empty((n, h, h))
    incoherent = np.empty((n, h, h))
    for start in range(0, n, p.chunk_size):
        sl = slice(start, min(n, start + p.chunk_size))
        c, m = radii[sl].shape
        # float32/complex64 throughout: the patterns are later Poisson-sampled, and single
        # precision halves the memory traffic of the (chunk, particle, H, W) arrays.
        r = radii[sl].astype(np.float32)[:, :, None, None]
        ff = sphere_form_factor(qabs.astype(np.float32)[None, None], r)
        ff *= valid[sl].astype(np.float32)[:, :, None, None]
        # exp(-i q.r) separates into a y and an x factor: (c, m, H) and (c, m, W).
        ey = np.exp(-1j * (q1[None, None, :] * pos[sl, :, 0, None])).astype(np.complex64)
        ex = np.exp(-1j * (q1[None, None, :] * pos[sl, :, 1, None])).astype(np.complex64)
        contrib = (ff * ey[:, :, :, None]) * ex[:, :, None, :]  # (c, m, H, W)
        if n_patches == 1:
            speckled[sl] = np.abs(contrib.sum(axis=1)) ** 2
        else:
            # Coherent sum inside each patch (a batched matrix product), incoherent across.
            onehot = (patch[sl, None, :] == np.arange(n_patches)[None, :, None]).astype(
                np.complex64
            )  # (c, P, m)
            modes = onehot @ contrib.reshape(c, m, h * h)  # (c, P, H*W)
            speckled[sl] = (np.abs(modes) ** 2).sum(axis=1).reshape(c, h, h)
        incoherent[sl] = (ff.astype(np.float64) ** 2).sum(axis=1)
    return speckled, incoherent


def simulate_saxs(
    n: int, params: SaxsSimulation, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Simulate ``n`` samples in the book's raw format.

    Returns ``speckle_images`` (Poisson counts of the speckled pattern) and ``target_images``
    (expected counts of the incoherent pattern), both float32 of shape (n, H, W).
    """
    speckled, incoherent = expected_patterns(n, params, rng)
    peak = np.exp(rng.uniform(*np.log(params.peak_counts_range), size=(n, 1, 1)))
    # The forward peak is where every particle adds in phase; scale by the incoherent
    # pattern's zero-q value times the particle count so both patterns share one scale.
    c = params.image_size // 2
    scale = peak / np.maximum(speckled[:, c : c + 1, c : c + 1], 1e-30)
    expected_speckle = speckled * scale + params.background_counts
    target = incoherent * scale + params.background_counts
    counts = rng.poisson(expected_speckle).astype(np.float32)
    return {"speckle_images": counts, "target_images": target.astype(np.float32)}


def speckle_contrast(speckled: np.ndarray, incoherent: np.ndarray, q_min_pixels: float) -> float:
    """Speckle contrast std/mean of ``speckled / incoherent`` over pixels beyond ``q_min_pixels``.

    1 for fully developed speckle; lower for partial coherence. The ratio removes the
    form-factor envelope so pixels of all q can be pooled.
    """
    _, h, w = speckled.shape
    yy, xx = np.mgrid[:h, :w]
    ring = np.hypot(yy - h // 2, xx - w // 2) >= q_min_pixels
    ratio = speckled[:, ring] / np.maximum(incoherent[:, ring], 1e-30)
    return float(ratio.std() / ratio.mean())
