"""The workflow checks the config before it schedules any job."""

import yaml

from conftest import run_snakemake


def test_workflow_refuses_bad_config_before_any_job(tmp_path, tiny_config):
    tiny_config["experiments"]["saxs_dae"]["train"]["batch_size"] = -4
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump(tiny_config))
    proc = run_snakemake(tmp_path, cfg, "--cores", "1")
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "experiments.saxs_dae.train.batch_size" in out
    assert f"{cfg}: invalid configuration" in out  # the file given, not the default
    assert "config/config.yaml" not in out
    assert not (tmp_path / "data").exists()
    assert not (tmp_path / "results").exists()
