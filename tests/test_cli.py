import json

import yaml

from aeflow.cli import main


def test_check_prints_the_filled_config(tmp_path, tiny_config, capsys):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(tiny_config))
    assert main(["check", "--config", str(path)]) == 0
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["experiments"]["saxs_dae"]["train"]["lr_plateau"]["factor"] == 0.67


def test_fetch_and_prepare_by_hand(tmp_path, tiny_config, monkeypatch):
    monkeypatch.chdir(tmp_path)
    tiny_config["datasets"]["saxs"]["n_samples"] = 12
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(tiny_config))
    assert main(["fetch", "--config", "c.yaml", "--dataset", "saxs"]) == 0
    assert main(["prepare", "--config", "c.yaml", "--dataset", "saxs"]) == 0
    assert (tmp_path / "results/prepared/saxs.zarr").is_dir()


def test_errors_name_the_problem(tmp_path, tiny_config, capsys):
    tiny_config["datasets"]["saxs"]["n_samples"] = "many"
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(tiny_config))
    assert main(["check", "--config", str(path)]) == 2
    assert "datasets.saxs.n_samples" in capsys.readouterr().err
    tiny_config["datasets"]["saxs"]["n_samples"] = 5
    path.write_text(yaml.safe_dump(tiny_config))
    assert main(["train", "--config", str(path), "--experiment", "nope"]) == 2
    assert "no entry 'nope'" in capsys.readouterr().err
    assert main(["anomaly", "--config", str(path), "--experiment", "saxs_dae"]) == 2
    assert "experiments.saxs_dae: no anomaly section" in capsys.readouterr().err
