"""The SLURM profile against a real (single-node) SLURM: same results as a local run."""

import json
import re
import subprocess
import time

import pytest
import yaml

from conftest import REPO, run_snakemake, snakemake_command

CONFIG = {
    "mlflow": {"experiment": "aeflow-cluster-test"},
    "datasets": {
        "radio_uniform": {
            "kind": "radio",
            "source": "simulate",
            "n_samples": 300,
            "seed": 4,
            "simulate": {"noise": "uniform"},
        }
    },
    "experiments": {
        "radio_dae": {
            "dataset": "radio_uniform",
            "model": "conv1d_dae",
            "model_params": {"channels": [8, 16]},
            # device cpu: the job asks SLURM for no GPU (this test node has none)
            "train": {"epochs": 2, "batch_size": 32, "threads": 1, "device": "cpu"},
            "evaluate": {"n_examples": 2},
        }
    },
}

# The chain to an evaluated model: data, tracking store, training, evaluation (each job
# starts a Snakemake of its own on the node, so every extra job costs seconds).
TARGETS = ["results/eval/radio_dae/metrics.json"]

# The test node is small: shrink the profile's memory requests so jobs fit on it.
SMALL_NODE = [
    "--default-resources",
    "mem_mb=500",
    "runtime=10",
    "--set-resources",
    "fetch_npz:mem_mb=1000",
    "prepare:mem_mb=1000",
    "train:mem_mb=2000",
    "evaluate:mem_mb=2000",
    "--set-threads",
    "train=1",
    "evaluate=1",
]


def _metrics(workdir):
    return json.loads((workdir / "results/eval/radio_dae/metrics.json").read_text())


def _outputs(workdir):
    """The workflow's outputs relative to workdir: files, and each Zarr store as one entry
    (logs, MLflow artifacts and checkpoints left out)."""
    entries = set()
    for p in [*(workdir / "data").rglob("*"), *(workdir / "results").rglob("*")]:
        rel = p.relative_to(workdir)
        if rel.parts[1] in ("logs", "mlartifacts", "checkpoints"):
            continue
        in_store = any(part.endswith(".zarr") for part in rel.parts[:-1])
        if in_store or (p.is_dir() and not p.name.endswith(".zarr")):
            continue
        entries.add(str(rel))
    return entries


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    from slurm_cluster import ensure_installed, local_cluster

    reason = ensure_installed()
    if reason:
        pytest.skip(reason)
    with local_cluster(tmp_path_factory.mktemp("slurm")) as env:
        yield env


def test_profile_runs_every_job_through_sbatch_with_local_results(tmp_path, cluster):
    local, remote = tmp_path / "local", tmp_path / "slurm"
    for w in (local, remote):
        w.mkdir()
        (w / "tiny.yaml").write_text(yaml.safe_dump(CONFIG))

    # The local reference runs while SLURM works through its queue (mostly waiting).
    local_run = subprocess.Popen(
        snakemake_command(local, local / "tiny.yaml", "--cores", "1", *TARGETS),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    t0 = time.perf_counter()
    proc = run_snakemake(
        remote,
        remote / "tiny.yaml",
        "--workflow-profile",
        str(REPO / "profiles/slurm"),
        "--slurm-no-account",
        "--slurm-init-seconds-before-status-checks",
        "1",
        "--seconds-between-status-checks",
        "2",
        *TARGETS,
        *SMALL_NODE,
        env=cluster,
    )
    slurm_s = time.perf_counter() - t0
    local_out = local_run.communicate(timeout=900)[0]
    assert local_run.returncode == 0, local_out[-3000:]
    n_jobs = len(re.findall(r"^(?:local)?rule (?!all\b)\w+:", local_out, re.M))
    print(f"tiny workflow through SLURM: {slurm_s:.0f} s")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]

    # every job was submitted: one SLURM job id per job, each with its SLURM log
    job_ids = re.findall(r"submitted with SLURM jobid (\d+)", out)
    assert n_jobs >= 5 and len(job_ids) == n_jobs, out[-3000:]
    assert len(set(job_ids)) == n_jobs
    # ... and SLURM ran each of them to completion (completed jobs stay listed for MinJobAge)
    states = subprocess.run(
        ["squeue", "-h", "-t", "all", "-o", "%i %T"], env=cluster, capture_output=True, text=True
    ).stdout.split()
    state_of = dict(zip(states[::2], states[1::2], strict=True))
    assert {state_of.get(j) for j in job_ids} == {"COMPLETED"}, state_of

    # the same files and (within float tolerance) the same numbers as the local run
    assert _outputs(remote) == _outputs(local)
    a, b = _metrics(local), _metrics(remote)
    for key in ("test_loss", "peak_location_accuracy"):
        assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-6)
    for name in a["baselines"]:
        assert b["baselines"][name]["test_loss"] == pytest.approx(
            a["baselines"][name]["test_loss"], rel=1e-6
        )
    model = json.loads((remote / "results/models/radio_dae/model.json").read_text())
    assert model["device"].startswith("cpu")
