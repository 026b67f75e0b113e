"""The examples a new lab starts from run end to end (at tiny sizes) and leave their results."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
pytestmark = pytest.mark.slow


def run(args, tmp_path):
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    result = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def check_run_folder(run_dir: Path, maps_dir: Path):
    report = json.loads((run_dir / "report.json").read_text())
    assert 0.0 <= report["cnn"]["accuracy"]["value"] <= 1.0
    assert set(report["baselines"]) >= {"pca_1nn", "pca_svm"}
    assert (run_dir / "model.pt").stat().st_size > 0
    assert (run_dir / "confusion_matrix.png").stat().st_size > 0
    assert any(maps_dir.glob("*.png")), "no map figures written"


def test_python_api_example(tmp_path):
    out = tmp_path / "api"
    stdout = run(
        [
            sys.executable,
            str(EXAMPLES / "pipeline_api.py"),
            str(out),
            "--cages",
            "2",
            "--hours",
            "0.25",
            "--interval",
            "5",
            "--epochs",
            "2",
        ],
        tmp_path,
    )
    assert "dataset: (16, 3, 30, 30)" in stdout
    assert (out / "stops.parquet").stat().st_size > 0
    check_run_folder(out / "run", out / "maps")


def test_cli_example(tmp_path):
    out = tmp_path / "cli"
    run(["bash", str(EXAMPLES / "pipeline_cli.sh"), str(out), "2", "1", "2"], tmp_path)
    check_run_folder(out / "run", out / "maps")
    predictions = (out / "predictions.csv").read_text().splitlines()
    assert len(predictions) == 1 + 4  # header + the four mice of cage01's adult recording


def test_dask_cluster_example(tmp_path):
    out = tmp_path / "dask"
    stdout = run(
        [
            sys.executable,
            str(EXAMPLES / "dask_cluster.py"),
            str(out),
            "--cages",
            "2",
            "--hours",
            "0.5",
            "--epochs",
            "2",
        ],
        tmp_path,
    )
    assert "16 animal-recordings, computed 4 recordings" in stdout
    assert "2 folds trained on the cluster" in stdout
    assert (out / "dataset.npz").stat().st_size > 0
