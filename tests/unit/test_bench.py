"""The throughput bench's driver: round summaries, the peer's command line and its output.

No TensorFlow here: bench/peer/keras_saxs.py imports it only in ``main``, so loading it
in aeflow's venv (which has none) works.
"""

import argparse
import importlib.util
import json

import pytest
import torch

from aeflow.device import autocast
from conftest import REPO


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = _load("train_throughput", REPO / "bench" / "train_throughput.py")
keras_saxs = _load("keras_saxs", REPO / "bench" / "peer" / "keras_saxs.py")


def test_summarize_takes_medians_over_rounds():
    # Medians 30 and 20 (not the means 40 and 15): one slow or fast round does not move them.
    s = bench.summarize([30.0, 80.0, 10.0], [20.0, 5.0, 20.0])
    assert s["samples_per_s"] == 30.0
    assert s["peer_samples_per_s"] == 20.0
    assert s["ratio"] == 1.5
    assert s["rounds"] == 3
    assert s["samples_per_s_rounds"] == [30.0, 80.0, 10.0]
    assert s["peer_samples_per_s_rounds"] == [20.0, 5.0, 20.0]


def test_rate_is_batch_over_median_step():
    assert bench.rate(128, [0.5, 4.0, 1.0, 2.0]) == pytest.approx(128 / 1.5)


def test_peer_command_is_understood_by_the_peer():
    args = argparse.Namespace(
        peer_python="python", steps=3, warmup=1, batch_size=128, size=64, threads=None
    )
    command = bench.peer_command(args, threads=2)
    assert command[1] == str(REPO / "bench" / "peer" / "keras_saxs.py")
    peer = keras_saxs.parse_args(command[2:])
    assert (peer.steps, peer.warmup, peer.batch_size, peer.size) == (3, 1, 128, 64)
    assert (peer.threads, peer.inter_op_threads) == (2, 2)
    assert peer.mode == "train_on_batch" and peer.dtype_policy == "float32"


def test_peer_parser_rejects_sizes_the_poolings_cannot_halve():
    with pytest.raises(SystemExit):
        keras_saxs.parse_args(["--size", "30"])


def test_parse_peer_output_reads_the_last_json_line():
    result = {"framework": "keras", "samples_per_s": 21.3, "parameters": 213025}
    stdout = f"keras saxs: 21.3 samples/s\n{json.dumps(result)}\n\n"
    assert bench.parse_peer_output(stdout) == result
    for bad in ("", "no json here\n", '{"parameters": 213025}\n'):
        with pytest.raises(ValueError):
            bench.parse_peer_output(bad)


def test_active_precision_follows_autocast():
    cpu = torch.device("cpu")
    assert bench.active_precision(cpu) == "fp32"
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert bench.active_precision(cpu) == "bf16"
    with autocast(cpu, False):
        assert bench.active_precision(cpu) == "fp32"


scale = _load("scale", REPO / "bench" / "scale.py")


@pytest.mark.parametrize("dataset", list(scale.DATASETS))
@pytest.mark.parametrize("stream", [False, True])
def test_the_scale_benchs_configs_are_valid_and_stream_when_asked(dataset, stream):
    from aeflow.config import validate_config

    cfg = validate_config(scale.config(dataset, 1000, stream))
    assert cfg["datasets"][dataset]["n_samples"] == 1000
    assert cfg["experiments"]["e"]["train"]["data_in_memory"] is (not stream)
    assert cfg["experiments"]["e"]["train"]["epochs"] == 1


def test_the_scale_bench_reports_the_growth_of_each_stages_peak():
    by_size = {
        4000: {"fetch": {"peak_rss_mb": 500}, "train": {"peak_rss_mb": 1000}},
        40000: {"fetch": {"peak_rss_mb": 550}, "train": {"peak_rss_mb": 3000}},
    }
    assert scale.growth(by_size) == {"fetch": 1.1, "train": 3.0}
