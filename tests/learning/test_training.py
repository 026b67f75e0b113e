"""Training: LOCO folds, determinism, cancellation, scaling, checkpoints and bad input."""

import numpy as np
import pytest
import torch

from _planted import planted_dataset
from napari_mousestop.errors import Cancelled, CheckpointError, DatasetError
from napari_mousestop.learning.checkpoint import load_checkpoint, predict_proba, save_checkpoint
from napari_mousestop.learning.config import TrainConfig, resolve_device
from napari_mousestop.learning.scaling import InputScaler
from napari_mousestop.learning.training import balanced_folds, loco_cv, train_final

FAST = {"epochs": 3}


@pytest.fixture(scope="module")
def planted():
    return planted_dataset(n_cages=8, strength=3.0)


@pytest.fixture(scope="module")
def cv(planted):
    return loco_cv(planted, TrainConfig(epochs=10, seed=0))


def test_every_recording_of_a_cage_is_held_out_together(planted, cv):
    assert [f.cage for f in cv.folds] == sorted(set(planted.cages))
    tested = np.concatenate([f.test_index for f in cv.folds])
    assert sorted(tested) == list(range(len(planted)))  # each animal predicted exactly once
    for fold in cv.folds:
        held_out = planted.cages == fold.cage
        assert set(fold.test_index) == set(np.flatnonzero(held_out))
        # both the juvenile and the adult recording of the cage are out of training
        assert len(set(planted.recordings[fold.test_index])) == 2
        assert not set(planted.cages[fold.train_index]) & {fold.cage}


def _sexes(ds, index):
    return {ds.classes[k][1] for k in ds.labels[index]}


def test_balanced_folds_hold_out_one_male_and_one_female_cage(planted):
    folds = balanced_folds(planted.cages, planted.labels)
    assert len(folds) == 4
    tested = np.concatenate([test for _, _, test in folds])
    assert sorted(tested) == list(range(len(planted)))  # each animal predicted exactly once
    for name, train, test in folds:
        held_out = sorted(set(planted.cages[test]))
        assert name == "+".join(held_out) and len(held_out) == 2
        assert [_sexes(planted, planted.cages == c) for c in held_out] in (
            [{"M"}, {"F"}],
            [{"F"}, {"M"}],
        )
        assert not set(planted.cages[train]) & set(held_out)
        # the training set keeps every class equally often
        assert len(set(np.bincount(planted.labels[train], minlength=4))) == 1


def test_balanced_folds_refuse_what_they_cannot_balance(planted):
    # 4 male and 3 female cages: some fold would hold out 2 male + 1 female cage
    four_to_three = planted.subset(~np.isin(planted.cages, ["cage1"]))
    with pytest.raises(DatasetError, match=r"same number of cages of every kind, found 4 cage"):
        balanced_folds(four_to_three.cages, four_to_three.labels)
    one_female = planted.subset(np.isin(planted.cages, ["cage0", "cage1", "cage2"]))
    with pytest.raises(DatasetError, match="at least two cages of every kind"):
        loco_cv(one_female, TrainConfig(folds="balanced", **FAST))
    # mixed-sex cages: every cage holds every class, one-cage folds are not "balanced" folds
    from napari_mousestop.learning.stats_simulation import design_cohort

    mixed = design_cohort("mixed-sex cages")
    with pytest.raises(DatasetError, match="every cage holds the same classes"):
        balanced_folds(mixed.cages, mixed.labels)


def test_cv_with_balanced_folds_records_the_held_out_cages():
    ds = planted_dataset(n_cages=4, per_cage=2)
    seen = []
    cv = loco_cv(ds, TrainConfig(folds="balanced", **FAST), progress=seen.append)
    assert [f.cages for f in cv.folds] == [("cage0", "cage1"), ("cage2", "cage3")]
    assert [f.cage for f in cv.folds] == ["cage0+cage1", "cage2+cage3"]
    for fold in cv.folds:
        np.testing.assert_array_equal(
            fold.test_index, np.flatnonzero(np.isin(ds.cages, fold.cages))
        )
        assert fold.scaler.n_fit == len(fold.train_index) == len(ds) // 2
    assert {p.cage for p in seen} == {"cage0+cage1", "cage2+cage3"}
    assert not np.isnan(cv.oof_proba).any()


def test_planted_places_are_learned_well_above_chance(planted, cv):
    accuracy = np.mean(cv.oof_pred == planted.labels)
    assert accuracy >= 0.75  # chance is 0.25
    assert np.allclose(cv.oof_proba.sum(axis=1), 1.0)


def test_learning_curves_are_recorded_per_fold(cv):
    for h in cv.history:
        assert len(h["train_loss"]) == len(h["test_accuracy"]) == 10
        assert h["train_loss"][-1] < h["train_loss"][0]


def test_same_seed_gives_identical_results_and_another_seed_differs():
    ds = planted_dataset(n_cages=4, per_cage=2)
    a = loco_cv(ds, TrainConfig(seed=3, **FAST))
    b = loco_cv(ds, TrainConfig(seed=3, **FAST))
    c = loco_cv(ds, TrainConfig(seed=4, **FAST))
    np.testing.assert_array_equal(a.oof_proba, b.oof_proba)
    for fa, fb in zip(a.folds, b.folds, strict=True):
        for pa, pb in zip(fa.model.parameters(), fb.model.parameters(), strict=True):
            assert torch.equal(pa, pb)
    assert not np.array_equal(a.oof_proba, c.oof_proba)


def test_should_stop_cancels_before_the_next_batch():
    ds = planted_dataset(n_cages=4, per_cage=4)  # 24 training samples: 3 batches per epoch
    calls, epochs_done = [], []

    def should_stop():
        calls.append(1)
        return len(calls) >= 2

    with pytest.raises(Cancelled):
        loco_cv(
            ds,
            TrainConfig(epochs=50),
            progress=epochs_done.append,
            should_stop=should_stop,
        )
    assert len(calls) == 2  # asked once per batch, stopped at the first True
    assert epochs_done == []  # not even the first epoch finished


def test_progress_reports_every_epoch_of_every_fold():
    ds = planted_dataset(n_cages=3, per_cage=2)
    seen = []
    loco_cv(ds, TrainConfig(**FAST), progress=seen.append)
    assert [(p.fold, p.epoch) for p in seen] == [(f, e) for f in (1, 2, 3) for e in (1, 2, 3)]
    assert all(p.n_folds == 3 and p.n_epochs == 3 and p.loss > 0 for p in seen)
    assert all(0 <= p.accuracy <= 1 and p.test_accuracy is not None for p in seen)


def test_scaler_is_fitted_on_the_training_cages_only():
    ds = planted_dataset(n_cages=4, per_cage=2)
    ds.X[ds.cages == "cage0"] *= 1000  # an extreme held-out cage must not change its fold's scale
    cv = loco_cv(ds, TrainConfig(**FAST))
    fold = next(f for f in cv.folds if f.cage == "cage0")
    expected = InputScaler().fit(ds.X[ds.cages != "cage0"]).scale
    assert fold.scaler.scale == pytest.approx(expected)
    assert fold.scaler.n_fit == int(np.sum(ds.cages != "cage0"))
    assert fold.scaler.scale != pytest.approx(InputScaler().fit(ds.X).scale)


def test_final_model_checkpoint_round_trips_with_its_parameters(tmp_path):
    ds = planted_dataset(n_cages=4, per_cage=2)
    ckpt = train_final(ds, TrainConfig(**FAST))
    path = save_checkpoint(tmp_path / "model.pt", ckpt)
    loaded = load_checkpoint(path, ds)
    np.testing.assert_allclose(predict_proba(loaded, ds.X), predict_proba(ckpt, ds.X))
    assert loaded.classes == ("AM", "JM", "AF", "JF")
    assert loaded.data_params["histogram"]["interval_s"] == 3600
    assert loaded.scaler.scale == pytest.approx(ckpt.scaler.scale)
    assert loaded.config["epochs"] == 3 and "torch" in loaded.versions
    assert (loaded.n_intervals, loaded.n_bins) == (4, 14)
    # plain tensors and strings: loadable without unpickling code
    assert isinstance(torch.load(path, weights_only=True), dict)


def test_a_checkpoint_that_does_not_fit_the_data_is_refused(tmp_path):
    ds = planted_dataset(n_cages=4, per_cage=2)
    path = save_checkpoint(tmp_path / "model.pt", train_final(ds, TrainConfig(**FAST)))
    other_t = planted_dataset(n_cages=4, per_cage=2, n_intervals=6)
    with pytest.raises(CheckpointError, match="T=4 intervals on a 14x14 grid"):
        load_checkpoint(path, other_t)
    other_n = planted_dataset(n_cages=4, per_cage=2, n_bins=16)
    with pytest.raises(CheckpointError, match="14x14"):
        predict_proba(load_checkpoint(path), other_n.X)
    renamed = ds.subset(np.arange(len(ds)))
    renamed.classes = ("A", "B", "C", "D")
    with pytest.raises(CheckpointError, match="classes"):
        load_checkpoint(path, renamed)
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    with pytest.raises(CheckpointError, match="junk.pt"):
        load_checkpoint(tmp_path / "junk.pt")


def test_one_cage_is_refused_with_a_clear_message():
    ds = planted_dataset(n_cages=1, per_cage=2)
    with pytest.raises(DatasetError, match="at least two cages"):
        loco_cv(ds, TrainConfig(**FAST))


def test_one_class_is_refused_with_a_clear_message():
    ds = planted_dataset(n_cages=4, per_cage=2)
    ds = ds.subset(ds.labels == 0)
    with pytest.raises(DatasetError, match="one class"):
        loco_cv(ds, TrainConfig(**FAST))


def test_nan_in_the_stacks_is_refused_naming_the_animal():
    ds = planted_dataset(n_cages=4, per_cage=2)
    ds.X[3, 0, 0, 0] = np.nan
    with pytest.raises(DatasetError, match=str(ds.animals[3])):
        loco_cv(ds, TrainConfig(**FAST))


def test_a_grid_too_small_for_the_kernels_is_refused():
    ds = planted_dataset(n_cages=4, per_cage=2, n_bins=8)
    with pytest.raises(DatasetError, match="too small"):
        loco_cv(ds, TrainConfig(**FAST))


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="epochs"):
        TrainConfig(epochs=0)
    with pytest.raises(ValueError, match="momentum"):
        TrainConfig(momentum=1.5)
    with pytest.raises(ValueError, match="folds must be one of"):
        TrainConfig(folds="animal")


def test_auto_device_is_cuda_only_when_available():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


def test_configs_written_with_a_thread_count_still_load():
    """Reports and checkpoints of 0.1 recorded ``threads``; it is now the process's setting."""
    old = {**TrainConfig(epochs=7).to_dict(), "threads": 1}
    assert TrainConfig.from_dict(old) == TrainConfig(epochs=7)
    with pytest.raises(TypeError):
        TrainConfig.from_dict({**old, "thread": 1})  # other unknown keys are still refused
