"""The SLURM profile against a real (single-node) SLURM: same results as a local run."""

import json
import re

import pytest
import yaml

from conftest import REPO, run_snakemake

pytestmark = pytest.mark.e2e

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
    """Every workflow output (top-level entries of Zarr stores), relative to workdir."""
    files = set()
    for top in ("data", "results"):
        for p in (workdir / top).rglob("*"):
            rel = p.relative_to(workdir)
            if any(part.endswith(".zarr") for part in rel.parts[:-1]):
                continue  # inside a store
            if rel.parts[1] in ("logs", "mlartifacts", "checkpoints") or p.is_dir():
                if not p.name.endswith(".zarr"):
                    continue
            files.add(str(rel))
    return files


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

    proc = run_snakemake(local, local / "tiny.yaml", "--cores", "2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    n_jobs = len(re.findall(r"^(?:local)?rule (?!all\b)\w+:", proc.stdout + proc.stderr, re.M))

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
        *SMALL_NODE,
        env=cluster,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]

    # every job was submitted: one SLURM job id per job, each with its SLURM log
    job_ids = re.findall(r"submitted with SLURM jobid (\d+)", out)
    assert n_jobs >= 8 and len(job_ids) == n_jobs, out[-3000:]
    assert len(set(job_ids)) == n_jobs
    logs = list((remote / ".snakemake/slurm_logs").rglob("*.log"))
    assert {p.stem for p in logs} >= set(job_ids)

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
