"""Cage layout config and cage photo alignment (core, no napari)."""

from __future__ import annotations

import numpy as np
import pytest

from napari_mousestop.errors import LayoutError
from napari_mousestop.io.layout import (
    CageLayout,
    CagePhoto,
    VideoCalibration,
    load_layout,
    photo_transform,
    save_layout,
    warp_photo,
)

CORNERS = [[102.0, 40.0], [430.0, 58.0], [455.0, 390.0], [80.0, 372.0]]  # a tilted camera


def _centre(shape):
    v = shape.outline()
    return v[:, 0].mean(), v[:, 1].mean()


def test_default_layout_follows_the_paper():
    layout = load_layout()
    assert layout.floor_cm == (50.0, 50.0)
    for name in ("dome", "feeder 1", "feeder 2", "water"):
        assert name in layout.names
    assert sum(n.startswith("wall") for n in layout.names) == 4
    y, x = _centre(layout["dome"])
    assert y < 15 and x < 15  # upper-left corner
    for name in ("feeder 1", "feeder 2", "water"):
        assert _centre(layout[name])[0] > 40  # along the lower part
    for shape in layout.shapes:  # everything on the floor
        v = shape.vertices
        assert v.min() >= 0 and v[:, 0].max() <= 50 and v[:, 1].max() <= 50


def test_vertices_are_y_x_and_contains():
    dome = load_layout()["dome"]
    (x0, y0), (x1, y1) = dome.points_xy
    assert dome.vertices[0].tolist() == [y0, x0] and dome.vertices[2].tolist() == [y1, x1]
    inside = dome.contains([(y0 + y1) / 2, 49.0], [(x0 + x1) / 2, 49.0])
    assert inside.tolist() == [True, False]
    # a point inside the bounding box corner but outside the ellipse
    assert not dome.contains(y0 + 0.2, x0 + 0.2)


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_layout_round_trip_and_user_edit(tmp_path, suffix):
    layout = load_layout()
    path = save_layout(layout, tmp_path / f"cage{suffix}")
    assert load_layout(path) == layout
    if suffix == ".toml":
        text = path.read_text().replace('name = "water"', 'name = "water bottle"')
        path.write_text(text)
        assert "water bottle" in load_layout(path).names


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[[shape]]\nname = 'a'\nkind = 'star'\n", "kind"),
        ("[[shape]]\nname = 'a'\nkind = 'rectangle'\nx = 1\ny = 1\nwidth = 2\n", "incomplete"),
        ("[[shape]]\nname = 'a'\nkind = 'line'\npoints = [[0, 0]]\n", "at least 2"),
        (
            "[[shape]]\nname='a'\nkind='line'\npoints=[[0,0],[1,1]]\n"
            "[[shape]]\nname='a'\nkind='line'\npoints=[[0,0],[1,1]]\n",
            "unique",
        ),
        ("[floor]\nwidth_cm = -3\n", "positive"),
        ("this is not toml = = =", "cannot read"),
    ],
)
def test_bad_layout_files_name_the_file_and_problem(tmp_path, content, message):
    path = tmp_path / "bad.toml"
    path.write_text(content)
    with pytest.raises(LayoutError, match=message) as err:
        load_layout(path)
    assert str(path) in str(err.value)


def test_missing_layout_file(tmp_path):
    with pytest.raises(LayoutError, match="no such layout file"):
        load_layout(tmp_path / "nope.toml")


def test_empty_layout_file_gives_an_empty_default_floor(tmp_path):
    path = tmp_path / "empty.toml"
    path.write_text("")
    assert load_layout(path) == CageLayout()


def test_photo_transform_maps_corners_and_inverts():
    tform = photo_transform(CORNERS)
    floor = tform(np.asarray(CORNERS))
    np.testing.assert_allclose(floor, [[0, 0], [50, 0], [50, 50], [0, 50]], atol=1e-9)
    pts_cm = np.array([[10.0, 40.0], [25.0, 25.0], [49.0, 1.0]])
    np.testing.assert_allclose(tform(tform.inverse(pts_cm)), pts_cm, atol=1e-9)


@pytest.mark.parametrize(
    "corners",
    [
        [[0, 0], [10, 0], [0, 10], [10, 10]],  # crossed order (a bow tie)
        [[0, 0], [10, 0], [20, 0], [30, 0]],  # collinear
        [[0, 0], [10, 0], [10, 10]],  # three corners
        [[0, 0], [10, 0], [10, np.nan], [0, 10]],
    ],
)
def test_bad_photo_corners_are_refused(corners):
    with pytest.raises(LayoutError, match="corners"):
        photo_transform(corners)


def test_warped_photo_pixels_sit_at_their_floor_position():
    # A synthetic photo whose two channels hold each pixel's true floor position (x_cm, y_cm).
    tform = photo_transform(CORNERS)
    rows, cols = np.mgrid[0:430, 0:500]
    xy = tform(np.column_stack([cols.ravel(), rows.ravel()]).astype(float))
    photo = np.stack(
        [xy[:, 0].reshape(rows.shape), xy[:, 1].reshape(rows.shape), np.ones(rows.shape)], axis=-1
    )
    warped, placement = warp_photo(photo, CORNERS, resolution_cm=0.5, margin_cm=2.0)
    assert warped.shape == (108, 108, 3)
    cy, cx = placement.centres(warped.shape[:2])
    assert cy[0] == pytest.approx(-1.75) and cx[-1] == pytest.approx(51.75)
    inside = warped[..., 2] > 0.999  # fully inside the photo
    assert inside.mean() > 0.9
    xx, yy = np.meshgrid(cx, cy)
    np.testing.assert_allclose(warped[..., 0][inside], xx[inside], atol=0.05)
    np.testing.assert_allclose(warped[..., 1][inside], yy[inside], atol=0.05)


def test_warp_photo_keeps_dtype_and_refuses_non_images():
    photo = np.full((300, 300), 200, dtype=np.uint8)
    warped, _ = warp_photo(photo, [[0, 0], [299, 0], [299, 299], [0, 299]], resolution_cm=1.0)
    assert warped.dtype == np.uint8 and warped.shape == (50, 50)
    assert (warped == 200).mean() > 0.95
    with pytest.raises(LayoutError, match="2D"):
        warp_photo(np.zeros(10), [[0, 0], [1, 0], [1, 1], [0, 1]])


def test_default_layout_covers_the_synthetic_places():
    # sample data and demos show planted places inside the shapes that name them
    from napari_mousestop.synthetic.motion import PLACES

    layout = load_layout()
    shape_of = {"dome": "dome", "feeder_left": "feeder 1", "feeder_right": "feeder 2"}
    shape_of["water"] = "water"
    for place, (x, y) in PLACES.items():
        assert layout[shape_of[place]].contains(y, x), place


def test_layout_photo_section_round_trip_and_relative_path(tmp_path):
    path = tmp_path / "cfg" / "cage_layout.toml"
    path.parent.mkdir()
    photo = '[photo]\npath = "cage.jpg"\ncorners_px = [[1, 2], [30, 2], [30, 40], [1, 40]]\n\n'
    text = load_layout().to_toml().replace("[[shape]]", photo + "[[shape]]", 1)
    path.write_text(text)
    layout = load_layout(path)
    assert layout.photo.path == str(path.parent / "cage.jpg")  # relative to the layout file
    assert layout.photo.corners_px[2] == (30.0, 40.0)
    again = save_layout(layout, tmp_path / "copy.json")
    assert load_layout(again) == layout
    path.write_text(text.replace("[30, 40], ", ""))
    with pytest.raises(LayoutError, match="four"):
        load_layout(path)


def test_toml_text_holds_exactly_the_layouts_dictionary():
    """tomli-w writes the file: reading it back gives ``to_dict()`` unchanged, photo and video
    included."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    layout = load_layout()
    photo = CagePhoto("cage.jpg", ((10.0, 12.0), (590.0, 11.0), (588.0, 570.0), (9.0, 571.0)))
    video = VideoCalibration(tuple(tuple(c) for c in CORNERS), fps=25.0, frame="frame0.png")
    for lay in (layout, CageLayout(layout.floor_cm, layout.shapes, photo, video)):
        assert tomllib.loads(lay.to_toml()) == lay.to_dict()
        assert CageLayout.from_dict(tomllib.loads(lay.to_toml())) == lay


# --- the [video] section: a tracker's calibration ----------------------------------------------


def test_a_file_with_only_a_video_section_is_a_calibration(tmp_path):
    from napari_mousestop.io.layout import load_calibration

    path = tmp_path / "cal.toml"
    path.write_text(f"[video]\ncorners_px = {CORNERS}\nfps = 25\nframe = 'frame0.png'\n")
    cal = load_calibration(path)
    assert cal.video.corners_px == tuple(tuple(c) for c in CORNERS)
    assert cal.video.fps == 25.0 and cal.video.frame == str(tmp_path / "frame0.png")
    default = load_layout()
    assert cal.floor_cm == default.floor_cm  # filled in
    # not LMT's dome, feeders and water over an open field: the floor's outline only
    assert cal.names == ["wall (top)", "wall (right)", "wall (bottom)", "wall (left)"]
    assert cal.shapes == tuple(s for s in default.shapes if s.name.startswith("wall"))
    again = load_layout(save_layout(cal, tmp_path / "copy.toml"))
    assert again == cal


def test_a_calibration_keeps_its_own_floor_and_shapes(tmp_path):
    from napari_mousestop.io.layout import load_calibration

    path = tmp_path / "cal.toml"
    path.write_text(
        "[floor]\nwidth_cm = 40\nheight_cm = 30\n\n"
        f"[video]\ncorners_px = {CORNERS}\n\n"
        '[[shape]]\nname = "nest"\nkind = "rectangle"\nx = 1\ny = 1\nwidth = 5\nheight = 5\n'
    )
    cal = load_calibration(path)
    assert cal.floor_cm == (40.0, 30.0) and cal.names == ["nest"] and cal.video.fps is None


@pytest.mark.parametrize(
    "video, problem",
    [
        ("corners_px = [[0, 0], [10, 0]]", "four [x, y] pixel corners"),
        ("fps = 30", "needs corners_px"),
        ("corners_px = [[0, 0], [10, 10], [10, 0], [0, 10]]", "convex quadrilateral"),
        (f"corners_px = {CORNERS}\nfps = -2", "fps must be a positive number"),
    ],
)
def test_a_bad_video_section_names_the_file(tmp_path, video, problem):
    path = tmp_path / "cal.toml"
    path.write_text(f"[video]\n{video}\n")
    with pytest.raises(LayoutError) as info:
        load_layout(path)
    assert str(info.value).startswith(str(path)) and problem in str(info.value)


def test_a_layout_without_video_is_not_a_calibration(tmp_path):
    from napari_mousestop.io.layout import load_calibration

    path = save_layout(load_layout(), tmp_path / "layout.toml")
    with pytest.raises(LayoutError, match=r"no \[video\] section"):
        load_calibration(path)


def test_save_calibration_round_trip_and_checks(tmp_path):
    from napari_mousestop.io.layout import load_calibration, save_calibration

    path = save_calibration(tmp_path / "cal.toml", CORNERS, fps=25, floor_cm=(40.0, 30.0))
    cal = load_calibration(path)
    assert cal.video.corners_px == tuple(tuple(c) for c in CORNERS) and cal.video.fps == 25.0
    assert cal.floor_cm == (40.0, 30.0)
    assert cal["wall (bottom)"].points_xy == ((40.0, 30.0), (0.0, 30.0))  # its own outline
    with pytest.raises(LayoutError, match="convex quadrilateral"):
        save_calibration(tmp_path / "bad.toml", [CORNERS[0], CORNERS[2], CORNERS[1], CORNERS[3]])
    assert not (tmp_path / "bad.toml").exists()
