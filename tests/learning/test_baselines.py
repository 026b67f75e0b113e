"""PCA baselines in the CNN's leave-one-cage-out folds."""

import numpy as np
import pytest
from sklearn.decomposition import PCA

from _planted import planted_dataset
from napari_mousestop.errors import DatasetError
from napari_mousestop.learning.baselines import run_baselines
from napari_mousestop.learning.training import loco_folds


@pytest.fixture(scope="module")
def planted():
    return planted_dataset(n_cages=8, strength=3.0)


def test_both_baselines_beat_chance_on_planted_places(planted):
    results = run_baselines(planted)
    assert list(results) == ["pca_1nn", "pca_svm"]
    for res in results.values():
        assert res.oof_pred.shape == planted.labels.shape
        assert res.accuracy == pytest.approx(np.mean(res.oof_pred == planted.labels))
        assert res.accuracy >= 0.75  # chance 0.25


def test_pca_is_fitted_inside_each_training_fold(planted):
    ds = planted.subset(np.arange(len(planted)))
    ds.X[ds.cages == "cage3"] *= 50  # would dominate a PCA fitted on all animals
    res = run_baselines(ds, names=("pca_1nn",))["pca_1nn"]
    folds = loco_folds(ds.cages)
    assert len(res.explained_variance) == len(folds) == 8
    for (cage, train, _), variance in zip(folds, res.explained_variance, strict=True):
        flat = ds.X[train].reshape(len(train), -1)
        expected = PCA(3, random_state=0).fit(flat).explained_variance_ratio_
        np.testing.assert_allclose(variance, expected, rtol=1e-5, err_msg=cage)
    everything = PCA(3).fit(ds.X.reshape(len(ds), -1)).explained_variance_ratio_
    held_out_fold = [c for c, _, _ in folds].index("cage3")
    assert not np.allclose(res.explained_variance[held_out_fold], everything, rtol=1e-3)


def test_baselines_run_in_the_cnns_balanced_folds(planted):
    res = run_baselines(planted, names=("pca_1nn",), folds="balanced")["pca_1nn"]
    assert len(res.explained_variance) == 4  # 8 cages, one male and one female per fold
    assert res.accuracy >= 0.75


def test_unknown_baseline_and_single_cage_are_refused(planted):
    with pytest.raises(ValueError, match="unknown baseline"):
        run_baselines(planted, names=("pca_forest",))
    with pytest.raises(DatasetError, match="two cages"):
        run_baselines(planted.subset(planted.cages == "cage0"))
