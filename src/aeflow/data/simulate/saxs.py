"""Small-angle X-ray scattering (SAXS) of random nanoparticle arrangements, with speckle.

Physics. A sample holds ``n`` spheres of radius ``R_j`` at transverse positions ``r_j``. In the
far field (Born approximation) the scattered amplitude at momentum transfer ``q`` in the
detector plane is

    A(q) = sum_j F(q; R_j) exp(-i q . r_j),    F(q; R) = V(R) * 3 [sin(qR) - qR cos(qR)] / (qR)^3

(the sphere form factor; the projection of a sphere onto the detector plane is the q_z = 0
cut of its 3-D transform). The illuminated particles are spread with a Gaussian footprint of
full width at half maximum ``illuminated_size`` (standard deviation ``s``); a Gaussian has no
hard edge, so no edge-diffraction cross appears. A fully coherent beam records ``|A(q)|^2``:
interference between particles makes speckle with exponential statistics (contrast 1).

The clean target is the speckle average of the same sample: the mean of ``|A|^2`` over the
particles' positions, radii fixed. For iid Gaussian positions it is exactly

    T(q) = sum_j F_j^2 + [(sum_j F_j)^2 - sum_j F_j^2] exp(-q^2 s^2),

the incoherent sum of the particles plus the mean coherent forward peak, confined to
``q < ~2/s`` around the direct beam (where a real detector has its beamstop).

Partial coherence: with a transverse coherence length ``xi`` shorter than the footprint,
particles in different coherence patches (squares of side ``xi``) do not interfere; the
pattern is the incoherent sum of the mutually incoherent modes,
``sum_m |sum_{j in m} F_j exp(-i q.r_j)|^2``, and the target sums the formula above per patch,
with the characteristic function of the Gaussian truncated to the patch in place of
``exp(-q^2 s^2 / 2)``. Speckle contrast falls roughly as ``1 / sqrt(effective modes)``.

Detection: the expected speckled pattern is scaled so that its maximum (the forward peak)
holds ``peak_counts`` photons, plus a flat background; the recorded image is a Poisson draw.
The target is the expected speckle-averaged pattern on the same scale (noise free). Counts
span several decades (Porod's q^-4 fall-off), hence the log scale in preprocessing.

Units: lengths in arbitrary units ``a``; ``dq = 2 pi / field_of_view`` per detector pixel.
The detector is ``image_size`` pixels square with q = 0 at pixel ``image_size // 2``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))


@dataclass(frozen=True)
class SaxsSimulation:
    """Parameters of the simulator (config key ``datasets.<name>.simulate``)."""

    image_size: int = 64
    field_of_view: float = 64.0
    illuminated_size: float = 10.0
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


def _patch_edges(p: SaxsSimulation, sigma: float) -> np.ndarray | None:
    """Edges of the coherence patches along one axis, or None for a fully coherent beam.

    Patches of side ``coherence_length`` tile +-3 sigma of the footprint; the outermost ones
    extend to +-12 sigma, beyond which no particle lies in practice.
    """
    xi = p.coherence_length
    if xi is None or xi >= 6 * sigma:
        return None
    per_side = int(np.ceil(6 * sigma / xi))
    edges = (np.arange(per_side + 1) - per_side / 2) * xi
    edges[0], edges[-1] = -12 * sigma, 12 * sigma
    return edges


def _truncated_gaussian_cf(q: np.ndarray, lo: np.ndarray, hi: np.ndarray, sigma: float):
    """Characteristic function E[exp(i q x)] of N(0, sigma^2) restricted to [lo, hi].

    Shapes: q (Q,), lo/hi (K,) -> (K, Q) complex.
    """
    root2s = np.sqrt(2.0) * sigma
    shift = 1j * q[None, :] * sigma**2
    num = special.erf((hi[:, None] - shift) / root2s) - special.erf((lo[:, None] - shift) / root2s)
    den = special.erf(hi / root2s) - special.erf(lo / root2s)
    return np.exp(-0.5 * (q[None, :] * sigma) ** 2) * num / den[:, None]


def _draw_samples(n: int, p: SaxsSimulation, rng: np.random.Generator):
    """Particle radii, positions, patch ids and a validity mask, padded to the largest count."""
    counts = np.maximum(rng.poisson(p.mean_particles, size=n), 1)
    m = int(counts.max())
    valid = np.arange(m)[None, :] < counts[:, None]
    mean_r = rng.uniform(*p.radius_range, size=(n, 1))
    poly = rng.uniform(*p.polydispersity_range, size=(n, 1))
    # Schulz-like spread as a log-normal with the requested relative width.
    sigma_r = np.sqrt(np.log1p(poly**2))
    radii = mean_r * np.exp(sigma_r * rng.standard_normal((n, m)) - sigma_r**2 / 2)
    sigma = p.illuminated_size / FWHM_PER_SIGMA
    pos = rng.normal(0.0, sigma, size=(n, m, 2))
    edges = _patch_edges(p, sigma)
    if edges is None:
        cell = np.zeros((n, m, 2), dtype=np.int64)
    else:
        cell = np.clip(np.searchsorted(edges, pos) - 1, 0, len(edges) - 2)
    return radii, pos, cell, edges, valid


def expected_patterns(
    n: int, params: SaxsSimulation, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Noise-free (speckled, speckle-averaged) intensities, shape (n, H, W), arbitrary units.

    The speckled pattern follows ``params.coherence_length``; the speckle average is its
    exact mean over particle positions (radii fixed). Both are on the same scale.
    """
    p = params
    q1 = p.q_axis
    qabs = np.hypot(q1[:, None], q1[None, :]).astype(np.float32)  # (H, W)
    radii, pos, cell, edges, valid = _draw_samples(n, p, rng)
    sigma = p.illuminated_size / FWHM_PER_SIGMA
    h = p.image_size
    if edges is None:
        per_side = 1
        cf = np.exp(-0.5 * (q1 * sigma) ** 2)[None, :]  # (1, Q): E[exp(i q x)], Gaussian
    else:
        per_side = len(edges) - 1
        cf = _truncated_gaussian_cf(q1, edges[:-1], edges[1:], sigma)  # (K, Q)
    cf2 = np.abs(cf) ** 2
    # |E exp(i q.r)|^2 of every patch (kx, ky), flattened to P = K*K patches: (P, H*W)
    patch_cf2 = (cf2[:, None, :, None] * cf2[None, :, None, :]).reshape(per_side**2, h * h)
    patch = cell[..., 0] * per_side + cell[..., 1]
    n_patches = per_side**2
    speckled = np.empty((n, h, h))
    target = np.empty((n, h, h))
    for start in range(0, n, p.chunk_size):
        sl = slice(start, min(n, start + p.chunk_size))
        c, m = radii[sl].shape
        # float32/complex64 throughout: the patterns are later Poisson-sampled, and single
        # precision halves the memory traffic of the (chunk, particle, H, W) arrays.
        r = radii[sl].astype(np.float32)[:, :, None, None]
        ff = sphere_form_factor(qabs[None, None], r)
        ff = ff * valid[sl].astype(np.float32)[:, :, None, None]
        # exp(-i q.r) separates into a y and an x factor: (c, m, H) and (c, m, W).
        ey = np.exp(-1j * (q1[None, None, :] * pos[sl, :, 0, None])).astype(np.complex64)
        ex = np.exp(-1j * (q1[None, None, :] * pos[sl, :, 1, None])).astype(np.complex64)
        contrib = (ff * ey[:, :, :, None]) * ex[:, :, None, :]  # (c, m, H, W)
        ff = ff.reshape(c, m, h * h)
        contrib = contrib.reshape(c, m, h * h)
        if n_patches == 1:
            modes = contrib.sum(axis=1, keepdims=True)  # (c, 1, H*W)
            sum_f = ff.sum(axis=1, keepdims=True, dtype=np.float64)
            sum_f2 = np.square(ff, dtype=np.float64).sum(axis=1, keepdims=True)
        else:
            # Coherent sum inside each patch (a batched matrix product), incoherent across.
            onehot = (patch[sl, None, :] == np.arange(n_patches)[None, :, None]).astype(np.float32)
            modes = onehot.astype(np.complex64) @ contrib  # (c, P, H*W)
            sum_f = (onehot @ ff).astype(np.float64)
            sum_f2 = (onehot @ (ff * ff)).astype(np.float64)
        speckled[sl] = (np.abs(modes) ** 2).sum(axis=1).reshape(c, h, h)
        mean = sum_f2 + (sum_f**2 - sum_f2) * patch_cf2[None]
        target[sl] = mean.sum(axis=1).reshape(c, h, h)
    return speckled, target


def simulate_saxs(
    n: int, params: SaxsSimulation, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Simulate ``n`` samples in the book's raw format.

    Returns ``speckle_images`` (Poisson counts of the speckled pattern) and ``target_images``
    (expected counts of the speckle-averaged pattern), both float32 of shape (n, H, W).
    """
    speckled, averaged = expected_patterns(n, params, rng)
    peak = np.exp(rng.uniform(*np.log(params.peak_counts_range), size=(n, 1, 1)))
    # One scale per sample for both patterns: the speckled maximum (the forward peak) gets
    # ``peak`` photons.
    scale = peak / np.maximum(speckled.max(axis=(1, 2), keepdims=True), 1e-30)
    expected_speckle = speckled * scale + params.background_counts
    target = averaged * scale + params.background_counts
    counts = rng.poisson(expected_speckle).astype(np.float32)
    return {"speckle_images": counts, "target_images": target.astype(np.float32)}


def speckle_contrast(speckled: np.ndarray, averaged: np.ndarray, q_min_pixels: float) -> float:
    """Speckle contrast std/mean of ``speckled / averaged`` over pixels beyond ``q_min_pixels``.

    1 for fully developed speckle; lower for partial coherence. The ratio removes the
    form-factor envelope so pixels of all q can be pooled.
    """
    _, h, w = speckled.shape
    yy, xx = np.mgrid[:h, :w]
    ring = np.hypot(yy - h // 2, xx - w // 2) >= q_min_pixels
    ratio = speckled[:, ring] / np.maximum(averaged[:, ring], 1e-30)
    return float(ratio.std() / ratio.mean())
