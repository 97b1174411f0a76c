"""The MLflow store a workflow creates (``mlflow_init``): several workflows creating one new
SQLite store at once, and where a shared store's artifacts go."""

import subprocess
import sys
import time

import pytest
from mlflow.tracking import MlflowClient

from aeflow.training.tracking import Run, init_store

CREATE = """
import sys, time
from aeflow.stages.tracking import init_mlflow
start = float(sys.argv[1])
time.sleep(max(0.0, start - time.time()))
init_mlflow({"tracking_uri": sys.argv[2], "experiment": "shared", "artifact_location": None},
            sys.argv[3])
"""


def test_workflows_starting_together_create_one_new_store(tmp_path):
    """Three processes create the same new SQLite store at the same instant (the imports
    done first): each succeeds and they agree on one experiment."""
    uri = f"sqlite:///{tmp_path}/shared/mlflow.db"
    start = time.time() + 8  # after every process has imported MLflow
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CREATE, str(start), uri, str(tmp_path / f"store{i}.json")],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(3)
    ]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], "\n".join(o[-2000:] for o in outputs)
    ids = {
        (tmp_path / f"store{i}.json").read_text().split('"experiment_id": ')[1] for i in range(3)
    }
    assert len(ids) == 1
    assert len(MlflowClient(uri).search_experiments()) == 2  # "Default" and "shared"


def test_a_shared_store_keeps_every_projects_artifacts_beside_itself(tmp_path, monkeypatch):
    """Two projects track to one store outside both: the artifacts of the second do not land
    in the first's results (which a `make clean` there would delete)."""
    uri = f"sqlite:///{tmp_path}/shared/mlflow.db"
    for project in ("first", "second"):
        (tmp_path / project).mkdir()
        monkeypatch.chdir(tmp_path / project)
        init_store(uri, "physics", None)
        run = Run(uri, "physics", f"train {project}")
        (tmp_path / project / "model.json").write_text("{}")
        run.log_artifacts([tmp_path / project / "model.json"], "model")
        run.finish()
    stored = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("model/model.json"))
    assert [p.parts[:2] for p in stored] == [("shared", "mlartifacts")] * 2
    assert not (tmp_path / "first/results").exists()


def test_an_existing_experiment_elsewhere_is_not_silently_used(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    init_store(uri, "physics", str(tmp_path / "a"))
    assert init_store(uri, "physics", str(tmp_path / "a"))  # the same place: fine
    with pytest.raises(ValueError, match=r"mlflow\.artifact_location") as err:
        init_store(uri, "physics", str(tmp_path / "b"))
    assert str(tmp_path / "a") in str(err.value) and str(tmp_path / "b") in str(err.value)
