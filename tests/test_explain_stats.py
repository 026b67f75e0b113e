"""Class comparisons: cage-level permutation test with family-wise error control, planted places."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from napari_mousestop.explain import ExplanationMap, input_maps, out_of_fold
from napari_mousestop.explain_stats import class_average, compare_classes
from napari_mousestop.geometry import grid_placement
from napari_mousestop.model import ModelConfig, StopCNN

CLASSES = ("AM", "JM", "AF", "JF")
AM, JM, AF, JF = range(4)


def _maps(values: np.ndarray) -> ExplanationMap:
    return ExplanationMap(
        name="m",
        data=values,
        placement=grid_placement(values.shape[-1]),
        classes=CLASSES,
        kind="input",
        axes=("sample", "y", "x"),
    )


def _design(n_cages_per_sex: int, per_cage: int, paired: bool):
    """Female cages hold AF (and JF when paired) animals; male cages hold AM (and JM)."""
    labels, cages = [], []
    for sex, (adult, juvenile) in (("F", (AF, JF)), ("M", (AM, JM))):
        for c in range(n_cages_per_sex):
            for label in (adult, juvenile) if paired else (adult,):
                labels += [label] * per_cage
                cages += [f"{sex}{c}"] * per_cage
    return np.array(labels), np.array(cages)


def test_two_cages_per_class_can_never_be_significant():
    """Permuting cages, not animals: 2 vs 2 cages allow only 6 labellings.

    The test is two-sided and swapping every label only flips the sign, so p >= 2/6.
    """
    labels, cages = _design(2, per_cage=4, paired=False)
    values = np.random.default_rng(0).normal(size=(len(labels), 5, 5))
    values[labels == AF, 2, 2] += 100.0  # huge, consistent difference
    comp = compare_classes(_maps(values), labels, cages, "AF", "AM")
    assert comp.meta["exact"] and comp.meta["n_permutations"] == 6
    assert comp.p_values.min() == pytest.approx(2 / 6)
    assert not comp.mask.any()
    assert comp.difference.data[2, 2] > 90


def test_paired_cages_find_the_planted_pixel_only():
    labels, cages = _design(6, per_cage=3, paired=True)
    rng = np.random.default_rng(1)
    cage_effect = {c: rng.normal(0, 3, size=(8, 8)) for c in np.unique(cages)}
    values = np.stack([cage_effect[c] for c in cages]) + rng.normal(size=(len(labels), 8, 8))
    values[labels == AF, 5, 1] += 4.0
    comp = compare_classes(_maps(values), labels, cages, "AF", "JF")
    assert comp.meta["paired"] and comp.meta["exact"] and comp.meta["n_permutations"] == 64
    assert comp.mask[5, 1]
    assert comp.mask.sum() == 1
    assert comp.p_values[5, 1] == pytest.approx(2 / 64)  # two-sided: all flipped = -t
    # max-statistic: a larger |statistic| never gets a larger adjusted p-value
    order = np.argsort(np.abs(comp.statistic).ravel())
    assert (np.diff(comp.p_values.ravel()[order]) <= 1e-12).all()
    maps = comp.as_maps()
    assert [m.kind for m in maps] == ["difference", "pvalue", "mask"]
    assert maps[0].name == "m_AF-JF" and maps[2].data.dtype == np.uint8


def test_family_wise_error_is_controlled_under_strong_cage_effects():
    """No class effect, animals of a cage alike: at most ~5% of null cohorts show any spot."""
    labels, cages = _design(6, per_cage=4, paired=False)
    rng = np.random.default_rng(2)
    hits = 0
    n_null = 150
    for _ in range(n_null):
        cage_effect = {c: rng.normal(0, 2, size=(6, 6)) for c in np.unique(cages)}
        values = np.stack([cage_effect[c] for c in cages])
        values += rng.normal(0, 0.5, size=values.shape)
        comp = compare_classes(_maps(values), labels, cages, "AF", "AM", n_permutations=199)
        hits += bool(comp.mask.any())
    assert 0 < hits / n_null <= 0.1


def test_bad_comparisons_are_refused():
    labels, cages = _design(2, per_cage=2, paired=False)
    m = _maps(np.zeros((len(labels), 3, 3)))
    with pytest.raises(ValueError, match="unknown class"):
        compare_classes(m, labels, cages, "AF", "XX")
    with pytest.raises(ValueError, match="share a class"):
        compare_classes(m, labels, cages, "AF", ("AF", "AM"))
    with pytest.raises(ValueError, match="no animals"):
        compare_classes(m, labels, cages, "AF", "JF")
    with pytest.raises(ValueError, match="statistic"):
        compare_classes(m, labels, cages, "AF", "AM", statistic="z")


# --- planted place: adult females prefer the dome ---------------------------------------------
T, N = 2, 24
DOME_CM = (9.0, 9.0)  # (y, x)
CFG = ModelConfig(n_intervals=T, n_bins=N, n_classes=4, channels=4, kernel_sizes=(3, 9), pool=2)


def _planted_cohort(seed: int = 0):
    """12 cages x (adult + juvenile) x 2 animals; only AF animals stop a lot in the dome."""
    labels, cages = _design(6, per_cage=2, paired=True)
    rng = np.random.default_rng(seed)
    X = rng.poisson(0.2, size=(len(labels), T, N, N)).astype(np.float32)
    X[:, :, N - 3 :, 4:20] += rng.poisson(1.0, size=(len(labels), T, 3, 16))  # feeders, all
    w = 50.0 / N
    for i in np.flatnonzero(labels == AF):  # 30 stops per hour around the dome, sd 2 cm
        for t in range(T):
            yx = rng.normal(DOME_CM, 2.0, size=(30, 2))
            iy, ix = np.clip((yx // w).astype(int), 0, N - 1).T
            np.add.at(X[i, t], (iy, ix), 1.0)
    return X, labels, cages


class _Log1p:
    def transform(self, X):
        return np.log1p(X).astype(np.float32)


def _train(X, y, seed):
    torch.manual_seed(seed)
    model = StopCNN(CFG)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    x = torch.from_numpy(_Log1p().transform(X))
    target = torch.from_numpy(y)
    for _ in range(40):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), target).backward()
        opt.step()
    return model.eval()


@pytest.fixture
def one_thread():
    """Many tiny training steps run faster on one thread (and share the machine better)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_planted_dome_preference_peaks_at_the_dome(one_thread):
    X, labels, cages = _planted_cohort()
    folds = []
    for i, cage in enumerate(np.unique(cages)):
        test = cages == cage
        model = _train(X[~test], labels[~test], seed=i)
        folds.append(SimpleNamespace(cage=cage, test_index=test, model=model, scaler=_Log1p()))
    maps = out_of_fold(
        folds, X, classes=CLASSES, which=("contribution", "occlusion_space"), stride=2
    )
    maps = {m.name: m for m in maps}
    assert set(maps) == {"contribution", "contribution_k3", "contribution_k9", "occlusion_space"}
    for name in ("contribution", "contribution_k3", "occlusion_space"):
        comp = compare_classes(maps[name], labels, cages, "AF", "AM")
        diff = comp.difference
        iy, ix = np.unravel_index(np.argmax(diff.data), diff.data.shape)
        ys, xs = diff.placement.centres(diff.data.shape)
        dist = np.hypot(ys[iy] - DOME_CM[0], xs[ix] - DOME_CM[1])
        assert dist < 5.0, (name, dist)
        # the AF panel of the class average also peaks there
        avg = class_average(maps[name], labels)
        jy, jx = np.unravel_index(np.nanargmax(avg.data[AF]), avg.data.shape[1:])
        assert np.hypot(ys[jy] - DOME_CM[0], xs[jx] - DOME_CM[1]) < 5.0, name
    # occlusion is the most direct evidence: 6 AF against 6 AM cages, all 924 labellings
    assert comp.meta["exact"] and comp.meta["n_permutations"] == 924
    assert comp.mask[iy, ix], comp.p_values[iy, ix]
    assert comp.mask.mean() < 0.1
    # the raw stop maps agree: AF animals stop more in the dome than AM animals
    stops = compare_classes(input_maps(X, classes=CLASSES), labels, cages, "AF", "AM")
    iy, ix = np.unravel_index(np.argmax(stops.difference.data), (N, N))
    ys, xs = stops.difference.placement.centres((N, N))
    assert np.hypot(ys[iy] - DOME_CM[0], xs[ix] - DOME_CM[1]) < 5.0
