"""Cosmic-ray radio traces: band-limited air-shower pulses in noise (book Ex. 9.2 setting).

Signal. An air shower's radio pulse is a few-ns broadband flash whose spectrum falls with
frequency (steeper away from the shower axis). The antenna chain records it through a band
filter (30-80 MHz for LOFAR/AERA-type stations). The pulse is built in the frequency domain,

    S(f) = B(f) exp(-f / f_c) exp(i [phi_0 - 2 pi f t_0]),

with ``B`` the magnitude response of a Butterworth band-pass of the signal band, a cut-off
``f_c`` (spectral slope) drawn per trace, and arrival time ``t_0`` uniform inside the trace.
The phase ``phi_0`` is 0 plus a Gaussian spread ``phase_spread_rad`` (charge-excess
admixture, off-axis observers; a spread >~ pi makes the phase uniform); a fraction
``flipped_polarity_fraction`` of pulses has the opposite sign (the dominant geomagnetic pulse
has one sign in an east-west antenna for most arrival directions). The inverse FFT is a short
oscillating wavelet; it is scaled
so that ``max|s| = SNR`` with the noise at unit RMS, i.e. ``SNR = max|signal| / RMS(noise)``.

SNR. Log-normal around ``snr_median`` with log-width ``snr_sigma_ln``, truncated to
``snr_range``; each half is truncated on its own side, so the median stays at ``snr_median``.
A fraction ``noise_only_fraction`` of traces holds no pulse (signal all zeros).

Noise models (each trace scaled to unit RMS exactly):
  * ``galactic``: Gaussian noise whose amplitude spectral density falls as
    ``f ** galactic_index`` (the galactic synchrotron background, brightness temperature
    ~ f^-2.55, so amplitude ~ f^-1.3) plus a white thermal floor, both seen through the
    antenna's band filter (Butterworth, ``antenna_band_mhz``); optionally narrow-band
    interference lines (carrier frequencies, random phase) of RMS ``rfi_rms`` each.
  * ``uniform``: white, uniformly distributed noise.
  * ``cosine``: a sum of ``n_cosines`` sinusoids of random frequency, phase and amplitude.

Time in samples at ``sampling_rate_mhz`` (180 MHz: 5.56 ns per sample, Nyquist 90 MHz).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

NOISE_MODELS = ("galactic", "uniform", "cosine")


@dataclass(frozen=True)
class RadioSimulation:
    """Parameters of the simulator (config key ``datasets.<name>.simulate``)."""

    noise: str = "galactic"
    trace_length: int = 500
    sampling_rate_mhz: float = 180.0
    signal_band_mhz: tuple[float, float] = (30.0, 80.0)
    band_order: int = 4
    spectral_cutoff_mhz_range: tuple[float, float] = (30.0, 150.0)
    phase_spread_rad: float = 0.5
    flipped_polarity_fraction: float = 0.0
    snr_median: float = 2.0
    snr_sigma_ln: float = 0.6
    snr_range: tuple[float, float] = (1.0, 10.0)
    noise_only_fraction: float = 0.2
    arrival_range: tuple[float, float] = (0.15, 0.85)
    # galactic
    galactic_index: float = -1.3
    thermal_fraction: float = 0.2
    antenna_band_mhz: tuple[float, float] = (30.0, 80.0)
    rfi_lines_mhz: tuple[float, ...] = (55.25, 67.25)
    rfi_rms: float = 0.25
    # cosine
    n_cosines_range: tuple[int, int] = (1, 5)
    cosine_band_mhz: tuple[float, float] = (5.0, 90.0)
    chunk_size: int = 2048

    def __post_init__(self) -> None:
        if self.noise not in NOISE_MODELS:
            raise ValueError(f"simulate.noise must be one of {NOISE_MODELS}, got {self.noise!r}")
        nyquist = self.sampling_rate_mhz / 2
        for key in ("signal_band_mhz", "antenna_band_mhz"):
            lo, hi = getattr(self, key)
            if not 0 < lo < hi < nyquist:
                raise ValueError(
                    f"simulate.{key} = [{lo}, {hi}] must satisfy 0 < low < high < Nyquist "
                    f"({nyquist} MHz at sampling_rate_mhz = {self.sampling_rate_mhz})"
                )
        lo, hi = self.snr_range
        if not 0 < lo <= self.snr_median <= hi:
            raise ValueError(
                f"simulate.snr_median = {self.snr_median} must lie in snr_range [{lo}, {hi}]"
            )
        if self.trace_length < 16:
            raise ValueError(f"simulate.trace_length must be >= 16, got {self.trace_length}")

    @property
    def frequencies_mhz(self) -> np.ndarray:
        return np.fft.rfftfreq(self.trace_length, d=1.0 / self.sampling_rate_mhz)


def band_response(freqs_mhz: np.ndarray, band_mhz, order: int, fs_mhz: float) -> np.ndarray:
    """Magnitude response of a digital Butterworth band-pass at ``freqs_mhz``."""
    from scipy import signal as sps  # 1.5 s to import: only the simulation needs it

    sos = sps.butter(order, band_mhz, btype="bandpass", fs=fs_mhz, output="sos")
    _, h = sps.sosfreqz(sos, worN=freqs_mhz, fs=fs_mhz)
    return np.abs(h)


def draw_snr(n: int, p: RadioSimulation, rng: np.random.Generator) -> np.ndarray:
    """SNRs with median ``snr_median``: a log-normal truncated to ``snr_range`` per half."""
    lo, hi = np.log(p.snr_range[0]), np.log(p.snr_range[1])
    mu, s = np.log(p.snr_median), p.snr_sigma_ln
    upper = rng.random(n) < 0.5
    u = rng.random(n)
    # Inverse CDF of the standard normal restricted to [a, b] in z = (ln snr - mu) / s.
    a = np.where(upper, 0.0, (lo - mu) / s)
    b = np.where(upper, (hi - mu) / s, 0.0)
    ca, cb = special.ndtr(a), special.ndtr(b)
    z = special.ndtri(ca + u * (cb - ca))
    return np.exp(mu + s * z)


def pulses(n: int, p: RadioSimulation, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` band-limited pulses with ``max|s| = 1`` and their arrival samples ``t_0``."""
    f = p.frequencies_mhz
    band = band_response(f, p.signal_band_mhz, p.band_order, p.sampling_rate_mhz)
    cutoff = rng.uniform(*p.spectral_cutoff_mhz_range, size=(n, 1))
    t0 = rng.uniform(*p.arrival_range, size=(n, 1)) * p.trace_length
    polarity = (rng.random((n, 1)) < p.flipped_polarity_fraction) * np.pi
    phi0 = polarity + p.phase_spread_rad * rng.standard_normal((n, 1))
    k = np.arange(len(f))[None, :]
    phase = phi0 - 2 * np.pi * k * t0 / p.trace_length
    spectrum = band[None, :] * np.exp(-f[None, :] / cutoff) * np.exp(1j * phase)
    s = np.fft.irfft(spectrum, n=p.trace_length, axis=1)
    s /= np.abs(s).max(axis=1, keepdims=True)
    return s, t0[:, 0]


def _unit_rms(x: np.ndarray) -> np.ndarray:
    return x / np.sqrt(np.mean(x * x, axis=1, keepdims=True))


def galactic_noise(n: int, p: RadioSimulation, rng: np.random.Generator) -> np.ndarray:
    f = p.frequencies_mhz
    f_ref = np.sqrt(p.antenna_band_mhz[0] * p.antenna_band_mhz[1])
    with np.errstate(divide="ignore"):
        sky = np.where(f > 0, (np.maximum(f, 1e-9) / f_ref) ** p.galactic_index, 0.0)
    # Power: sky^2 + thermal floor (a fraction of the sky power at the band's centre).
    amplitude = np.sqrt(sky**2 + p.thermal_fraction) * band_response(
        f, p.antenna_band_mhz, p.band_order, p.sampling_rate_mhz
    )
    coeff = rng.standard_normal((n, len(f))) + 1j * rng.standard_normal((n, len(f)))
    noise = _unit_rms(np.fft.irfft(coeff * amplitude, n=p.trace_length, axis=1))
    t = np.arange(p.trace_length) / p.sampling_rate_mhz  # microseconds
    for line in p.rfi_lines_mhz:
        phase = rng.uniform(0, 2 * np.pi, size=(n, 1))
        noise += p.rfi_rms * np.sqrt(2) * np.cos(2 * np.pi * line * t[None, :] + phase)
    return _unit_rms(noise)


def uniform_noise(n: int, p: RadioSimulation, rng: np.random.Generator) -> np.ndarray:
    return _unit_rms(rng.uniform(-1.0, 1.0, size=(n, p.trace_length)))


def cosine_noise(n: int, p: RadioSimulation, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(p.trace_length) / p.sampling_rate_mhz
    lo, hi = p.n_cosines_range
    counts = rng.integers(lo, hi + 1, size=n)
    noise = np.zeros((n, p.trace_length))
    for j in range(hi):
        active = (counts > j)[:, None]
        freq = rng.uniform(*p.cosine_band_mhz, size=(n, 1))
        phase = rng.uniform(0, 2 * np.pi, size=(n, 1))
        amp = rng.uniform(0.2, 1.0, size=(n, 1))
        noise += active * amp * np.cos(2 * np.pi * freq * t[None, :] + phase)
    return _unit_rms(noise)


NOISE = {"galactic": galactic_noise, "uniform": uniform_noise, "cosine": cosine_noise}


def simulate_radio(n: int, p: RadioSimulation, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """``traces`` (signal + noise) and ``signals``, shape (n, trace_length), float32.

    Also ``snr`` (0 for noise-only traces) and ``arrival_sample`` (NaN for noise-only).
    """
    traces = np.empty((n, p.trace_length), np.float32)
    signals = np.zeros((n, p.trace_length), np.float32)
    has_signal = rng.random(n) >= p.noise_only_fraction
    snr = np.where(has_signal, draw_snr(n, p, rng), 0.0)
    arrival = np.full(n, np.nan)
    for start in range(0, n, p.chunk_size):
        sl = slice(start, min(start + p.chunk_size, n))
        m = sl.stop - sl.start
        s, t0 = pulses(m, p, rng)
        s *= snr[sl, None]
        signals[sl] = s
        arrival[sl] = np.where(has_signal[sl], t0, np.nan)
        traces[sl] = s + NOISE[p.noise](m, p, rng)
    return {
        "traces": traces,
        "signals": signals,
        "snr": snr.astype(np.float32),
        "arrival_sample": arrival.astype(np.float32),
    }
