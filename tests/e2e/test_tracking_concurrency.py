"""MLflow under concurrency: several training jobs on one SQLite store; a real mlflow server."""

import os
import re
import socket
import sqlite3
import subprocess
import sys
import time

import pytest
import yaml

from aeflow import plan
from conftest import free_port, run_snakemake

N_JOBS = 4


def _config(tracking_uri: str, experiments: int) -> dict:
    return {
        "mlflow": {"tracking_uri": tracking_uri, "experiment": "aeflow-concurrency"},
        "datasets": {
            "radio": {
                "kind": "radio",
                "source": "simulate",
                "n_samples": 200,
                "seed": 2,
                "simulate": {"noise": "cosine"},
            }
        },
        "experiments": {
            f"dae{i}": {
                "dataset": "radio",
                "model": "conv1d_dae",
                "model_params": {"channels": [4, 8]},
                "train": {"epochs": 3, "batch_size": 32, "seed": i, "threads": 1},
                "evaluate": {"n_examples": 2},
            }
            for i in range(experiments)
        },
    }


def _train_events(snakemake_output: str) -> list[str]:
    """Starts and ends of training jobs in the order Snakemake reported them."""
    pattern = r"^(?:local)?rule train:|^Finished jobid: \d+ \(Rule: train\)"
    found = re.findall(pattern, snakemake_output, re.M)
    return ["end" if f.startswith("Finished") else "start" for f in found]


def _aeflow(workdir, *args):
    return [sys.executable, "-m", "aeflow.cli", *args, "--config", str(workdir / "c.yaml")]


def test_concurrent_training_jobs_share_one_sqlite_store(tmp_path):
    """4 training processes start at the same moment against one SQLite store: 4 complete
    runs with every metric, and the database passes SQLite's integrity check."""
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(_config("sqlite:///results/mlflow.db", 4)))
    for stage in (["fetch", "--dataset", "radio"], ["prepare", "--dataset", "radio"]):
        subprocess.run(_aeflow(tmp_path, *stage), cwd=tmp_path, check=True, capture_output=True)
    subprocess.run(_aeflow(tmp_path, "init-mlflow"), cwd=tmp_path, check=True, capture_output=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen(
            _aeflow(tmp_path, "train", "--experiment", f"dae{i}"),
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(N_JOBS)
    ]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0] * N_JOBS, "\n".join(o[-1500:] for o in outputs)

    db = tmp_path / "results/mlflow.db"
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{db}")
    exp = client.get_experiment_by_name("aeflow-concurrency")
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == N_JOBS
    assert {r.data.tags["aeflow.experiment"] for r in runs} == {f"dae{i}" for i in range(N_JOBS)}
    for run in runs:
        assert run.info.status == "FINISHED"
        for metric in ("train_loss", "val_loss", "lr"):
            assert len(client.get_metric_history(run.info.run_id, metric)) == 3, metric
        assert {"best_val_loss", "best_epoch", "train_seconds"} <= set(run.data.metrics)
        assert run.data.params["model"] == "conv1d_dae"


@pytest.fixture
def mlflow_server(tmp_path):
    port = free_port()
    server_dir = tmp_path / "server"
    server_dir.mkdir()
    cmd = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        f"sqlite:///{server_dir}/mlflow.db",
        "--artifacts-destination",
        str(server_dir / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    log = open(server_dir / "server.log", "w")  # noqa: SIM115
    # no job runners (MLflow 3's GenAI jobs: a pool of busy processes this test has no use for)
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    proc = subprocess.Popen(cmd, cwd=server_dir, stdout=log, stderr=subprocess.STDOUT, env=env)
    uri = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError((server_dir / "server.log").read_text()[-2000:]) from None
            time.sleep(0.5)
    else:
        proc.kill()
        raise RuntimeError("mlflow server did not start in 90 s")
    yield uri, server_dir
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


def test_workflow_tracks_to_an_mlflow_server(tmp_path, mlflow_server):
    """The workflow pointed at `mlflow server` over HTTP: runs, metrics and artifacts arrive
    on the server (artifacts in its store, not in the workflow's directory)."""
    uri, server_dir = mlflow_server
    work = tmp_path / "work"
    work.mkdir()
    (work / "c.yaml").write_text(yaml.safe_dump(_config(uri, 2)))
    targets = [f"results/eval/dae{i}/metrics.json" for i in range(2)]  # the tracked stages
    proc = run_snakemake(work, work / "c.yaml", "--cores", "2", *targets)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not (work / "results/mlflow.db").exists()

    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("aeflow-concurrency")
    assert exp.artifact_location.startswith("mlflow-artifacts:")
    runs = client.search_runs([exp.experiment_id])
    stages = sorted(r.data.tags["aeflow.stage"] for r in runs)
    assert stages == ["evaluate", "evaluate", "train", "train"]
    for run in runs:
        assert run.info.status == "FINISHED"
    # on a host without a GPU the trainings claim no gpu slot: they run side by side
    if plan.local_gpus() == 0:
        assert _train_events(proc.stdout + proc.stderr)[:2] == ["start", "start"]
    train = next(r for r in runs if r.data.tags["aeflow.stage"] == "train")
    assert len(client.get_metric_history(train.info.run_id, "val_loss")) == 3
    names = {a.path for a in client.list_artifacts(train.info.run_id, "model")}
    assert "model/model.pt" in names
    assert list((server_dir / "artifacts").rglob("model.pt"))


def test_only_jobs_that_will_run_on_a_gpu_claim_the_gpu_slot(tmp_path):
    """The workstation profile's gpu=1 runs GPU jobs one at a time; CPU jobs (device cpu, or
    auto on a host without a GPU) claim nothing and share the cores (dry run)."""
    cfg = _config("sqlite:///results/mlflow.db", 3)
    for name, device in zip(cfg["experiments"], ["auto", "cuda", "cpu"], strict=True):
        cfg["experiments"][name]["train"]["device"] = device
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    targets = [f"results/eval/dae{i}/metrics.json" for i in range(3)]
    proc = run_snakemake(tmp_path, tmp_path / "c.yaml", "-n", *targets)
    assert proc.returncode == 0, proc.stderr[-3000:]
    claims = []  # (rule, experiment, gpu) of each job block of the dry run
    for block in re.split(r"^(?=(?:local)?rule )", proc.stdout + proc.stderr, flags=re.M):
        rule = re.match(r"(?:local)?rule (train|evaluate):", block)
        if rule:
            experiment = re.search(r"wildcards: experiment=(\w+)", block)[1]
            claims.append((rule[1], experiment, re.search(r"resources: .*gpu=(\d)", block)[1]))
    auto = str(int(plan.local_gpus() > 0))
    assert sorted(claims) == [
        ("evaluate", "dae0", auto), ("evaluate", "dae1", "1"), ("evaluate", "dae2", "0"),
        ("train", "dae0", auto), ("train", "dae1", "1"), ("train", "dae2", "0"),
    ]  # fmt: skip
