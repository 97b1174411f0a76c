"""Radio traces: simulator, raw format and preprocessing, metrics, baselines, model."""

import numpy as np
import pytest
import torch

from aeflow.config import ConfigError, validate_config
from aeflow.data import radio
from aeflow.data.simulate.radio import RadioSimulation, band_response, draw_snr, simulate_radio
from aeflow.data.sources import RawDataError
from aeflow.evaluation import traces as tm
from aeflow.evaluation.baselines import (
    apply_gain,
    butterworth_bandpass,
    power_spectra,
    trace_denoising_baselines,
    wiener_gain,
    wiener_gain_blocks,
)
from aeflow.models import build_model, count_parameters

FS = 180.0


def _power_spectrum(x, fs=FS):
    f = np.fft.rfftfreq(x.shape[-1], 1 / fs)
    return f, (np.abs(np.fft.rfft(x, axis=-1)) ** 2).mean(axis=0)


def _trace_metrics(
    denoised, signal, has_signal, snr, *, tolerance, half_width, threshold, snr_bins
):
    """One denoiser's metric block and its per-trace values (but the peak amplitude)."""
    values = tm.trace_values(denoised, signal, has_signal, tolerance, half_width)
    block = tm.trace_summary(values, has_signal, snr, threshold, snr_bins)
    return block, {k: v for k, v in values.items() if k != "peak_amplitude"}


# ---- simulator ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def simulated():
    out = {}
    for noise in ("galactic", "uniform", "cosine"):
        p = RadioSimulation(noise=noise)
        out[noise] = (p, simulate_radio(3000, p, np.random.default_rng(7)))
    return out


@pytest.mark.parametrize("noise", ["galactic", "uniform", "cosine"])
def test_snr_follows_its_parameters(simulated, noise):
    p, d = simulated[noise]
    has = np.abs(d["signals"]).max(axis=1) > 0
    assert abs(has.mean() - (1 - p.noise_only_fraction)) < 0.03
    # SNR measured from the arrays (max|signal| / RMS(noise)) equals the drawn one
    measured = radio.signal_to_noise(d["traces"], d["signals"])
    np.testing.assert_allclose(measured[has], d["snr"][has], rtol=1e-4)
    assert np.all(measured[~has] == 0)
    assert p.snr_range[0] - 1e-4 <= measured[has].min()
    assert measured[has].max() <= p.snr_range[1] + 1e-4
    assert abs(np.median(measured[has]) - p.snr_median) < 0.1
    assert measured[has].max() > 6  # the range is spanned, not only the median


def test_snr_median_exact_for_any_truncation():
    p = RadioSimulation(snr_median=3.0, snr_sigma_ln=1.5, snr_range=(1.0, 5.0))
    snr = draw_snr(200_000, p, np.random.default_rng(0))
    assert abs(np.median(snr) - 3.0) < 0.02
    assert snr.min() >= 1.0 and snr.max() <= 5.0


def test_signal_power_is_in_its_band(simulated):
    p, d = simulated["uniform"]
    f, power = _power_spectrum(d["signals"])
    lo, hi = p.signal_band_mhz
    inband = (f >= lo) & (f <= hi)
    assert power[inband].sum() / power.sum() > 0.9
    # arrival times inside the configured range, and the peak sits near the arrival
    has = np.isfinite(d["arrival_sample"])
    t0 = d["arrival_sample"][has]
    assert t0.min() >= p.arrival_range[0] * 500 and t0.max() <= p.arrival_range[1] * 500
    peaks = tm.peak_positions(d["signals"][has])
    assert np.median(np.abs(peaks - t0)) < 5


def test_galactic_noise_falls_with_frequency_and_is_band_limited(simulated):
    p, d = simulated["galactic"]
    f, power = _power_spectrum(d["traces"] - d["signals"])
    at = lambda mhz: power[np.argmin(np.abs(f - mhz))]  # noqa: E731
    assert at(35) > 1.5 * at(50) > 1.5 * at(75) * 0.75  # falling spectrum
    assert at(35) > at(75) * 2
    # outside the antenna band the power is suppressed by the Butterworth skirts
    assert at(10) < 0.05 * at(35) and at(88) < 0.05 * at(75)
    # the interference lines stand out of their neighbourhood
    for line in p.rfi_lines_mhz:
        i = np.argmin(np.abs(f - line))
        assert power[i] > 3 * np.median(power[i - 8 : i + 9])
    # unit RMS per trace
    rms = np.sqrt(((d["traces"] - d["signals"]) ** 2).mean(axis=1))
    np.testing.assert_allclose(rms, 1.0, rtol=1e-4)


def test_uniform_noise_is_white_and_uniform(simulated):
    _, d = simulated["uniform"]
    noise = d["traces"] - d["signals"]
    _f, power = _power_spectrum(noise)
    inner = power[5:-5]
    assert inner.std() / inner.mean() < 0.1  # flat
    # bounded like U(-sqrt3, sqrt3), up to the per-trace RMS normalization
    assert np.abs(noise).max() <= np.sqrt(3) * 1.15
    # kurtosis of a uniform distribution: 1.8
    assert abs((noise**4).mean() / (noise**2).mean() ** 2 - 1.8) < 0.05


def test_cosine_noise_is_a_few_lines_per_trace(simulated):
    _p, d = simulated["cosine"]
    noise = (d["traces"] - d["signals"])[:200]
    power = np.abs(np.fft.rfft(noise, axis=1)) ** 2
    top = np.sort(power, axis=1)[:, ::-1]
    # with <= 5 sinusoids (each leaking into ~3 bins), 15 bins hold almost all the power
    assert np.median(top[:, :15].sum(axis=1) / power.sum(axis=1)) > 0.9


def test_simulation_is_deterministic_and_validated():
    p = RadioSimulation(noise="cosine")
    a = simulate_radio(50, p, np.random.default_rng(3))
    b = simulate_radio(50, p, np.random.default_rng(3))
    np.testing.assert_array_equal(a["traces"], b["traces"])
    with pytest.raises(ValueError, match="Nyquist"):
        RadioSimulation(signal_band_mhz=(30, 95))
    with pytest.raises(ValueError, match="noise"):
        RadioSimulation(noise="pink")


def test_band_response_is_one_in_band_and_small_outside():
    f = np.array([5.0, 49.0, 88.0])
    r = band_response(f, (30, 80), 4, FS)
    assert r[1] == pytest.approx(1.0, abs=0.01) and r[0] < 0.01 and r[2] < 0.05


# ---- config ------------------------------------------------------------------------------------
def _radio_config(**dataset):
    return {
        "datasets": {"r": {"kind": "radio", "source": "simulate", **dataset}},
        "experiments": {"e": {"dataset": "r", "model": "conv1d_dae"}},
    }


def test_config_checks_radio_consistency():
    cfg = validate_config(_radio_config())
    assert cfg["datasets"]["r"]["simulate"]["trace_length"] == 500
    assert cfg["experiments"]["e"]["evaluate"]["traces"]["peak_tolerance_fraction"] == 0.02
    with pytest.raises(ConfigError, match=r"datasets\.r\.simulate\.signal_band_mhz"):
        validate_config(_radio_config(simulate={"signal_band_mhz": [30, 100]}))
    with pytest.raises(ConfigError, match=r"preprocess\.sampling_rate_mhz = 200"):
        validate_config(_radio_config(preprocess={"sampling_rate_mhz": 200}))
    # traces from a file state their rate: no silent 180 MHz
    with pytest.raises(ConfigError, match=r"datasets\.r\.preprocess\.sampling_rate_mhz: state"):
        validate_config(_radio_config(source="mine.npz"))
    stated = validate_config(
        _radio_config(source="mine.npz", preprocess={"sampling_rate_mhz": 250})
    )
    assert radio.sampling_rate(stated["datasets"]["r"]) == 250.0
    with pytest.raises(ConfigError, match=r"datasets\.r\.simulate\.noise"):
        validate_config(_radio_config(simulate={"noise": "pink"}))
    bad = _radio_config()
    bad["experiments"]["e"]["model"] = "skip_dae"
    with pytest.raises(ConfigError, match=r"experiments\.e\.model: 'skip_dae' takes images"):
        validate_config(bad)


# ---- raw format and preprocessing -------------------------------------------------------------


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r.update(signals=r["signals"][:5]), r"differ in shape"),
        (lambda r: r.update(traces=r["traces"][:, :, None, None]), r"key 'traces' has shape"),
        (lambda r: r["traces"].__setitem__((3, 7), np.nan), r"key 'traces' has 1 NaN.*trace 3"),
        (lambda r: r.update(traces=r["traces"][:, :8], signals=r["signals"][:, :8]), r"< 16"),
    ],
)
def test_check_raw_errors_name_file_and_key(raw_radio, mutate, message):
    mutate(raw_radio)
    with pytest.raises(RawDataError, match=rf"radio\.npz: .*{message}"):
        radio.check_raw(raw_radio, "radio.npz")


def test_check_raw_accepts_a_channel_axis(raw_radio):
    with_channel = {k: v[..., None] for k, v in raw_radio.items()}
    traces, signals = radio.check_raw(with_channel, "x.npz")
    assert traces.shape == signals.shape == (10, 500)


# ---- metrics on hand-made traces ------------------------------------------------------------
def test_peak_location_accuracy_by_hand():
    signal = np.zeros((4, 100))
    signal[:, 50] = 1.0
    denoised = np.zeros((4, 100))
    denoised[0, 50] = 1.0  # exact
    denoised[1, 60] = -2.0  # 10 samples off, negative: within tolerance (|x| counts)
    denoised[2, 61] = 1.0  # 11 off: miss
    denoised[3, 5] = 1.0  # far: miss
    hits = tm.peak_hits(denoised, signal, tolerance=10)
    assert hits.tolist() == [True, True, False, False]
    block, _per = _trace_metrics(
        denoised,
        signal,
        np.ones(4, bool),
        np.array([1.2, 1.8, 2.5, 7.0]),
        tolerance=10,
        half_width=2,
        threshold=0.5,
        snr_bins=[1, 2, 10],
    )
    assert block["peak_location_accuracy"] == 0.5
    assert [b["fraction"] for b in block["peak_location_accuracy_by_snr"]] == [1.0, 0.0]
    assert [b["n"] for b in block["peak_location_accuracy_by_snr"]] == [2, 2]


def test_envelope_timing_by_hand():
    """A wave packet's envelope peaks at the packet's centre even where its largest sample
    sits on a neighbouring lobe; a single spike has its envelope peak on the spike."""
    t = np.arange(400)
    packet = np.exp(-0.5 * ((t - 200) / 8.0) ** 2) * np.cos(2 * np.pi * (t - 200) / 6 + 1.2)
    env = tm.envelope(packet[None])[0]
    assert abs(int(env.argmax()) - 200) <= 1
    np.testing.assert_allclose(
        env[150:250], np.exp(-0.5 * ((t[150:250] - 200) / 8.0) ** 2), atol=0.02
    )
    assert tm.peak_positions(packet[None], "envelope")[0] == env.argmax()
    with pytest.raises(ValueError, match="timing must be one of"):
        tm.peak_positions(packet[None], "zero crossing")
    # an output shifted by 5 samples is timed 5 off both ways; by 12 it misses both ways
    for shift, hit in ((5, True), (12, False)):
        out = np.roll(packet, shift)[None]
        assert tm.peak_hits(out, packet[None], 10, "envelope")[0] == hit
        assert tm.peak_hits(out, packet[None], 10)[0] == hit


def test_energy_kept_per_snr_bin_and_above_snr_3():
    t = np.arange(200)
    signal = np.exp(-0.5 * ((t - 100) / 3.0) ** 2)[None, :].repeat(4, axis=0)
    scale = np.sqrt([[1.0], [0.5], [1.1], [0.9]])  # energy x1, x0.5, x1.1, x0.9
    block, per = _trace_metrics(
        signal * scale,
        signal,
        np.ones(4, bool),
        np.array([1.5, 2.5, 4.0, 8.0]),
        tolerance=10,
        half_width=15,
        threshold=0.5,
        snr_bins=[1, 3, 10],
    )
    assert [b["fraction"] for b in block["energy_within_20pct_by_snr"]] == [0.5, 1.0]
    above = block["energy_ratio_above_snr_min"]  # the two traces with SNR >= 3
    assert above["n"] == 2 and above["median"] == pytest.approx(1.0)
    assert block["peak_location_accuracy_envelope"] == 1.0
    assert per["peak_hit_envelope"].tolist() == [True] * 4


def test_signal_detection_at_a_fixed_false_positive_rate_by_hand():
    # 1000 noise-only traces score 0..0.999; signal traces score by their SNR
    noise_scores = np.arange(1000) / 1000
    signal_scores = np.array([0.5, 0.9985, 2.0, 3.0, 0.1, 5.0])
    snr = np.array([1.5, 1.8, 2.5, 3.5, 4.0, 8.0])
    scores = np.concatenate([noise_scores, signal_scores])
    has_signal = np.r_[np.zeros(1000, bool), np.ones(6, bool)]
    d = tm.detection(scores, has_signal, np.r_[np.zeros(1000), snr], [1, 3, 10], 0.002)
    # at most 2 of 1000 noise-only traces above the threshold: 0.998
    assert d["threshold"] == pytest.approx(0.998) and d["false_positive_rate_reached"] == 0.001
    assert d["true_positive_rate"] == pytest.approx(4 / 6)
    assert d["true_positive_rate_above_snr_min"] == pytest.approx(2 / 3)  # 3.0 and 5.0 of 3
    assert [b["fraction"] for b in d["true_positive_rate_by_snr"]] == [pytest.approx(2 / 3)] * 2
    # AUROC: the signal scores beat 500, 998.5, 1000, 1000, 100, 1000 noise scores
    assert d["auroc"] == pytest.approx((500 + 999 + 1000 + 1000 + 101 + 1000) / 6000, abs=1e-3)
    assert d["n_noise_only"] == 1000
    assert tm.detection(signal_scores, np.ones(6, bool), snr, [1, 10]) is None


def test_energy_ratio_by_hand():
    t = np.arange(200)
    signal = np.exp(-0.5 * ((t - 100) / 3.0) ** 2)[None, :].repeat(3, axis=0)
    denoised = signal * np.array([[1.0], [0.5], [2.0]])  # energy x1, x0.25, x4
    denoised[:, 10] = 5.0  # far outside the window: not counted
    ratios = tm.energy_ratios(denoised, signal, half_width=15)
    np.testing.assert_allclose(ratios, [1.0, 0.25, 4.0], rtol=1e-9)
    s = tm.ratio_summary(ratios)
    assert s["median"] == pytest.approx(1.0) and s["n"] == 3
    assert s["within_20pct"] == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="no true energy"):
        tm.energy_ratios(denoised, np.zeros_like(signal), half_width=15)


def test_false_pulse_rate_and_efficiency():
    x = np.zeros((5, 50))
    x[0, 3] = 2.0
    x[1, 3] = -2.0
    block, per = _trace_metrics(
        x,
        np.vstack([np.eye(1, 50, 3)] * 2 + [np.zeros((3, 50))]),
        np.array([True, True, False, False, False]),
        np.array([3.0, 3.0, 0, 0, 0]),
        tolerance=1,
        half_width=1,
        threshold=1.0,
        snr_bins=[1, 10],
    )
    assert block["pulse_detection"]["efficiency"] == 1.0
    assert block["pulse_detection"]["false_pulse_rate"] == 0.0
    # all noise-only outputs are 0: the 1 %-false threshold is 0 and both pulses pass it
    assert block["pulse_detection"]["threshold_at_1pct_false"] == 0.0
    assert block["pulse_detection"]["efficiency_at_1pct_false"] == 1.0
    x[3, 10] = 1.5
    assert tm.exceed_fraction(np.abs(x[2:]).max(axis=-1), 1.0) == pytest.approx(1 / 3)
    assert np.isnan(per["energy_ratio"][2:]).all()


def test_binned_median():
    rows = tm.binned_median(
        np.array([1.0, 3.0, 5.0, 0.5]), np.array([1.0, 1.2, 1.9, 4.0]), [1, 2, 5]
    )
    assert [r["median"] for r in rows] == [3.0, 0.5]
    assert [r["n"] for r in rows] == [3, 1]
    assert tm.binned_median(np.array([]), np.array([]), [1, 2])[0]["median"] is None


def test_spectra_of_a_sinusoid_summed_block_by_block():
    import xarray as xr

    from aeflow.evaluation.suites import trace_spectra

    t = np.arange(500) / FS
    x = np.vstack([np.cos(2 * np.pi * 54.0 * t)] * 5)  # 54 MHz = bin 150
    pred = xr.Dataset(
        {
            "input": (("sample", "time"), 2 * x),
            "target": (("sample", "time"), x),
            "denoised": (("denoiser", "sample", "time"), x[None]),
            "has_signal": (("sample",), np.array([True, True, True, False, False])),
        },
        coords={"denoiser": ["model"]},
        attrs={"sampling_rate_mhz": FS},
    )
    spectra = trace_spectra(pred, block_samples=2)
    assert spectra["frequency"].values[150] == pytest.approx(54.0)
    true = spectra["signal_traces"].sel(curve="true").values
    assert true.argmax() == 150 and true[150] == pytest.approx(250.0)
    assert spectra["noise_only_traces"].sel(curve="noisy").values[150] == pytest.approx(500.0)
    assert spectra.attrs["n_signal"] == 3 and spectra.attrs["n_noise_only"] == 2
    assert spectra.equals(trace_spectra(pred))  # the same in one block


# ---- baselines --------------------------------------------------------------------------------
def test_bandpass_removes_out_of_band_power():
    t = np.arange(500) / FS
    low, inband, high = (np.cos(2 * np.pi * f * t)[None, :] for f in (8.0, 54.0, 88.0))
    out = butterworth_bandpass(low + inband + high, (30, 80), FS, order=4)
    f, p = _power_spectrum(out)
    _, p_in = _power_spectrum(inband)
    for mhz in (8.0, 88.0):
        i = np.argmin(np.abs(f - mhz))
        assert p[i] < 1e-3 * p_in.max()
    i = np.argmin(np.abs(f - 54.0))
    assert p[i] == pytest.approx(p_in[i], rel=0.02)  # zero phase, unit gain in band
    np.testing.assert_allclose(out[0, 100:400], inband[0, 100:400], atol=0.02)


def test_wiener_gain_on_a_known_case():
    rng = np.random.default_rng(1)
    t = np.arange(256) / FS
    clean = np.cos(2 * np.pi * 45.0 * t + rng.uniform(0, 6.3, (400, 1)))
    noisy = clean + rng.normal(0, 1.0, clean.shape)
    gain = wiener_gain(noisy, clean)
    f = np.fft.rfftfreq(256, 1 / FS)
    line = np.argmin(np.abs(f - 45.0))
    # line bin: S = (256/2)^2 per trace, N = 256 -> gain = 64 / 65; elsewhere S ~ leakage only
    assert gain[line] == pytest.approx(64 / 65, rel=0.05)
    assert np.median(gain) < 0.05
    filtered = apply_gain(noisy, gain)
    assert ((filtered - clean) ** 2).mean() < 0.1 * ((noisy - clean) ** 2).mean()


def test_trace_baselines_are_named_and_fitted_on_train(simulated):
    _, d = simulated["galactic"]
    spectra = power_spectra([(d["traces"], d["signals"])])
    filters = trace_denoising_baselines(spectra, (30, 80), 4, FS)
    assert [f.name for f in filters] == ["identity", "bandpass", "wiener"]
    mse = {f.name: ((f.apply(d["traces"]) - d["signals"]) ** 2).mean() for f in filters}
    assert mse["wiener"] < mse["bandpass"] < mse["identity"]
    # the Wiener spectra summed over blocks read one at a time: the same gain however cut
    cut = [(d["traces"][a:b], d["signals"][a:b]) for a, b in ((0, 700), (700, 1234), (1234, 3000))]
    assert np.array_equal(wiener_gain_blocks(iter(cut)), wiener_gain(d["traces"], d["signals"]))


# ---- model --------------------------------------------------------------------------------------
@pytest.mark.parametrize("length", [500, 128, 37])
def test_conv1d_dae_keeps_the_trace_length(length):
    model = build_model("conv1d_dae").eval()
    with torch.no_grad():
        assert model(torch.randn(2, 1, length)).shape == (2, 1, length)


def test_conv1d_dae_parameter_count():
    # channels (8, 16), kernel 3, 1 -> 1 channel:
    # encoder: (1*8*3+8) + (8*8*3+8) + (8*16*3+16) + (16*16*3+16) = 32+200+400+784
    # decoder: up conv 16->8 (392) + two 8->8 (200 each); head 8->1 (25)
    model = build_model("conv1d_dae", {"channels": [8, 16], "kernel_size": 3})
    assert count_parameters(model) == 32 + 200 + 400 + 784 + 392 + 400 + 25
    assert model.describe()["config"]["channels"] == (8, 16)


def test_conv1d_dae_shortcuts_matter():
    torch.manual_seed(0)
    with_sc = build_model("conv1d_dae", {"channels": [4, 8]})
    without = build_model("conv1d_dae", {"channels": [4, 8], "shortcuts": False})
    without.load_state_dict(with_sc.state_dict())  # same weights, same parameter set
    x = torch.randn(1, 1, 64)
    with torch.no_grad():
        assert not torch.allclose(with_sc(x), without(x))


def test_the_extreme_samples_channel():
    from aeflow.models.conv1d_dae import extreme_samples

    x = torch.tensor([[0.1, -0.2, 3.0, -1.0, 0.5, -2.0, 0.0, 0.3, 0.2, -0.4]])
    # the 0.8 quantile of |x| is 1.0 (numpy's linear interpolation, as torch's)
    level = float(np.quantile(np.abs(x.numpy()), 0.8))
    channel = extreme_samples(x, 0.8)
    expected = np.sign(x.numpy()) * np.maximum(np.abs(x.numpy()) - level, 0) / (3.0 - level)
    np.testing.assert_allclose(channel.numpy(), expected, atol=1e-5)
    assert channel[0, 2] == pytest.approx(1.0, abs=1e-5) and channel[0, 5] < 0
    assert (channel[0, [0, 1, 3, 4, 6, 7, 8, 9]] == 0).all()  # below the quantile
    # per trace: a trace scaled by 10 gives the same channel
    np.testing.assert_allclose(extreme_samples(10 * x, 0.8).numpy(), expected, atol=1e-5)
    # the network takes it as a second input channel: one more filter slice in the first conv
    plain = build_model("conv1d_dae", {"channels": [8, 16], "kernel_size": 3})
    with_channel = build_model(
        "conv1d_dae", {"channels": [8, 16], "kernel_size": 3, "extremes": 0.99}
    )
    assert count_parameters(with_channel) == count_parameters(plain) + 8 * 3
    with torch.no_grad():
        assert with_channel.eval()(torch.randn(2, 1, 37)).shape == (2, 1, 37)


def test_conv1d_dae_bad_params():
    with pytest.raises(ValueError, match="extremes"):
        build_model("conv1d_dae", {"extremes": 1.0})
    with pytest.raises(ValueError, match="kernel_size"):
        build_model("conv1d_dae", {"kernel_size": 4})
    with pytest.raises(ValueError, match="activation"):
        build_model("conv1d_dae", {"activation": "tanhh"})


def test_config_checks_radio_experiments():
    base = _radio_config()
    base["experiments"]["e"]["evaluate"] = {"baselines": {"bandpass_mhz": [30, 95]}}
    with pytest.raises(ConfigError, match=r"bandpass_mhz: high edge 95 MHz is not below Nyquist"):
        validate_config(base)
    bins = _radio_config()
    bins["experiments"]["e"]["evaluate"] = {"traces": {"snr_bins": [1, 3, 2]}}
    with pytest.raises(ConfigError, match=r"snr_bins must increase"):
        validate_config(bins)
    other = _radio_config()
    other["datasets"]["long"] = {
        "kind": "radio",
        "source": "simulate",
        "simulate": {"trace_length": 1000},
    }
    other["experiments"]["e"]["evaluate"] = {"also_on": ["long"]}
    with pytest.raises(ConfigError, match=r"also_on: dataset 'long' has traces of 1000"):
        validate_config(other)
    bn = _radio_config()
    bn["experiments"]["e"]["model_params"] = {"batch_norm": True}
    assert validate_config(bn)["experiments"]["e"]["model_params"]["batch_norm"] is True


def test_trace_figures_without_signal_traces():
    """A test set of noise-only traces still gets figures (a note instead of a crash)."""
    import matplotlib.pyplot as plt

    from aeflow.plotting import traces as tp

    t = np.arange(50.0)
    zeros = np.zeros((3, 50))
    fig = tp.dataset_examples(t, zeros + 1, zeros, np.zeros(3))
    assert "no signal traces" in fig.axes[0].texts[0].get_text()
    plt.close(fig)
    fig = tp.spectra(np.arange(26.0), {"true": np.full(26, np.nan)})
    assert "no signal traces" in fig.axes[0].texts[0].get_text()
    plt.close(fig)


# ---- the signal classifier ----------------------------------------------------------------------
def test_conv1d_classifier_gives_one_logit_per_trace_and_counts_its_parameters():
    # channels (4, 8), kernel 3: convs (1*4*3+4) + (4*4*3+4) + (4*8*3+8) + (8*8*3+8);
    # head: max and mean of 8 features -> 1 logit: 16 + 1
    model = build_model("conv1d_classifier", {"channels": [4, 8], "kernel_size": 3})
    assert count_parameters(model) == 16 + 52 + 104 + 200 + 17
    for length in (500, 37):  # a pulse may arrive anywhere: pooled over time, any length
        assert model(torch.randn(3, 1, length)).shape == (3,)
    with pytest.raises(ValueError, match="kernel_size"):
        build_model("conv1d_classifier", {"kernel_size": 2})


def test_conv1d_classifier_loss_is_the_bce_of_its_logits():
    torch.manual_seed(0)
    model = build_model("conv1d_classifier", {"channels": [4]})
    x, flags = torch.randn(6, 1, 64), torch.tensor([[1.0], [0], [1], [1], [0], [1]])
    terms = model.loss({"input": x, "target": flags})
    with torch.no_grad():
        logits = model(x)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(logits, flags[:, 0])
    assert float(terms["loss"].detach()) == pytest.approx(float(expected), rel=1e-6)
    assert float(terms["accuracy"]) == pytest.approx(
        float(((logits > 0) == (flags[:, 0] > 0)).float().mean())
    )
    assert model.tracked_terms == ("accuracy",)
    terms["loss"].backward()
    assert model.head.weight.grad is not None


def _trace_set(raw):
    """Simulated traces as a prepared store would hold them: every other trace is test."""
    import xarray as xr

    traces = np.asarray(raw["traces"], np.float32)
    signals = np.asarray(raw["signals"], np.float32)
    has_signal = np.abs(signals).max(axis=-1) > 0
    n = len(traces)
    return xr.Dataset(
        {
            "input": (("sample", "time"), traces / traces.std()),
            "target": (("sample", "time"), signals / traces.std()),
            "has_signal": (("sample",), has_signal),
            "snr": (("sample",), np.where(has_signal, 5.0, 0.0)),
            "split": (("sample",), np.where(np.arange(n) % 2, "test", "train")),
        },
        coords={"sample": np.arange(n), "time": np.arange(traces.shape[1]) / 0.18},
        attrs={"sampling_rate_mhz": 180.0, "dataset": "r", "noise_model": "galactic"},
    )


@pytest.mark.parametrize("suite_name", ["TraceDenoising", "TraceDetection"])
def test_trace_suites_give_the_same_numbers_and_stores_in_blocks(simulated, suite_name):
    import xarray as xr

    from aeflow.evaluation import suites

    ds = _trace_set(simulated["uniform"][1])
    cls = getattr(suites, suite_name)
    judged = []
    for block_samples in (4096, 333):
        ec = validate_config(_radio_config())["experiments"]["e"]["evaluate"]
        parts = []
        suite = cls(ds, ec | {"block_samples": block_samples})
        # stand-ins: the band-pass as the denoiser, the matched filter as the detector
        denoiser = suite_name == "TraceDenoising"
        model = suite.filters[1].apply if denoiser else suite.matched_filter
        block = suite.evaluate(model, ds, "test", parts.append)
        judged.append((block, xr.concat(parts, dim="sample", data_vars="minimal")))
    (whole, store), (blocks, parts) = judged
    assert blocks == whole and parts.equals(store)
    assert whole["n_test"] == 1500 and store.sizes["sample"] == 1500
    if suite_name == "TraceDenoising":  # the model is the band-pass: the same numbers
        assert whole["test_loss"] == whole["baselines"]["bandpass"]["test_loss"]
        # knowing each pulse's shape and arrival beats any filter's energy
        known = whole["known_pulse"]
        bound = known["energy_ratio"]
        assert bound["n"] == whole["energy_ratio"]["n"]
        assert bound["resolution_68"] < whole["energy_ratio"]["resolution_68"]
        assert abs(bound["median"] - 1) < 0.1
        assert np.isfinite(store["energy_ratio_bound"].values).sum() == bound["n"]
        # the pulse placed where its matched filter peaks: timed better than the band-pass
        assert known["peak_location_accuracy"] > whole["peak_location_accuracy"]
        hits = store["peak_hit_bound"].values[store["has_signal"].values]
        assert hits.mean() == pytest.approx(known["peak_location_accuracy"])
        row = cls.summary_rows("e", {**whole, "dataset": "r"})[0]
        assert (
            row["known-pulse energy 68% half width SNR>=3"]
            == (whole["known_pulse"]["energy_ratio_above_snr_min"]["resolution_68"])
        )
        noise = ds["input"].values[1::2].astype(np.float64) - ds["target"].values[1::2]
        assert whole["noise_rms"] == pytest.approx(float(np.sqrt((noise**2).mean())), rel=1e-12)


def test_the_detection_suite_scores_the_classifier_beside_the_envelope_trigger(simulated):
    from aeflow.evaluation.suites import TraceDetection

    ds = _trace_set(simulated["galactic"][1])
    has_signal = ds["has_signal"].values
    ec = validate_config(_radio_config())["experiments"]["e"]["evaluate"]
    suite = TraceDetection(ds, ec)

    def oracle(inputs):  # a perfect classifier: the test traces' own flags as logits
        return np.where(has_signal[1::2], 5.0, -5.0)

    parts = []
    block = suite.evaluate(oracle, ds, "test", parts.append)
    (pred,) = parts  # (traces are judged whole: one part)
    assert block["auroc"] == 1.0 and block["true_positive_rate"] == 1.0
    assert block["true_positive_rate_above_snr_min"] == 1.0
    assert set(block["baselines"]) == {"identity", "bandpass", "wiener", "matched_filter"}
    assert all(b["auroc"] < 1.0 for b in block["baselines"].values())  # SNR-limited trigger
    envelope_trigger = block["baselines"]["bandpass"]["auroc"]
    assert block["baselines"]["matched_filter"]["auroc"] > envelope_trigger
    assert list(pred["detector"].values) == [
        "model",
        "identity",
        "bandpass",
        "wiener",
        "matched_filter",
    ]
    assert pred["detection_score"].shape == (5, block["n_test"])
    # the matched filter of each trace's own pulse (only the arrival unknown) bounds the
    # bank of training pulses
    bound = block["bound"]
    assert bound["auroc"] >= block["baselines"]["matched_filter"]["auroc"]
    assert bound["n_noise_only"] == block["n_noise_only"] and "known pulse" in bound["score"]
    assert pred["detection_score_bound"].shape == (block["n_test"],)
    flat = TraceDetection.flat(block)
    assert flat["detection_auroc"] == 1.0 and "baseline.bandpass.detection_auroc" in flat
    assert flat["bound.detection_auroc"] == bound["auroc"]
    row = TraceDetection.summary_rows("c", {**block, "dataset": "r"})[0]
    assert row["classifier TPR @ 0.2% FPR SNR>=3"] == 1.0
    # without noise-only traces there is nothing to tell apart: a clear error
    with pytest.raises(ValueError, match="needs both signal and noise-only traces"):
        only_signal = ds.isel(sample=np.flatnonzero(has_signal))
        suite.evaluate(lambda inputs: np.full(len(inputs), 5.0), only_signal, "test", print)


def test_the_matched_filter_finds_a_known_pulse_in_coloured_noise():
    from aeflow.evaluation.baselines import matched_filter_bank

    rng = np.random.default_rng(0)
    n, length = 400, 256
    pulse = np.zeros(length)
    pulse[:5] = [0.5, 1.0, -1.0, -0.5, 0.2]  # one fixed shape, arriving anywhere
    red = np.cumsum(rng.standard_normal((n, length)), axis=-1) * 0.2  # a random walk:
    red -= red.mean(axis=-1, keepdims=True)  # strongly coloured noise
    noise = red + rng.standard_normal((n, length))
    has_signal = np.arange(n) % 2 == 0
    signals = np.array(
        [
            np.roll(pulse, s) if h else 0 * pulse
            for s, h in zip(rng.integers(0, length, n), has_signal, strict=True)
        ]
    )
    traces = noise + 4.0 * signals
    score, about = matched_filter_bank([(traces, 4.0 * signals)], has_signal, n_templates=8)
    assert "8 true pulses" in about
    scores = score(traces)
    # fitted on the training traces read in blocks: the same templates and whitening
    cut = [(traces[a:b], 4.0 * signals[a:b]) for a, b in ((0, 100), (100, 333), (333, n))]
    blocks_score, _ = matched_filter_bank(iter(cut), has_signal, n_templates=8)
    assert np.array_equal(blocks_score(traces), scores)
    assert scores.shape == (n,)
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(has_signal, scores) > 0.95  # whitening undoes the red noise
    assert roc_auc_score(has_signal, np.abs(traces).max(axis=-1)) < 0.8  # raw maximum fails
    with pytest.raises(ValueError, match="signal and noise-only training traces"):
        matched_filter_bank([(traces[has_signal], signals[has_signal])], has_signal[has_signal])


def test_the_noise_whitening_flattens_a_coloured_spectrum():
    from aeflow.evaluation.baselines import whitening_of

    rng = np.random.default_rng(1)
    n, length = 2000, 128
    amplitude = np.linspace(10.0, 0.5, length // 2 + 1)  # a falling spectrum, 20x in amplitude
    coeff = rng.standard_normal((n, length // 2 + 1)) + 1j * rng.standard_normal(
        (n, len(amplitude))
    )
    noise = np.fft.irfft(coeff * amplitude, n=length, axis=-1)
    pulses = np.zeros_like(noise)
    pulses[::2, 60:63] = [1.0, -2.0, 1.0]  # the clean pulses are taken out first
    cut = [(noise[a:b] + pulses[a:b], pulses[a:b]) for a, b in ((0, 700), (700, n))]
    whitening = whitening_of(power_spectra(iter(cut))[1])
    white = np.abs(np.fft.rfft(noise, axis=-1) * whitening) ** 2
    power = white.mean(axis=0)[1:-1]  # (DC and Nyquist are real: half the power)
    assert np.abs(power / power.mean() - 1).max() < 0.15
    with pytest.raises(ValueError, match="no training traces"):
        power_spectra(iter([]))


def test_the_known_pulse_bounds_on_white_noise():
    rng = np.random.default_rng(2)
    n, length = 4000, 200
    pulse = np.zeros(length)
    pulse[90:95] = [1.0, 3.0, -3.0, -2.0, 1.0]  # norm 4.9: the matched-filter SNR d
    d = np.linalg.norm(pulse)
    white = np.ones(length // 2 + 1)
    # without noise the amplitude is exact, wherever the pulse arrives
    ratios = tm.known_pulse_energy_ratios(2.0 * pulse[None], pulse[None], white)
    np.testing.assert_allclose(ratios, [4.0])
    shifted = np.roll(pulse, 37)
    scores = tm.known_pulse_scores(-np.stack([shifted, pulse]), pulse[None], white)
    np.testing.assert_allclose(scores, [d, d])  # either sign, any arrival
    # timing: the pulse is placed where it matches; 37 samples off the stated truth is a miss
    hits = tm.known_pulse_peak_hits(np.stack([pulse, shifted]), np.stack([pulse, pulse]), white, 10)
    assert hits.tolist() == [True, False]
    placed = tm.known_pulse_peak_hits(shifted[None], shifted[None], white, 0)
    assert placed.tolist() == [True]
    # in unit white noise the amplitude scatters by 1/d: the energy by about 2/d
    noise = rng.standard_normal((n, length))
    ratios = tm.known_pulse_energy_ratios(pulse + noise, np.broadcast_to(pulse, noise.shape), white)
    p16, median, p84 = np.percentile(ratios, [16, 50, 84])
    assert median == pytest.approx(1.0, abs=0.03)
    assert (p84 - p16) / 2 == pytest.approx(2 / d, rel=0.1)
    # a noise-only trace scores the largest of ~length correlations of unit variance
    noise_scores = tm.known_pulse_scores(noise, np.broadcast_to(pulse, noise.shape), white)
    assert 2.5 < np.median(noise_scores) < 3.6
