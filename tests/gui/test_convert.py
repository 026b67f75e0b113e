"""Core results -> napari layers: names, features, and alignment in cm and hours (no viewer)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from napari.layers import Layer

from napari_mousestop.datasets.dataset import Dataset
from napari_mousestop.datasets.mosaic import Mosaic
from napari_mousestop.explain.maps import ExplanationMap
from napari_mousestop.gui.layers.images import map_to_image, photo_to_image
from napari_mousestop.gui.layers.mosaic import MOSAIC_KEY, dataset_to_layers
from napari_mousestop.gui.layers.recordings import (
    layer_name,
    layout_to_shapes,
    stack_to_image,
    stops_to_points,
)
from napari_mousestop.histograms import HistogramParams, stack_stops
from napari_mousestop.io.cohort import CLASSES
from napari_mousestop.io.geometry import CageGeometry, feature_map_placement
from napari_mousestop.io.layout import load_layout


def _layer(tup):
    data, kwargs, kind = tup
    return Layer.create(data, kwargs, kind)


def _stops(n=200, seed=0, hours=6.0, floor=(50.0, 50.0)):
    rng = np.random.default_rng(seed)
    start_s = np.sort(rng.uniform(0, hours * 3600, n))
    return pd.DataFrame(
        {
            "recording": "rec.sqlite",
            "animal_id": 1,
            "rfid": "000012345678",
            "name": "A",
            "start_frame": (start_s * 30).astype(int),
            "end_frame": (start_s * 30).astype(int) + 60,
            "start_time": pd.Timestamp("2024-01-15 18:00", tz="UTC")
            + pd.to_timedelta(start_s, unit="s"),
            "start_s": start_s,
            "duration_s": rng.uniform(1, 60, n),
            "x_cm": rng.uniform(0.01, floor[0] - 0.01, n),
            "y_cm": rng.uniform(0.01, floor[1] - 0.01, n),
        }
    )


def test_layer_names():
    assert layer_name("cage01", "000012345678", "AF") == "cage01/000012345678 (AF)"
    assert layer_name("cage01", "A", None) == "cage01/A"
    assert layer_name("c", "A", "JM", "stops") == "c/A (JM) stops"


@pytest.mark.parametrize(
    ("geometry", "interval_s"),
    [(CageGeometry.mouse(), 3600.0), (CageGeometry(floor_cm=(60.0, 40.0)), 1800.0)],
)
def test_every_stop_falls_in_the_bin_drawn_under_it(geometry, interval_s):
    params = HistogramParams(interval_s=interval_s, n_intervals=12, n_bins=30)
    stops = _stops(floor=geometry.floor_cm)
    stack, _ = stack_stops(stops, params, geometry)
    image = _layer(stack_to_image(stack, geometry=geometry, interval_h=params.interval_h))
    points = _layer(stops_to_points(stops, interval_s=interval_s, n_intervals=params.n_intervals))
    assert len(points.data) == len(stops)
    w = np.array([geometry.floor_cm[1], geometry.floor_cm[0]]) / params.n_bins
    for world in (points.data_to_world(d) for d in points.data):
        idx = np.round(image.world_to_data(world)).astype(int)
        # the pixel under the point counts a stop, and its centre is within half a bin
        assert stack[tuple(idx)] > 0
        centre = np.asarray(image.data_to_world(idx))
        assert centre[0] == pytest.approx(world[0])  # same hour slice
        assert np.all(np.abs(centre[1:] - world[1:]) <= w / 2 + 1e-9)
    # the points of one interval are exactly the stops the stack counts there
    per_hour = np.bincount(
        np.round(points.data[:, 0]).astype(int), minlength=12
    )
    np.testing.assert_array_equal(per_hour, stack.sum(axis=(1, 2)))


def test_single_hot_bin_world_position():
    stack = np.zeros((5, 30, 30), np.float32)
    stack[3, 4, 29] = 1.0
    image = _layer(stack_to_image(stack, interval_h=0.5))
    hour, y, x = image.data_to_world((3, 4, 29))
    assert (hour, y, x) == pytest.approx((1.5, 4.5 * 50 / 30, 29.5 * 50 / 30))
    # the outer pixel edges lie on the walls, at 0 and 50 cm
    assert image.data_to_world((0, -0.5, -0.5))[1:] == pytest.approx((0.0, 0.0))
    assert image.data_to_world((0, 29.5, 29.5))[1:] == pytest.approx((50.0, 50.0))
    assert tuple(image.axis_labels) == ("hour", "y", "x")
    assert [str(u) for u in image.units] == ["hour", "centimeter", "centimeter"]
    assert tuple(image.contrast_limits) == (0.0, 1.0)


def test_points_sit_on_the_interval_where_they_start():
    start_s = np.array([10.0, 3599.0, 3600.0, 9000.0])
    t0 = pd.Timestamp("2024-01-15 18:00", tz="UTC")
    stops = _stops(4).assign(start_s=start_s, start_time=t0 + pd.to_timedelta(start_s, unit="s"))
    data, kwargs, kind = stops_to_points(stops, interval_s=3600.0)
    assert kind == "points"
    np.testing.assert_array_equal(data[:, 0], [0, 0, 1, 2])
    np.testing.assert_allclose(data[:, 1:], stops[["y_cm", "x_cm"]].to_numpy())
    # origin 30 min before the recording start (clock alignment): shifts by the offset
    data, _, _ = stops_to_points(stops, interval_s=3600.0, offset_s=1800.0, n_intervals=2)
    np.testing.assert_array_equal(data[:, 0], [0, 1, 1])  # the last stop lies past interval 1
    features = kwargs["features"]
    for col in ("hour", "start", "start_s", "duration", "animal", "recording", "start_frame"):
        assert col in features
    assert list(features["start"][:2]) == ["2024-01-15T18:00:10.000Z", "2024-01-15T18:59:59.000Z"]
    assert (features["animal"] == "000012345678").all()


def test_points_are_coloured_by_hour_and_labelled():
    pts = _layer(stops_to_points(_stops(50, hours=6), n_intervals=6))
    colors = {tuple(np.round(c, 3)) for c in pts.face_color}
    hours = set(pts.features["hour"])
    assert len(colors) == len(hours) > 1
    assert tuple(pts.axis_labels) == ("hour", "y", "x")
    same = pts.features["hour"] == pts.features["hour"].iloc[0]
    assert len({tuple(c) for c in pts.face_color[same.to_numpy()]}) == 1


def test_empty_stop_table_gives_an_empty_layer():
    pts = _layer(stops_to_points(_stops(0)))
    assert pts.data.shape == (0, 3)


def test_layout_shapes_are_named_and_in_cm():
    layout = load_layout()
    shapes = _layer(layout_to_shapes(layout))
    assert list(shapes.features["name"]) == layout.names
    assert shapes.shape_type[0] == "ellipse" and "line" in shapes.shape_type
    dome = shapes.data[layout.names.index("dome")]
    assert dome.min(axis=0) == pytest.approx([2.5, 2.5]) and dome.max(axis=0) == pytest.approx(
        [15.5, 15.5]
    )
    assert tuple(shapes.axis_labels) == ("y", "x")
    assert "dome (nest)" in list(shapes.text.values)


def test_feature_map_hot_pixel_sits_over_its_receptive_field():
    # pooled output pixel (2, 5) of a 9x9 conv on 30 bins covers input bins 2*2..2*2+1+8
    placement = feature_map_placement(30, kernel_size=9, pool=2)
    emap = ExplanationMap(
        name="act",
        data=np.zeros((4, 11, 11)),
        placement=placement,
        classes=CLASSES,
        kind="activation",
    )
    layer = _layer(map_to_image(emap, name="act"))
    _, y, x = layer.data_to_world((0, 2, 5))
    w = 50 / 30
    rows = np.arange(2 * 2, 2 * 2 + 1 + 9)  # input bins seen by pooled row 2
    cols = np.arange(2 * 5, 2 * 5 + 1 + 9)
    assert y == pytest.approx((rows.mean() + 0.5) * w)
    assert x == pytest.approx((cols.mean() + 0.5) * w)
    assert tuple(layer.axis_labels) == ("class", "y", "x")
    with pytest.raises(ValueError, match="Placement"):
        map_to_image(np.zeros((3, 3)))


def test_photo_layer_puts_floor_corners_at_0_and_50_cm():
    photo = np.zeros((200, 240, 3), np.uint8)
    photo[20:30, 30:40] = 255  # a white mark near the floor's top-left corner
    corners = [[30, 20], [230, 20], [230, 190], [30, 190]]
    layer = _layer(photo_to_image(photo, corners, resolution_cm=0.5, margin_cm=0.0))
    assert layer.rgb
    assert layer.data_to_world((-0.5, -0.5)) == pytest.approx((0.0, 0.0))
    assert layer.data_to_world((99.5, 99.5)) == pytest.approx((50.0, 50.0))
    ys, xs = np.nonzero(layer.data[..., 0] > 128)
    y, x = layer.data_to_world((ys.max(), xs.max()))
    assert y == pytest.approx(10 * 50 / 170, abs=0.5) and x == pytest.approx(10 * 50 / 200, abs=0.5)


def test_dataset_mosaic_holds_every_animal_in_its_tile_with_shared_contrast():
    rng = np.random.default_rng(0)
    ds = Dataset(
        X=rng.poisson(1.0, (4, 3, 10, 10)).astype(np.float32),
        labels=np.array([3, 0, 2, 0]),
        cages=np.array(["c2", "c1", "c2", "c1"]),
        recordings=np.array(["c2.sqlite", "c1.sqlite", "c2.sqlite", "c1.sqlite"]),
        animals=np.array(["m4", "m2", "m3", "m1"]),
        params={"histogram": {"interval_s": 1800.0}},
    )
    layers = dataset_to_layers(ds, name="cohort")
    assert [kw["name"] for _, kw, _ in layers] == [
        "cohort", "cohort layout", "cohort labels", "cohort captions",
    ]  # fmt: skip
    data, kwargs, kind = layers[0]
    assert kind == "image" and data.shape[0] == 3 and kwargs["scale"][0] == 0.5
    assert kwargs["contrast_limits"] == (0.0, float(ds.X.max()))  # one scale for all animals
    assert kwargs["gamma"] == 0.5
    mosaic = Mosaic.from_dict(kwargs["metadata"][MOSAIC_KEY])
    for tile in mosaic.tiles:
        np.testing.assert_array_equal(mosaic.tile_stack(data, tile), ds.X[tile.index])
    tiles = kwargs["metadata"]["tiles"]
    assert [t["name"] for t in tiles] == ["c1/m1 (AM)", "c1/m2 (AM)", "c2/m3 (AF)", "c2/m4 (JF)"]
    assert tiles[2]["index"] == 2 and tiles[2]["label"] == "AF"
    # the layout once per tile, each copy on its tile's floor
    shapes, skw, _ = layers[1]
    layout = load_layout()
    assert len(shapes) == 4 * len(layout.shapes)
    w = 50 / 10
    for k, tile in enumerate(mosaic.tiles):
        walls = np.concatenate(shapes[k * len(layout.shapes) : (k + 1) * len(layout.shapes)])
        assert walls.min(axis=0) == pytest.approx([tile.y0 * w, tile.x0 * w])
        assert walls.max(axis=0) == pytest.approx([tile.y0 * w + 50, tile.x0 * w + 50])
    # a label above each tile, the class bands and cages named
    labels = layers[2][1]["features"]["text"].tolist()
    assert labels == [t.text for t in mosaic.tiles]
    assert set(layers[3][1]["features"]["text"]) == {"AM", "AF", "JF", "c1", "c2"}
    # world position of a bin: tile origin + its floor position
    image = _layer(layers[0])
    tile = mosaic.tiles[3]
    assert image.data_to_world((0, tile.y0 - 0.5, tile.x0 - 0.5)) == pytest.approx(
        (0, *tile.origin_cm)
    )


def test_recording_mosaic_draws_each_stop_over_the_bin_that_counts_it(small_recording):
    from napari_mousestop.gui.layers.mosaic import recording_to_layers
    from napari_mousestop.gui.writer import points_to_table
    from napari_mousestop.histograms import recording_stacks

    rs = recording_stacks(small_recording.path, HistogramParams(n_intervals=1, n_bins=20))
    layers = recording_to_layers(rs, cage="c9", origin=(200.0, 0.0), name="c9")
    assert [kw["name"] for _, kw, _ in layers][:2] == ["c9", "c9 stops"]
    image, points = _layer(layers[0]), _layer(layers[1])
    mosaic = Mosaic.from_dict(image.metadata[MOSAIC_KEY])
    assert len({t.y0 for t in mosaic.tiles}) == 2  # four mice in 2 x 2, not stacked
    assert len(points.data) == int(rs.stacks.sum()) > 0  # every counted stop is drawn
    rows = np.round((points.data - image.translate) / image.scale).astype(int)
    counts = np.zeros_like(image.data)
    np.add.at(counts, tuple(rows.T), 1)
    np.testing.assert_array_equal(counts, image.data)  # each point inside the bin counting it
    # saved in the animal's own cage centimetres
    table = points_to_table(points.data, points.features)
    stops = rs.stops[rs.stops["interval"] == 0]
    assert np.sort(table["x_cm"].to_numpy()) == pytest.approx(np.sort(stops["x_cm"].to_numpy()))
    assert "tile_x_cm" not in table
