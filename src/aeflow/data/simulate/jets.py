"""Boosted QCD and top jets as massless constituents (E, px, py, pz), "QCD or What?" setting.

A toy parton shower, enough for jet images with the right structure and mass scales:

* QCD jet: one parton of ``pt`` (uniform in ``pt_range``) radiates ``Poisson(qcd_emissions)``
  gluons; each takes an energy fraction z with density ~ 1/z on [z_min, 1/2] at an angle theta
  log-uniform in [theta_min, radius] (the soft and collinear enhancements), recoil taken by
  the hard parton. One hard prong with a mass of tens of GeV.
* Top jet: t -> b W, W -> q q' with isotropic decays in the rest frames (m_t = 173, m_W =
  80.4 GeV), boosted to the jet's pt; each quark then showers like a QCD parton with fewer,
  narrower emissions. Three prongs, two of which form the W mass, all three the top mass.
* Every showered parton of more than 5 GeV becomes ``1 + Poisson(hadrons_per_parton)``
  collinear hadrons (energy shares from a flat Dirichlet, angles ~ ``hadron_spread``).
* Both get ``Poisson(soft_particles)`` soft particles (underlying event, a few GeV) spread
  over the jet cone. Constituents outside ``radius`` of the jet axis are dropped (the cone),
  the rest sorted by pt and cut at ``max_constituents``.

Energies in GeV; the jet axis has pseudorapidity uniform in ``eta_range`` and any azimuth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

M_TOP = 173.0
M_W = 80.4
MAX_DRAWS = 1000  # showers drawn for one jet before the parameters are called hopeless


@dataclass(frozen=True)
class JetSimulation:
    """Parameters of the simulator (config key ``datasets.<name>.simulate``)."""

    signal_fraction: float = 0.5
    pt_range: tuple[float, float] = (550.0, 650.0)
    eta_range: tuple[float, float] = (-1.5, 1.5)
    radius: float = 0.8
    qcd_emissions: float = 3.0
    top_emissions: float = 1.5
    z_min: float = 0.01
    theta_min: float = 0.01
    hadrons_per_parton: float = 3.0
    hadron_spread: float = 0.02
    soft_particles: float = 15.0
    soft_energy: float = 0.5
    max_constituents: int = 200

    def __post_init__(self) -> None:
        if not 0 <= self.signal_fraction <= 1:
            raise ValueError("simulate.signal_fraction must be in [0, 1]")
        if not 0 < self.theta_min < self.radius:
            raise ValueError("simulate.theta_min must lie in (0, radius)")
        if not 0 < self.z_min < 0.5:
            raise ValueError("simulate.z_min must lie in (0, 0.5)")


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _perpendicular_basis(axis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    helper = np.array([1.0, 0, 0]) if abs(axis[0]) < 0.9 else np.array([0, 1.0, 0])
    e1 = _unit(np.cross(axis, helper))
    return e1, np.cross(axis, e1)


def boost(p4: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Lorentz boost of four-vectors (..., 4) = (E, px, py, pz) by velocity ``beta``."""
    b2 = float(beta @ beta)
    if b2 == 0:
        return p4.copy()
    gamma = 1.0 / np.sqrt(1.0 - b2)
    e, p = p4[..., 0], p4[..., 1:]
    bp = p @ beta
    e_new = gamma * (e + bp)
    p_new = p + ((gamma - 1.0) * bp / b2 + gamma * e)[..., None] * beta
    return np.concatenate([e_new[..., None], p_new], axis=-1)


def invariant_mass(p4: np.ndarray) -> np.ndarray:
    """Mass of the sum of four-vectors over the second-to-last axis (or of one vector)."""
    total = p4.sum(axis=-2) if p4.ndim > 1 else p4
    m2 = total[..., 0] ** 2 - (total[..., 1:] ** 2).sum(axis=-1)
    return np.sqrt(np.clip(m2, 0, None))


def _isotropic(rng: np.random.Generator) -> np.ndarray:
    cos_t = rng.uniform(-1, 1)
    phi = rng.uniform(0, 2 * np.pi)
    sin_t = np.sqrt(1 - cos_t**2)
    return np.array([sin_t * np.cos(phi), sin_t * np.sin(phi), cos_t])


def _two_body(parent: np.ndarray, m1: float, m2: float, rng) -> tuple[np.ndarray, np.ndarray]:
    """Isotropic two-body decay of ``parent`` (lab four-vector) into masses m1, m2."""
    m = invariant_mass(parent)
    p = np.sqrt(max((m**2 - (m1 + m2) ** 2) * (m**2 - (m1 - m2) ** 2), 0)) / (2 * m)
    n = _isotropic(rng)
    d1 = np.r_[np.sqrt(p**2 + m1**2), p * n]
    d2 = np.r_[np.sqrt(p**2 + m2**2), -p * n]
    beta = parent[1:] / parent[0]
    return boost(d1, beta), boost(d2, beta)


def shower(parton: np.ndarray, n_mean: float, theta_max: float, p: JetSimulation, rng):
    """Massless constituents from one parton: soft-collinear emissions with recoil."""
    energy = parton[0]
    axis = _unit(parton[1:])
    e1, e2 = _perpendicular_basis(axis)
    n = rng.poisson(n_mean)
    # z ~ 1/z on [z_min, 1/2]; theta log-uniform on [theta_min, theta_max]
    z = p.z_min * (0.5 / p.z_min) ** rng.random(n)
    theta = p.theta_min * (theta_max / p.theta_min) ** rng.random(n)
    az = rng.uniform(0, 2 * np.pi, n)
    e_rem = energy
    parts = []
    kt_sum = np.zeros(3)
    for zi, ti, ai in zip(z, theta, az, strict=True):
        ei = zi * e_rem
        e_rem -= ei
        direction = np.cos(ti) * axis + np.sin(ti) * (np.cos(ai) * e1 + np.sin(ai) * e2)
        parts.append(np.r_[ei, ei * direction])
        kt_sum += ei * np.sin(ti) * (np.cos(ai) * e1 + np.sin(ai) * e2)
    # the hard parton keeps the rest and balances the emissions' transverse momentum
    p_long = np.sqrt(max(e_rem**2 - kt_sum @ kt_sum, 0.0))
    parts.append(np.r_[e_rem, p_long * axis - kt_sum])
    return np.array(parts)


def hadronize(parts: np.ndarray, p: JetSimulation, rng) -> np.ndarray:
    """Split each energetic massless parton into collinear massless hadrons."""
    out = []
    for v in parts:
        k = 1 + (rng.poisson(p.hadrons_per_parton) if v[0] > 5.0 else 0)
        if k == 1:
            out.append(v)
            continue
        axis = _unit(v[1:])
        e1, e2 = _perpendicular_basis(axis)
        shares = rng.dirichlet(np.ones(k))
        theta = np.abs(rng.normal(0, p.hadron_spread, k))
        az = rng.uniform(0, 2 * np.pi, k)
        for f, t, a in zip(shares, theta, az, strict=True):
            d = np.cos(t) * axis + np.sin(t) * (np.cos(a) * e1 + np.sin(a) * e2)
            out.append(np.r_[f * v[0], f * v[0] * d])
    return np.array(out)


def _direction(eta: float, phi: float) -> np.ndarray:
    theta = 2 * np.arctan(np.exp(-eta))
    return np.array([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)])


def _soft(axis: np.ndarray, p: JetSimulation, rng) -> np.ndarray:
    n = rng.poisson(p.soft_particles)
    e1, e2 = _perpendicular_basis(axis)
    r = p.radius * np.sqrt(rng.random(n))  # uniform over the cone's disc
    az = rng.uniform(0, 2 * np.pi, n)
    energy = rng.exponential(p.soft_energy, n)
    dirs = np.cos(r)[:, None] * axis + np.sin(r)[:, None] * (
        np.cos(az)[:, None] * e1 + np.sin(az)[:, None] * e2
    )
    return np.concatenate([energy[:, None], energy[:, None] * dirs], axis=1)


def delta_r(p4: np.ndarray, eta0: float, phi0: float) -> np.ndarray:
    pt = np.hypot(p4[:, 1], p4[:, 2])
    eta = np.arcsinh(p4[:, 3] / np.maximum(pt, 1e-12))
    dphi = np.angle(np.exp(1j * (np.arctan2(p4[:, 2], p4[:, 1]) - phi0)))
    return np.hypot(eta - eta0, dphi)


def simulate_jet(is_top: bool, p: JetSimulation, rng: np.random.Generator):
    """Constituents (n, 4) of one jet, and its partons (the three decay quarks for a top)."""
    pt = rng.uniform(*p.pt_range)
    eta, phi = rng.uniform(*p.eta_range), rng.uniform(-np.pi, np.pi)
    axis = _direction(eta, phi)
    if is_top:
        pmag = pt * np.cosh(eta)
        top = np.r_[np.sqrt(pmag**2 + M_TOP**2), pmag * axis]
        b, w = _two_body(top, 0.0, M_W, rng)
        q1, q2 = _two_body(w, 0.0, 0.0, rng)
        partons = np.array([b, q1, q2])
        parts = [shower(q, p.top_emissions, 0.3, p, rng) for q in partons]
    else:
        energy = pt * np.cosh(eta)
        partons = np.array([np.r_[energy, energy * axis]])
        parts = [shower(partons[0], p.qcd_emissions, p.radius, p, rng)]
    constituents = np.concatenate([hadronize(np.concatenate(parts), p, rng), _soft(axis, p, rng)])
    constituents = constituents[delta_r(constituents, eta, phi) < p.radius]
    order = np.argsort(-np.hypot(constituents[:, 1], constituents[:, 2]))
    return constituents[order][: p.max_constituents], partons


def simulate_jets(n: int, p: JetSimulation, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The top-tagging layout: ``constituents`` (n, max_constituents, 4) = (E, px, py, pz),
    zero-padded and pt-ordered, and ``is_signal_new`` (1 = top, 0 = QCD)."""
    labels = (rng.random(n) < p.signal_fraction).astype(np.int8)
    out = np.zeros((n, p.max_constituents, 4), np.float32)
    for i, is_top in enumerate(labels):
        # A hard wide-angle emission can throw every particle (the recoiling parton too) out
        # of the cone around the original direction: no jet there. Draw again: the sample is
        # of jets, not of partons.
        for _ in range(MAX_DRAWS):
            c, _ = simulate_jet(bool(is_top), p, rng)
            if len(c):
                break
        else:
            raise ValueError(
                f"simulate: {MAX_DRAWS} showers in a row left no particle in the cone of radius "
                f"{p.radius}: the emissions (qcd_emissions, z_min, theta_min) are too hard"
            )
        out[i, : len(c)] = c
    return {"constituents": out, "is_signal_new": labels}
