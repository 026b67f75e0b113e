"""The cohort mosaic: tiles by class and cage, every stack where its tile says, labels, clocks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from napari_mousestop.datasets.dataset import Dataset
from napari_mousestop.datasets.mosaic import (
    Mosaic,
    arrange_mosaic,
    dataset_clocks,
    dataset_mosaic,
    describe_bin,
    short_names,
    stop_units,
)
from napari_mousestop.io.cohort import CLASSES
from napari_mousestop.io.light import IntervalClock, LightSchedule


def paper_design(n_bins: int = 6, hours: int = 3, seed: int = 0) -> Dataset:
    """12 cages (6 male, 6 female) x juvenile and adult x 4 mice: the paper's 96 stacks."""
    rng = np.random.default_rng(seed)
    cages, animals, labels, recs = [], [], [], []
    for c in range(12):
        sex = "M" if c < 6 else "F"
        for age in "JA":
            for k in range(4):
                cages.append(f"cage{c + 1}")
                animals.append(f"0000123{c:02d}{k}")
                labels.append(CLASSES.index(age + sex))
                recs.append(f"cage{c + 1}_{age}.sqlite")
    X = rng.poisson(0.3, (len(cages), hours, n_bins, n_bins)).astype(np.float32)
    return Dataset(X=X, labels=labels, cages=cages, recordings=recs, animals=animals)


def test_every_stack_lands_in_its_own_tile_unchanged():
    ds = paper_design()
    m = dataset_mosaic(ds)
    mosaic = m.assemble(ds.X)
    assert len(m) == 96 and mosaic.shape[0] == ds.X.shape[1]
    for tile in m.tiles:
        np.testing.assert_array_equal(m.tile_stack(mosaic, tile), ds.X[tile.index])
    # nothing but the stacks: the mosaic holds exactly the dataset's stops
    assert mosaic.sum() == pytest.approx(ds.X.sum())
    np.testing.assert_allclose(m.totals(mosaic), ds.X.sum(axis=(2, 3))[[t.index for t in m.tiles]])


def test_bands_by_class_cages_in_columns_and_a_cage_aligned_across_ages():
    ds = paper_design()
    m = dataset_mosaic(ds)
    band_top = {}
    for tile in m.tiles:
        band_top.setdefault(tile.label, []).append(tile.y0)
    tops = [min(band_top[c]) for c in CLASSES]
    assert tops == sorted(tops)  # bands in class order, top to bottom: AM, JM, AF, JF
    for c in CLASSES:  # a band never overlaps the next
        assert max(band_top[c]) < min(
            (min(v) for k, v in band_top.items() if min(v) > min(band_top[c])), default=np.inf
        )
    # the same cage (and animal) sits in the same column as a juvenile and as an adult
    x_of = {(t.label, t.animal): t.x0 for t in m.tiles}
    for (label, animal), x0 in x_of.items():
        other = {"AM": "JM", "JM": "AM", "AF": "JF", "JF": "AF"}[label]
        assert x_of[(other, animal)] == x0
    # cages left to right in natural order within a band (cage2 before cage10)
    am = sorted((t for t in m.tiles if t.label == "AF"), key=lambda t: t.x0)
    order = list(dict.fromkeys(t.cage for t in am))
    assert order == [f"cage{c}" for c in range(7, 13)]
    # a cage of four is a 2 x 2 block
    block = [t for t in m.tiles if t.label == "AM" and t.cage == "cage1"]
    assert len({t.y0 for t in block}) == 2 and len({t.x0 for t in block}) == 2


def test_tiles_never_overlap_and_sit_inside_the_mosaic():
    m = dataset_mosaic(paper_design())
    occupied = np.zeros(m.shape, dtype=int)
    for t in m.tiles:
        occupied[t.y0 : t.y0 + m.n_bins, t.x0 : t.x0 + m.n_bins] += 1
    assert occupied.max() == 1 and occupied.sum() == 96 * m.n_bins**2


def test_locating_a_bin_finds_its_tile_and_gaps_find_nothing():
    m = dataset_mosaic(paper_design())
    tile = m.tiles[17]
    assert m.tile_at(tile.y0 + 2, tile.x0 + 5) == (17, 2, 5)
    assert m.tile_at(tile.y0 + 2.4, tile.x0 + 4.6) == (17, 2, 5)  # data coordinates round
    assert m.tile_at(tile.y0 - 1, tile.x0) is None  # the gap above it
    assert m.tile_at(-50, -50) is None


def test_tile_origins_in_cm_follow_the_bins():
    m = dataset_mosaic(paper_design(n_bins=30))
    w_y, w_x = m.bin_cm
    assert (w_y, w_x) == pytest.approx((50 / 30, 50 / 30))
    for t in m.tiles:
        assert t.origin_cm == pytest.approx((t.y0 * w_y, t.x0 * w_x))


def test_labels_are_short_but_unique_and_captions_name_classes_and_cages():
    m = dataset_mosaic(paper_design())
    texts = {(t.label, t.text) for t in m.tiles}
    assert len(texts) == 96 and all(len(t.text) == 4 for t in m.tiles)
    classes = [c.text for c in m.captions if c.kind == "class"]
    cages = {c.text for c in m.captions if c.kind == "cage"}
    assert classes == list(CLASSES) and cages == {f"cage{c}" for c in range(1, 13)}
    assert short_names(["000012345678", "000012345679", "X"]) == ["5678", "5679", "X"]
    assert short_names(["0010A4371D3E", "0010A4371D3F"]) == ["1D3E", "1D3F"]
    # a tracker's individuals keep their whole names (not 'al_0' for 'individual_0')
    assert short_names(["individual_0", "individual_1"]) == ["individual_0", "individual_1"]
    assert short_names(["aa1111", "bb1111"]) == ["aa1111", "bb1111"]


def test_one_recording_is_one_band_with_classes_in_the_labels():
    m = arrange_mosaic(["c1"] * 4, ["a", "b", "c", "d"], ["AM", "JM", "AF", None], by_class=False)
    assert [t.text for t in m.tiles] == ["a (AM)", "b (JM)", "c (AF)", "d"]
    assert len({t.y0 for t in m.tiles}) == 2  # 2 x 2: side by side, never stacked
    assert [c.kind for c in m.captions] == ["cage"]


def test_unknown_classes_get_a_band_of_their_own_and_a_round_trip():
    m = arrange_mosaic(["c1", "c1", "c2"], ["a", "b", "c"], ["AM", None, "unknown"])
    assert [c.text for c in m.captions if c.kind == "class"] == ["AM", "?"]
    assert Mosaic.from_dict(m.to_dict()) == m
    with pytest.raises(ValueError, match="shape"):
        m.assemble(np.zeros((3, 2, 5, 5)))


def test_dataset_clocks_come_from_the_recorded_origins():
    ds = paper_design()
    ds.params = {
        "histogram": {"interval_s": 3600.0, "timezone": "UTC"},
        "recordings": {
            "cage1_J.sqlite": {"info": {"origin": "2024-01-15T18:00:00+00:00"}},
        },
    }
    clocks = dataset_clocks(ds, LightSchedule())
    first = clocks[list(ds.recordings).index("cage1_J.sqlite")]
    assert first.text(5) == "day 1, 23:00\u201324:00, dark"
    assert sum(c is None for c in clocks) == 96 - 4  # the others record no origin


def test_hover_text_says_who_when_where_and_how_many():
    m = arrange_mosaic(["cage01"], ["000012345678"], ["AM"], ["cage01_adult.sqlite"])
    clock = IntervalClock(pd.Timestamp("2024-01-15 18:00Z"))
    text = describe_bin(m.tiles[0], 5, 1.0, 7, 18, 2.0, 37.0, (50 / 30, 50 / 30), clock)
    assert text == (
        "cage01/000012345678 (AM), cage01_adult · hour 5, day 1, 23:00\u201324:00 · "
        "bin (y 12.5, x 30.8 cm): 2 stops · 37 stops in this hour"
    )
    assert stop_units("duration") == ("s stopped", "seconds stopped per bin per hour")
