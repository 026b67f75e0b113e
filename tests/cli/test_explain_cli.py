"""`mousestop explain RUN_DIR -o MAPS_DIR` on a real (tiny) training run folder."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from _planted import planted_dataset
from napari_mousestop.cli.app import app
from napari_mousestop.datasets.dataset import save_dataset
from napari_mousestop.explain.files import load_maps
from napari_mousestop.io.geometry import feature_map_placement, grid_placement
from napari_mousestop.learning.config import TrainConfig
from napari_mousestop.learning.report import train_and_report
from napari_mousestop.plots.explain import reach_warning

runner = CliRunner()


@pytest.fixture(scope="module")
def explained(tmp_path_factory):
    root = tmp_path_factory.mktemp("explain")
    ds = planted_dataset(n_cages=4, per_cage=2, strength=4.0)
    data = save_dataset(ds, root / "planted.npz")
    config = TrainConfig(epochs=3, lr=0.05, seed=1)
    train_and_report(ds, root / "run", config, n_permutations=50, dataset_path=data)
    args = ["explain", str(root / "run"), "-o", str(root / "maps"), "--permutations", "50"]
    result = runner.invoke(app, [*args, "--stride", "3", "--statistic", "diff", "--quiet"])
    assert result.exit_code == 0, result.output
    return ds, root, result.output


def test_explain_writes_maps_with_geometry_and_figures(explained):
    import xarray as xr

    ds, root, output = explained
    assert "maps.nc" in output and "figures" in output and "index.md" in output
    maps = load_maps(root / "maps")
    n_bins = ds.X.shape[-1]
    contrib = maps["contribution"]
    assert contrib.axes == ("class", "y", "x") and contrib.data.shape == (4, n_bins, n_bins)
    assert contrib.placement == grid_placement(n_bins)
    assert contrib.meta["out_of_fold"] and contrib.meta["n_folds"] == 4
    assert maps["contribution_k9"].placement == feature_map_placement(n_bins, 9, 2)
    assert maps["gradcam_k3"].placement == feature_map_placement(n_bins, 3, 1)
    assert maps["contribution_per_animal"].data.shape == (len(ds), 4, n_bins, n_bins)
    diff = maps["contribution_difference"]
    assert diff.axes == ("contrast", "y", "x")
    assert diff.classes == ("AF - AM", "JF - JM", "AF - JF", "AM - JM",
                            "sex (F - M)", "age (A - J)", "sex x age")  # fmt: skip
    assert maps["contribution_significant"].data.shape == diff.data.shape
    p = maps["contribution_p_adjusted"].data
    assert ((p > 0) & (p <= 1)).all() and (p >= maps["contribution_p"].data - 1e-12).all()
    # every difference is the first class panel minus the second, in the file too
    stops, AF, AM, JF, JM = maps["input"].data, 2, 0, 3, 1
    np.testing.assert_allclose(maps["input_difference"].data[0], stops[AF] - stops[AM])
    np.testing.assert_allclose(
        maps["input_difference"].data[6], (stops[AF] - stops[JF]) - (stops[AM] - stops[JM])
    )
    # activation maps: final model only, per channel
    act = maps["activation_k3_pool"]
    assert act.axes == ("class", "channel", "y", "x") and act.data.shape[1] == 16
    assert act.meta["model"] == "final (all data)"
    assert maps["occlusion_hours"].data.shape == (4, ds.X.shape[1])
    assert maps["contribution_hours"].data.shape == (4, ds.X.shape[1])
    with xr.open_dataset(root / "maps" / "maps.nc", engine="h5netcdf") as nc:
        assert nc.attrs["stride"] == 3 and nc.attrs["n_permutations"] == 50
        assert nc.attrs["statistic"] == "diff" and nc.attrs["primary_map"] == "occlusion_space"
        assert "out of fold" in nc.attrs["notes"]
        assert list(nc["contrast_red"].values)[0] == "AF higher than AM"
        # 2 female against 2 male cages: 6 labellings, p >= 1/3 whatever the data
        np.testing.assert_allclose(nc["input_min_p"].values[0], 2 / 6)
        # each comparison's scheme, from the design: sex between cages, age within a cage
        units = [str(u) for u in nc["input_unit"].values]
        assert units[:4] == ["cage", "cage", "recording within cage", "recording within cage"]
        assert units[4:] == ["cage", "recording within cage", "cage"]
        assert list(nc["input_n_labellings"].values) == [6, 6, 4, 4, 6, 16, 6]
        assert "sex of each cage permuted across cages" in nc.attrs["schemes"]
        assert '"experimental_unit": "cage"' in nc.attrs["design"]
        assert nc["activation_k3_relu_separation"].dims == ("channel",)
        assert list(nc["cage"].values) == list(ds.cages)
    pngs = ["contribution", "contribution_differences", "occlusion_space", "input",
            "input_differences", "occlusion_hours", "contribution_hours",
            "activation_k3_relu", "activation_k9_pool"]  # fmt: skip
    index = (root / "maps" / "index.md").read_text()
    assert "`sex x age`: unit cage; sex of each cage permuted across cages; 6 labellings" in index
    for png in pngs:
        assert (root / "maps" / f"{png}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png
        assert f"]({png}.png)" in index, png
    assert not list((root / "maps").glob("*.npz")) and not (root / "maps" / "maps.json").exists()
    # the stop map is the plain class mean of the stacks, summed over hours
    af = ds.labels == ds.classes.index("AF")
    np.testing.assert_allclose(maps["input"].data[2], ds.X[af].sum(axis=1).mean(0), rtol=1e-5)


def test_figures_warn_when_alpha_cannot_be_reached():
    assert "cannot be significant" in reach_warning(2 / 6, 0.05, 7)
    assert "Holm" in reach_warning(2 / 64, 0.05, 7)
    assert reach_warning(2 / 924, 0.05, 7) == ""


def test_explain_refuses_what_it_cannot_use(explained, tmp_path):
    ds, root, _ = explained
    result = runner.invoke(app, ["explain", str(tmp_path), "-o", str(tmp_path / "m")])
    assert result.exit_code == 1 and "not a training run folder" in result.output
    other = save_dataset(ds.subset(np.arange(len(ds) - 2)), tmp_path / "other.npz")
    args = ["explain", str(root / "run"), "-o", str(tmp_path / "m"), "--dataset", str(other)]
    result = runner.invoke(app, args)
    assert result.exit_code == 1 and "not the same dataset" in result.output
    assert not (tmp_path / "m" / "maps.nc").exists()


def test_chosen_comparisons_and_primary_map(explained, tmp_path):
    import xarray as xr

    from napari_mousestop.explain.run import explain_run

    ds, root, _ = explained
    res = explain_run(root / "run", tmp_path / "m", which=("contribution",), primary="input",
                      contrasts=["AF - AM"], n_permutations=50, figures=False)  # fmt: skip
    assert res.index is None and res.figures == []
    with xr.open_dataset(res.file, engine="h5netcdf") as nc:
        assert list(nc["contrast"].values) == ["AF - AM"]
        assert nc.attrs["primary_map"] == "input"
        assert "occlusion_space" not in nc and "contribution_k3_difference" in nc
    args = ["explain", str(root / "run"), "-o", str(tmp_path / "x"), "--contrast", "AF - XX"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1 and "unknown comparisons" in result.output
    result = runner.invoke(app, [*args[:4], "--primary", "gradcam_k7"])
    assert result.exit_code == 1 and "primary map" in result.output


def test_one_map_is_what_the_compare_widget_computes(explained, tmp_path):
    """`explain --map` runs the Compare widget's function and writes a maps file of it."""
    from napari_mousestop.explain.classmaps import class_maps
    from napari_mousestop.learning.report import load_run

    ds, root, _ = explained
    args = ["explain", str(root / "run"), "-o", str(tmp_path / "one"), "--map", "contribution",
            "--branch", "9", "--pair", "AF,AM", "--permutations", "50", "--quiet"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    maps = load_maps(tmp_path / "one" / "maps.nc")
    assert set(maps) == {"contribution_k9", "contribution_k9_difference",
                         "contribution_k9_significant"}  # fmt: skip
    run = load_run(root / "run")
    expected = class_maps(ds, folds=run.folds, checkpoint=run.model, kind="contribution",
                          kernel_size=9, pair=("AF", "AM"), n_permutations=50)  # fmt: skip
    np.testing.assert_allclose(maps["contribution_k9"].data, expected.averages[:, 0], rtol=1e-5)
    np.testing.assert_allclose(maps["contribution_k9_difference"].data, expected.difference,
                               rtol=1e-5, atol=1e-7)  # fmt: skip
    assert maps["contribution_k9"].meta["n_per_class"] == expected.n_per_class
    bad = runner.invoke(app, [*args[:4], "--map", "contribution", "--pair", "AF"])
    assert bad.exit_code != 0 and "two classes" in bad.output
