"""Maps that pass the sanity checks: model randomisation, retrained null, stability across seeds."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from _planted import planted_dataset
from napari_mousestop.cli.app import app
from napari_mousestop.datasets.dataset import save_dataset
from napari_mousestop.explain.maps import ExplanationMap
from napari_mousestop.explain.sanity import (
    ALL_LAYERS,
    INSENSITIVE,
    PERMUTED,
    layer_groups,
    randomised,
    similarity,
    stage_names,
)
from napari_mousestop.io.geometry import grid_placement
from napari_mousestop.learning.config import TrainConfig
from napari_mousestop.learning.model import ModelConfig, StopCNN
from napari_mousestop.learning.report import train_and_report

P = 3  # retrained permutations of the tiny run


@pytest.fixture(scope="module")
def explained(tmp_path_factory):
    """A tiny run (4 cages, 2 epochs, 2 seeds, 3 retrained permutations) explained twice into
    one folder: by ``mousestop explain --sanity``, then by the API (the first maps file kept as
    ``first.nc``)."""
    from napari_mousestop.explain.run import explain_run

    root = tmp_path_factory.mktemp("sanity")
    ds = planted_dataset(n_cages=4, per_cage=2, strength=4.0, n_bins=12)
    data = save_dataset(ds, root / "planted.npz")
    config = TrainConfig(epochs=2, lr=0.05, seed=1, channels=4)
    train_and_report(ds, root / "run", config, n_permutations=20, dataset_path=data, repeats=2,
                     retrain_permutations=P)  # fmt: skip
    args = ["explain", str(root / "run"), "-o", str(root / "maps"), "--sanity", "--stride", "3",
            "--permutations", "20", "--quiet"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    (root / "maps" / "maps.nc").rename(root / "first.nc")
    first = SimpleNamespace(file=root / "first.nc")
    # the same folder and map settings: the permuted runs' maps are reused
    again = explain_run(root / "run", root / "maps", figures=False, stride=3, n_permutations=20)
    return ds, root, first, again


def test_randomised_layers_cascade_from_the_classifier_down():
    torch.manual_seed(0)
    cfg = ModelConfig(n_intervals=2, n_bins=12, n_classes=4, channels=2)
    model = StopCNN(cfg)
    assert [g for g, _ in layer_groups(model)] == ["classifier", "k9", "k3"]
    assert stage_names(model) == ["classifier", "classifier+k9", ALL_LAYERS]
    top, middle, every = (randomised(model, s, 7) for s in range(3))
    same = torch.equal
    assert not same(top.classifier.weight, model.classifier.weight)
    assert same(top.branches[1].conv.weight, model.branches[1].conv.weight)
    # a layer randomised at one stage keeps its random weights at the next (cascading)
    assert same(middle.classifier.weight, top.classifier.weight)
    assert not same(middle.branches[1].conv.weight, model.branches[1].conv.weight)
    assert same(middle.branches[0].conv.weight, model.branches[0].conv.weight)
    assert same(every.branches[1].conv.weight, middle.branches[1].conv.weight)
    assert not same(every.branches[0].conv.weight, model.branches[0].conv.weight)
    bound = 1 / np.sqrt(model.classifier.weight.shape[1])
    assert top.classifier.weight.abs().max() <= bound  # PyTorch's default initialisation
    assert same(model.classifier.weight, StopCNN(cfg).classifier.weight) is False  # untouched


def test_a_map_that_ignores_the_model_is_flagged_and_one_that_follows_it_is_not():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 5)
    data = rng.normal(size=(10, 2, 8, 8))
    place = grid_placement(8)
    trained = [ExplanationMap("follows", data, place, ("a", "b"), "contribution",
                              ("sample", "class", "y", "x")),
               ExplanationMap("input", data[:, 0], place, ("a", "b"), "input",
                              ("sample", "y", "x"))]  # fmt: skip
    noise = rng.normal(size=data.shape)
    random = [ExplanationMap("follows", noise, place, ("a", "b"), "contribution",
                             ("sample", "class", "y", "x")), trained[1]]  # fmt: skip
    check = similarity(trained, {ALL_LAYERS: random, PERMUTED: random}, labels, ("a", "b"))
    assert "input" in check.insensitive and "follows" not in check.insensitive
    np.testing.assert_allclose(check.spearman[1], 1.0)
    np.testing.assert_allclose(check.ssim[1], 1.0)
    assert abs(check.mean_spearman("follows", ALL_LAYERS)) < 0.5
    assert INSENSITIVE.upper() in check.flag("input") and check.flag("follows") == ""


def test_without_retrained_runs_the_permuted_label_models_follow_the_design():
    from napari_mousestop.explain.sanity import permuted_label_folds

    ds = planted_dataset(n_cages=4, per_cage=1, n_intervals=2, n_bins=12)
    folds, source = permuted_label_folds(ds, TrainConfig(epochs=1, channels=2), seed=3)
    assert len(folds) == 4 and "design" in source and "trained for this check" in source
    labels = folds[0].labels
    assert (labels != ds.labels).any()
    names = np.asarray(ds.classes)[labels]
    for cage in np.unique(ds.cages):  # sex: the whole cage's; age: one recording each
        here = ds.cages == cage
        assert len({n[1] for n in names[here]}) == 1
        assert sorted(n[0] for n in names[here]) == ["A", "J"]


def test_randomisation_check_of_a_run(explained):
    import xarray as xr

    ds, root, first, _ = explained
    with xr.open_dataset(first.file, engine="h5netcdf") as nc:
        rho = nc["sanity_spearman"]
        assert list(nc["randomisation"].values) == ["classifier", "classifier+k9", ALL_LAYERS,
                                                    PERMUTED]  # fmt: skip
        assert rho.dims == ("sanity_map", "randomisation", "class")
        maps = list(nc["sanity_map"].values)
        flagged = dict(zip(maps, nc["sanity_insensitive"].values.astype(bool), strict=True))
        assert flagged["input"]  # the stop maps are the data: they cannot depend on the model
        # a model-dependent map changes once the model is random
        contrib = rho.sel(sanity_map="contribution", randomisation=ALL_LAYERS).values
        assert np.nanmax(contrib) < 0.99
        assert "retrained permutation" in json.loads(nc.attrs["sanity"])["permuted"]
    index = (root / "maps" / "index.md").read_text()
    assert "## Model randomisation check" in index and "| `input` |" in index
    assert INSENSITIVE in index


def test_retrained_null_gives_confirmatory_p_values_and_is_reused(explained):
    import xarray as xr

    ds, root, first, again = explained
    perm = root / "run" / "permutations"
    doc = json.loads((perm / "perm_00001.json").read_text())
    assert len(doc["folds"]) == 4 and all((perm / f["model"]).is_file() for f in doc["folds"])
    with xr.open_dataset(first.file, engine="h5netcdf") as nc, \
            xr.open_dataset(again.file, engine="h5netcdf") as nc2:  # fmt: skip
        assert nc.attrs["null"] == "retrained" and nc.attrs["confirmatory"] == 1
        p = nc["occlusion_space_p"].values
        assert (p >= 1 / (P + 1) - 1e-12).all() and (p <= 1).all()
        np.testing.assert_allclose(nc["occlusion_space_min_p"].values, 1 / (P + 1))
        assert (nc["contribution_p_adjusted"].values >= 1 / (P + 1) - 1e-12).all()
        counts = json.loads(nc.attrs["retrained_permutations"])
        assert counts["used"] == P and counts["maps_reused"] == 0
        # the second explain reuses every permuted run's maps, and finds the same p-values
        assert json.loads(nc2.attrs["retrained_permutations"])["maps_reused"] == P
        np.testing.assert_array_equal(nc2["occlusion_space_p"].values, p)
    assert len(list((root / "maps" / "permutation_maps").glob("perm_*.npz"))) == P
    assert "are **confirmatory**" in (root / "maps" / "index.md").read_text()


def test_stability_across_seeds(explained):
    import xarray as xr

    ds, root, first, _ = explained
    with xr.open_dataset(first.file, engine="h5netcdf") as nc:
        assert list(nc["seed"].values) == [1, 2]
        seeds = nc["contribution_seeds"]
        assert seeds.dims[:2] == ("seed", "class") and seeds.shape[:2] == (2, 4)
        mean, spread = nc["contribution_seed_mean"].values, nc["contribution_seed_spread"].values
        np.testing.assert_allclose(mean, seeds.values.mean(0), rtol=1e-6)
        assert mean.shape == spread.shape == seeds.shape[1:] and (spread >= 0).all()
        share = nc["occlusion_space_seed_share_significant"].values
        assert share.shape[0] == nc.sizes["contrast"] and ((share >= 0) & (share <= 1)).all()
        assert set(np.unique(share)) <= {0.0, 0.5, 1.0}  # 2 seeds
    assert "## Stability across seeds" in (root / "maps" / "index.md").read_text()


def test_retrained_p_values_count_the_observed_run_once():
    from napari_mousestop.design import StudyDesign
    from napari_mousestop.explain.retrained import retrained_comparisons
    from napari_mousestop.explain.stats import compare_all, default_contrasts

    ds = planted_dataset(n_cages=4, per_cage=1, n_intervals=2, n_bins=8)
    design = StudyDesign.from_dataset(ds)
    age = [c for c in default_contrasts(design) if c.name == "age (A - J)"]
    rng = np.random.default_rng(0)
    data = rng.normal(size=(len(ds), 4, 8, 8))
    adult = np.isin(np.asarray(ds.classes)[ds.labels], ["AF", "AM"])
    adult_classes = [ds.classes.index("AF"), ds.classes.index("AM")]
    data[np.ix_(adult, adult_classes, [2], [2])] += 50  # observed: evidence for adults, there
    m = ExplanationMap("occlusion_space", data, grid_placement(8), ds.classes, "occlusion",
                       ("sample", "class", "y", "x"))  # fmt: skip
    results, _ = compare_all([m], ds.labels, ds.cages, age, n_permutations=10, design=design)
    drawn = design.scheme_for("accuracy").labellings(0)
    others = [lab for lab in drawn if (lab != ds.labels).any()][:4]
    runs = [SimpleNamespace(number=i + 1, labels=lab) for i, lab in enumerate(others)]
    maps = {r.number: {"occlusion_space": rng.normal(size=data.shape)} for r in runs}
    fam = {"primary": ["occlusion_space"]}
    drawn_p = retrained_comparisons(results, {m.name: m}, runs, maps, design, "t", fam, 0.05)
    c = drawn_p["occlusion_space"][0]
    assert c.p_values.min() == pytest.approx(1 / 5) and c.meta["min_p"] == pytest.approx(1 / 5)
    assert c.meta["confirmatory"] and not c.meta["exact"] and len(c.null_max) == 5
    # every labelling retrained: the run on the observed labels is the observed run, counted once
    every = [SimpleNamespace(number=0, labels=ds.labels.copy()), *runs]
    exact = retrained_comparisons(results, {m.name: m}, every, maps, design, "t", fam, 0.05)
    c = exact["occlusion_space"][0]
    assert c.meta["exact"] and len(c.null_max) == 5 and c.p_values.min() == pytest.approx(1 / 5)
    assert (c.p_values >= c.meta["min_p"] - 1e-12).all()
