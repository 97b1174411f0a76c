"""A wheel of aeflow works without the source tree: the config schema and the catalog of
published numbers travel as package data."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_the_wheel_validates_a_config_from_its_own_files(tmp_path):
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not installed (make setup installs it)")
    dist = tmp_path / "dist"
    build = [uv, "build", "--wheel", "--out-dir", str(dist), str(REPO)]
    subprocess.run(build, check=True, capture_output=True, cwd=tmp_path)
    (wheel,) = dist.glob("aeflow-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for data in ("aeflow/config.schema.yaml", "aeflow/published.yaml", "aeflow/py.typed"):
        assert data in names, data
    # the wheel's files alone (no dependencies reinstalled), ahead of the editable install
    target = tmp_path / "site"
    install = [uv, "pip", "install", "--no-deps", "--target", str(target), str(wheel)]
    subprocess.run([*install, "--python", sys.executable], check=True, capture_output=True)
    config = tmp_path / "mine.yaml"
    shutil.copyfile(REPO / "config" / "book_saxs.yaml", config)
    code = (
        "import sys, aeflow.config as c, aeflow.reproduction as r; "
        f"assert c.__file__.startswith({str(target)!r}), c.__file__; "
        f"cfg = c.load_config({str(config)!r}); "
        "assert cfg['experiments']['saxs_dae']['train']['epochs'] == 15; "
        "assert 'book_saxs_val_loss' in r.catalog(); print('ok')"
    )
    env = {"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"
