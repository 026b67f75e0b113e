"""`mousestop explain RUN_DIR -o MAPS_DIR` on a real (tiny) training run folder."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from _planted import planted_dataset
from napari_mousestop.cli import app
from napari_mousestop.dataset import save_dataset
from napari_mousestop.explain_output import load_maps
from napari_mousestop.geometry import feature_map_placement, grid_placement
from napari_mousestop.report import train_and_report
from napari_mousestop.training import TrainConfig

runner = CliRunner()


@pytest.fixture(scope="module")
def explained(tmp_path_factory):
    root = tmp_path_factory.mktemp("explain")
    ds = planted_dataset(n_cages=4, per_cage=2, strength=4.0)
    data = save_dataset(ds, root / "planted.npz")
    config = TrainConfig(epochs=3, threads=1, lr=0.05, seed=1)
    train_and_report(ds, root / "run", config, n_permutations=50, dataset_path=data)
    args = ["explain", str(root / "run"), "-o", str(root / "maps"), "--permutations", "50"]
    result = runner.invoke(app, [*args, "--stride", "3", "--statistic", "diff", "--quiet"])
    assert result.exit_code == 0, result.output
    return ds, root, result.output


def test_explain_writes_maps_with_geometry_and_figures(explained):
    ds, root, output = explained
    assert "maps" in output and "figures" in output
    maps = load_maps(root / "maps")
    n_bins = ds.X.shape[-1]
    contrib = maps["contribution"]
    assert contrib.axes == ("class", "y", "x") and contrib.data.shape == (4, n_bins, n_bins)
    assert contrib.placement == grid_placement(n_bins)
    assert contrib.meta["out_of_fold"] and contrib.meta["n_folds"] == 4
    assert maps["contribution_k9"].placement == feature_map_placement(n_bins, 9, 2)
    assert maps["gradcam_k3"].placement == feature_map_placement(n_bins, 3, 1)
    assert maps["contribution_per_animal"].data.shape == (len(ds), 4, n_bins, n_bins)
    pairs = maps["contribution_pairs"]
    assert pairs.classes == ("AF - AM", "JF - JM", "AM - JM", "AF - JF")
    assert maps["contribution_pairs_mask"].data.shape == pairs.data.shape
    p = maps["contribution_pairs_p"].data
    assert ((p > 0) & (p <= 1)).all()
    # activation maps: final model only, per channel
    act = maps["activation_k3_pool"]
    assert act.axes == ("class", "channel", "y", "x") and act.data.shape[1] == 16
    assert act.meta["model"] == "final (all data)"
    assert maps["occlusion_hours"].data.shape == (4, ds.X.shape[1])
    doc = json.loads((root / "maps" / "maps.json").read_text())
    assert any("out of fold" in note for note in doc["notes"])
    assert doc["parameters"]["stride"] == 3 and doc["parameters"]["n_permutations"] == 50
    assert pairs.meta["statistic"] == "diff"
    for png in (
        "contribution",
        "contribution_pairs",
        "occlusion_space",
        "input",
        "occlusion_hours",
    ):
        assert (root / "maps" / f"{png}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png
    # the stop map is the plain class mean of the stacks, summed over hours
    af = ds.labels == ds.classes.index("AF")
    np.testing.assert_allclose(maps["input"].data[2], ds.X[af].sum(axis=1).mean(0), rtol=1e-5)


def test_explain_refuses_what_it_cannot_use(explained, tmp_path):
    ds, root, _ = explained
    result = runner.invoke(app, ["explain", str(tmp_path), "-o", str(tmp_path / "m")])
    assert result.exit_code == 1 and "not a training run folder" in result.output
    other = save_dataset(ds.subset(np.arange(len(ds) - 2)), tmp_path / "other.npz")
    args = ["explain", str(root / "run"), "-o", str(tmp_path / "m"), "--dataset", str(other)]
    result = runner.invoke(app, args)
    assert result.exit_code == 1 and "not the same dataset" in result.output
    assert not (tmp_path / "m" / "maps.json").exists()
