"""Cosmic-ray air-shower footprints on a ground array of particle detectors (book Ex. 18.2).

A parametric toy of a surface detector like the Pierre Auger Observatory's: no cascade is
simulated, each station's signal follows a lateral distribution function (LDF) around the
shower core, enough for footprints with the right structure and scales:

* Array: ``n_stations`` x ``n_stations`` stations on a square grid of ``spacing_m`` (Auger's
  triangular 1500 m grid approximated as square), centred on the origin. Footprint pixel
  ``[row, col]`` is the station at ``x = (col - (n - 1) / 2) * spacing``, ``y = (row - (n -
  1) / 2) * spacing`` (:func:`station_grid`).
* Energy in eV between ``10 ** log10_energy_range``, from the power law dN/dE ~ E^-gamma
  with ``gamma = spectral_index``. The default 1 is uniform in log E (equal numbers per
  decade), so that a generative model sees the whole range; 3, about the measured
  spectrum's slope above the ankle, leaves only a tenth of the showers above 10 EeV.
* Arrival direction isotropic for a flat array: zenith theta with sin^2(theta) uniform up to
  ``zenith_max_deg`` (dN ~ sin(theta) cos(theta) dtheta), azimuth phi uniform. The axis
  points towards the source, ``u = (sin theta cos phi, sin theta sin phi, cos theta)``.
* Core uniform in the central cell: the ``spacing_m`` square around the array centre (the
  central station's cell for odd ``n_stations``).
* Size of the shower: ``S1000 = s1000_ref_vem * (E / 1 EeV) ** (1 / energy_exponent) *
  f(theta)``, signal at 1000 m from the axis in VEM (vertical-equivalent muons). With the
  defaults 4.6 VEM and 1.08 this inverts to ``E ~ 1.9e17 eV * S38 ** 1.08``, close to Auger's
  published calibration; ``f = 1 + a x + b x^2`` with ``x = cos^2 theta - cos^2 38 deg`` is
  the attenuation of the constant-intensity-cut method (``cic_a``, ``cic_b``; f = 1 at 38
  deg, about 1.13 vertical and 0.41 at 60 deg).
* LDF (NKG-like): ``S(r) = S1000 (r / 1000)^-beta ((r + 700) / 1700)^-beta`` with r the
  station's distance from the axis in the shower plane, ``r^2 = d^2 - (d . u)^2`` (d the
  station's position relative to the core, on the ground), clamped below at ``R_MIN_M``.
  The slope falls with zenith, linear in sec(theta): ``beta = ldf_beta_vertical`` at 0 deg,
  ``ldf_beta_60deg`` at 60 deg (inclined showers are muon-rich, their LDF flatter).
* Stations whose expected signal is below ``trigger_threshold_vem`` stay silent (0); the
  others record a Poisson count of VEM, clipped at ``saturation_vem`` (1000 VEM, of the
  order of the original Auger stations' dynamic range: reached within a few hundred metres of
  the core of the highest-energy showers).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

R_MIN_M = 100.0  # the LDF is clamped at this distance from the axis (it diverges at r = 0)
CIC_REFERENCE_DEG = 38.0  # the constant-intensity-cut reference zenith angle


@dataclass(frozen=True)
class AirShowerSimulation:
    """Parameters of the simulator (config key ``datasets.<name>.simulate``)."""

    n_stations: int = 9
    spacing_m: float = 1500.0
    log10_energy_range: tuple[float, float] = (18.5, 20.0)
    spectral_index: float = 1.0
    zenith_max_deg: float = 60.0
    s1000_ref_vem: float = 4.6
    energy_exponent: float = 1.08
    cic_a: float = 0.98
    cic_b: float = -1.68
    ldf_beta_vertical: float = 2.6
    ldf_beta_60deg: float = 2.1
    trigger_threshold_vem: float = 3.0
    saturation_vem: float = 1000.0

    def __post_init__(self) -> None:
        if isinstance(self.n_stations, bool) or not isinstance(self.n_stations, int | np.integer):
            raise ValueError("simulate.n_stations must be an integer")
        if self.n_stations < 3:
            raise ValueError("simulate.n_stations must be at least 3")
        if not self.spacing_m > 0:
            raise ValueError("simulate.spacing_m must be positive")
        if len(self.log10_energy_range) != 2:
            raise ValueError("simulate.log10_energy_range must be [low, high]")
        low, high = self.log10_energy_range
        if not 15 <= low < high <= 22:
            raise ValueError(
                "simulate.log10_energy_range must be [low, high], 15 <= low < high <= 22"
            )
        if not 0 <= self.spectral_index <= 6:
            raise ValueError("simulate.spectral_index must lie in [0, 6]")
        if not 0 <= self.zenith_max_deg <= 75:
            raise ValueError("simulate.zenith_max_deg must lie in [0, 75]")
        if not self.s1000_ref_vem > 0:
            raise ValueError("simulate.s1000_ref_vem must be positive")
        if not self.energy_exponent > 0:
            raise ValueError("simulate.energy_exponent must be positive")
        if not (
            attenuation(np.array([0.0, self.zenith_max_deg]), self.cic_a, self.cic_b) > 0
        ).all():
            raise ValueError(
                "simulate.cic_a, simulate.cic_b: the attenuation 1 + a x + b x^2 must stay "
                "positive up to zenith_max_deg"
            )
        for field in ("ldf_beta_vertical", "ldf_beta_60deg"):
            if not 1 <= getattr(self, field) <= 5:
                raise ValueError(f"simulate.{field} must lie in [1, 5]")
        if not self.trigger_threshold_vem >= 0:
            raise ValueError("simulate.trigger_threshold_vem must be non-negative")
        if not self.saturation_vem > self.trigger_threshold_vem:
            raise ValueError("simulate.saturation_vem must exceed trigger_threshold_vem")


def station_grid(n_stations: int, spacing_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Station coordinates ``(x, y)`` in metres, each (n, n), indexed ``[row, col]``: x grows
    with the column, y with the row, the array centre at 0."""
    axis = (np.arange(n_stations) - (n_stations - 1) / 2) * spacing_m
    y, x = np.meshgrid(axis, axis, indexing="ij")
    return x, y


def attenuation(zenith_deg: np.ndarray, a: float = 0.98, b: float = -1.68) -> np.ndarray:
    """Signal attenuation with zenith, ``1 + a x + b x^2``, x = cos^2 theta - cos^2 38 deg."""
    x = np.cos(np.radians(zenith_deg)) ** 2 - np.cos(np.radians(CIC_REFERENCE_DEG)) ** 2
    return 1.0 + a * x + b * x * x


def ldf_beta(zenith_deg: np.ndarray, p: AirShowerSimulation) -> np.ndarray:
    """LDF slope, linear in sec(theta) from ``ldf_beta_vertical`` (0) to ``ldf_beta_60deg``."""
    sec = 1.0 / np.cos(np.radians(zenith_deg))
    return p.ldf_beta_vertical + (p.ldf_beta_60deg - p.ldf_beta_vertical) * (sec - 1.0)


def s1000(energy_ev: np.ndarray, zenith_deg: np.ndarray, p: AirShowerSimulation) -> np.ndarray:
    """Expected signal (VEM) 1000 m from the axis."""
    size = p.s1000_ref_vem * (np.asarray(energy_ev) / 1e18) ** (1.0 / p.energy_exponent)
    return size * attenuation(zenith_deg, p.cic_a, p.cic_b)


def lateral_distribution(r_m: np.ndarray, s1000_vem: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """NKG-like LDF ``S1000 (r/1000)^-beta ((r + 700)/1700)^-beta``; r clamped at R_MIN_M."""
    r = np.maximum(r_m, R_MIN_M)
    return s1000_vem * ((r / 1000.0) * ((r + 700.0) / 1700.0)) ** (-beta)


def sample_energies(n: int, p: AirShowerSimulation, rng: np.random.Generator) -> np.ndarray:
    """Energies (eV) from dN/dE ~ E^-spectral_index between the range's bounds."""
    low, high = (10.0**e for e in p.log10_energy_range)
    u = rng.random(n)
    g = 1.0 - p.spectral_index
    if abs(g) < 1e-9:  # E^-1: uniform in log E
        return low * (high / low) ** u
    # inverse of the CDF of E^-gamma, in units of the lower bound (no overflow for large E)
    ratio = (high / low) ** g
    return low * (1.0 + u * (ratio - 1.0)) ** (1.0 / g)


def expected_signals(
    energy_ev: np.ndarray,
    zenith_deg: np.ndarray,
    azimuth_deg: np.ndarray,
    core_m: np.ndarray,
    p: AirShowerSimulation,
) -> np.ndarray:
    """Expected station signals (VEM), shape (N, n, n), before trigger, Poisson and
    saturation."""
    x, y = station_grid(p.n_stations, p.spacing_m)
    theta, phi = np.radians(zenith_deg), np.radians(azimuth_deg)
    dx = x[None] - core_m[:, 0, None, None]
    dy = y[None] - core_m[:, 1, None, None]
    # component of the ground vector along the axis u (u has no effect through its z part)
    along = np.sin(theta)[:, None, None] * (
        np.cos(phi)[:, None, None] * dx + np.sin(phi)[:, None, None] * dy
    )
    r = np.sqrt(np.maximum(dx * dx + dy * dy - along * along, 0.0))
    size = s1000(energy_ev, zenith_deg, p)[:, None, None]
    return lateral_distribution(r, size, ldf_beta(zenith_deg, p)[:, None, None])


def simulate_airshowers(
    n: int, p: AirShowerSimulation, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """The book's layout: ``shower_maps`` (n, n_stations, n_stations, 1) float32 signals in
    VEM, with the true ``energy`` (n,) in eV, ``zenith`` and ``azimuth`` (n,) in degrees and
    ``core`` (n, 2) = (x, y) in metres from the array centre."""
    energy = sample_energies(n, p, rng)
    sin2_max = np.sin(np.radians(p.zenith_max_deg)) ** 2
    zenith = np.degrees(np.arcsin(np.sqrt(rng.random(n) * sin2_max)))
    azimuth = rng.uniform(0.0, 360.0, n)
    core = rng.uniform(-0.5, 0.5, (n, 2)) * p.spacing_m
    expected = expected_signals(energy, zenith, azimuth, core, p)
    triggered = expected >= p.trigger_threshold_vem
    # saturated stations need no exact count: clip the mean first (keeps Poisson cheap)
    counts = rng.poisson(np.where(triggered, np.minimum(expected, 2 * p.saturation_vem), 0.0))
    signals = np.minimum(counts, p.saturation_vem).astype(np.float32)
    return {
        "shower_maps": signals[..., None],
        "energy": energy,
        "zenith": zenith,
        "azimuth": azimuth,
        "core": core,
    }
