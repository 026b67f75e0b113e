"""The cage layout (dome, feeders, water, walls) in cm, cage photos aligned onto the floor, and
the video calibration of recordings made with other trackers.

Coordinates follow the rest of the package: centimetres from the floor's top-left corner as seen
by the camera, x to the right, y downwards. Vertices are returned in napari order ``(y, x)``.

The layout comes from an editable TOML (or JSON) file; the packaged default
(``cage_layout.toml``) follows the paper's description of the LMT mouse cage: a dome (nest) in
the upper-left corner, two feeders and a water spot along the lower part of a 50 x 50 cm floor.

A ``[video]`` section calibrates a video: the pixel ``(x, y)`` of the floor's four corners in
the video (top-left, top-right, bottom-right, bottom-left), optionally its frame rate and an
image of its view. Positions of DeepLabCut, SLEAP... files go from video pixels to floor cm
through it (:func:`load_calibration`). A file holding only that section is a valid calibration:
the default layout gives the floor and the shapes it leaves out.
"""

from __future__ import annotations

import json
import math
import os
import sys
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

import numpy as np

from napari_mousestop.errors import LayoutError
from napari_mousestop.io.atomic import write_text_atomic
from napari_mousestop.io.geometry import Placement
from napari_mousestop.io.light import LightSchedule

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

KINDS = ("rectangle", "ellipse", "polygon", "path", "line")
"""Shape kinds a layout may hold (napari's Shapes types)."""

_BOX_KINDS = ("rectangle", "ellipse")


@dataclass(frozen=True)
class CageShape:
    """One named element of the cage (dome, feeder, water, wall...).

    Attributes
    ----------
    name
        Unique name, e.g. ``"dome"``.
    kind
        One of :data:`KINDS`.
    points_xy
        Rectangles and ellipses: two corners ``(x, y)`` of the bounding box (top-left,
        bottom-right). Polygons, paths and lines: their points ``(x, y)``. In cm.
    color
        Colour name or hex string.
    label
        Text shown next to the shape (``None``: the name).
    """

    name: str
    kind: str
    points_xy: tuple[tuple[float, float], ...]
    color: str = "white"
    label: str | None = None

    @property
    def text(self) -> str:
        """Text to display for the shape."""
        return self.name if self.label is None else self.label

    @property
    def vertices(self) -> np.ndarray:
        """Vertices ``(y, x)`` in cm as napari's Shapes expect them for :attr:`kind`.

        Rectangles and ellipses give the four corners of their bounding box.
        """
        pts = np.asarray(self.points_xy, dtype=float)
        if self.kind in _BOX_KINDS:
            (x0, y0), (x1, y1) = pts
            return np.array([[y0, x0], [y0, x1], [y1, x1], [y1, x0]])
        return pts[:, ::-1].copy()

    def outline(self, n: int = 64) -> np.ndarray:
        """The shape as a polygon ``(y, x)`` in cm (ellipses sampled at ``n`` points)."""
        if self.kind != "ellipse":
            return self.vertices
        (x0, y0), (x1, y1) = np.asarray(self.points_xy, dtype=float)
        t = np.linspace(0.0, 2 * math.pi, n, endpoint=False)
        cy, cx, ry, rx = (y0 + y1) / 2, (x0 + x1) / 2, abs(y1 - y0) / 2, abs(x1 - x0) / 2
        return np.column_stack([cy + ry * np.sin(t), cx + rx * np.cos(t)])

    def contains(self, y_cm: np.ndarray, x_cm: np.ndarray) -> np.ndarray:
        """Whether points ``(y, x)`` in cm lie inside the shape (always False for open shapes)."""
        y = np.asarray(y_cm, dtype=float)
        x = np.asarray(x_cm, dtype=float)
        if self.kind in ("path", "line"):
            return np.zeros(np.broadcast(y, x).shape, dtype=bool)
        from skimage.measure import points_in_poly

        pts = np.column_stack([np.ravel(y), np.ravel(x)])
        return points_in_poly(pts, self.outline(256)).reshape(np.broadcast(y, x).shape)

    def to_dict(self) -> dict:
        """The shape as written in a layout file."""
        d: dict = {"name": self.name, "kind": self.kind}
        if self.kind in _BOX_KINDS:
            (x0, y0), (x1, y1) = self.points_xy
            d.update(x=x0, y=y0, width=x1 - x0, height=y1 - y0)
        else:
            d["points"] = [list(p) for p in self.points_xy]
        d["color"] = self.color
        if self.label is not None:
            d["label"] = self.label
        return d

    @classmethod
    def from_dict(cls, d: dict, where: str = "layout") -> CageShape:
        """Build a shape from its layout-file form, with a clear error for bad entries."""
        name = d.get("name")
        kind = d.get("kind")
        if not isinstance(name, str) or not name:
            raise LayoutError(f"{where}: every shape needs a non-empty 'name' (got {d!r})")
        if kind not in KINDS:
            raise LayoutError(f"{where}: shape {name!r} has kind {kind!r}; use one of {KINDS}")
        try:
            if kind in _BOX_KINDS:
                x, y, w, h = (float(d[k]) for k in ("x", "y", "width", "height"))
                if not (w > 0 and h > 0):
                    raise LayoutError(f"{where}: shape {name!r} needs positive width and height")
                pts = ((x, y), (x + w, y + h))
            else:
                pts = tuple((float(p[0]), float(p[1])) for p in d["points"])
                need = 3 if kind == "polygon" else 2
                if len(pts) < need or any(len(p) != 2 for p in d["points"]):
                    raise LayoutError(
                        f"{where}: shape {name!r} ({kind}) needs at least {need} [x, y] points"
                    )
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            if isinstance(exc, LayoutError):
                raise
            raise LayoutError(
                f"{where}: shape {name!r} is incomplete or not numeric ({exc})"
            ) from None
        if not np.isfinite(np.asarray(pts, dtype=float)).all():
            raise LayoutError(f"{where}: shape {name!r} has non-finite coordinates")
        label = d.get("label")
        return cls(
            name, kind, pts, str(d.get("color", "white")), None if label is None else str(label)
        )


def _corners(d: dict, where: str, section: str) -> tuple[tuple[float, float], ...]:
    """The four ``corners_px`` of a ``[photo]`` or ``[video]`` table, or a LayoutError."""
    try:
        corners = np.asarray(d["corners_px"], dtype=float)
    except (KeyError, TypeError, ValueError):
        raise LayoutError(
            f"{where}: [{section}] needs corners_px = [[x, y] x 4] (numbers: the floor's "
            "top-left, top-right, bottom-right and bottom-left corners in pixels)"
        ) from None
    if corners.shape != (4, 2) or not np.isfinite(corners).all():
        raise LayoutError(f"{where}: [{section}] needs four [x, y] pixel corners in corners_px")
    return tuple((float(x), float(y)) for x, y in corners)


@dataclass(frozen=True)
class CagePhoto:
    """A cage photo (``path``; relative paths are relative to the layout file) and the pixel
    ``(x, y)`` of the floor's corners in it: top-left, top-right, bottom-right, bottom-left."""

    path: str
    corners_px: tuple[tuple[float, float], ...]

    @classmethod
    def from_dict(cls, d: dict, where: str = "layout") -> CagePhoto:
        """Build from a ``[photo]`` table, with a clear error for bad entries."""
        path = str(d.get("path") or "") if isinstance(d, dict) else ""
        if not path:
            raise LayoutError(f"{where}: [photo] needs a path and four [x, y] pixel corners")
        return cls(path, _corners(d, where, "photo"))


@dataclass(frozen=True)
class VideoCalibration:
    """Where the cage floor lies in a tracker's video: the ``[video]`` section.

    Parameters
    ----------
    corners_px
        Pixel ``(x, y)`` of the floor's corners in the video: top-left, top-right,
        bottom-right, bottom-left (top-left is the floor's origin, the dome's corner in the
        default layout). They must form a convex quadrilateral.
    fps
        Frames per second of the video, when the tracker's file does not say (None: give it
        with the recording).
    frame
        An image of the video's view (a frame or a photo from the camera), shown under the
        stops in napari; relative paths are relative to the calibration file.
    """

    corners_px: tuple[tuple[float, float], ...]
    fps: float | None = None
    frame: str | None = None

    def to_dict(self) -> dict:
        """The ``[video]`` table as written in a layout file."""
        d: dict = {"corners_px": [list(c) for c in self.corners_px]}
        if self.fps is not None:
            d["fps"] = self.fps
        if self.frame is not None:
            d["frame"] = self.frame
        return d

    @classmethod
    def from_dict(cls, d: dict, where: str = "layout") -> VideoCalibration:
        """Build from a ``[video]`` table, with a clear error for bad entries."""
        if not isinstance(d, dict):
            raise LayoutError(f"{where}: [video] must be a table with corners_px")
        corners = _corners(d, where, "video")
        fps = d.get("fps")
        if fps is not None:
            try:
                fps = float(fps)
            except (TypeError, ValueError):
                fps = float("nan")
            if not (np.isfinite(fps) and fps > 0):
                raise LayoutError(f"{where}: [video] fps must be a positive number")
        frame = d.get("frame")
        return cls(corners, fps, None if frame in (None, "") else str(frame))


@dataclass(frozen=True)
class CageLayout:
    """Named shapes over a floor of ``floor_cm = (width, height)`` centimetres.

    ``photo`` optionally names a cage photo and the pixel ``(x, y)`` of the floor's corners in
    it (top-left, top-right, bottom-right, bottom-left), so the photo can be shown aligned.
    ``video`` optionally calibrates a tracker's video (:class:`VideoCalibration`).
    ``light`` optionally gives the facility's light cycle (``[light]`` table: ``on``, ``off``,
    ``timezone``), so the hours of a recording read as clock time and light or dark phase.
    """

    floor_cm: tuple[float, float] = (50.0, 50.0)
    shapes: tuple[CageShape, ...] = field(default_factory=tuple)
    photo: CagePhoto | None = None
    video: VideoCalibration | None = None
    light: LightSchedule | None = None

    @property
    def names(self) -> list[str]:
        """Shape names, in file order."""
        return [s.name for s in self.shapes]

    def __getitem__(self, name: str) -> CageShape:
        for shape in self.shapes:
            if shape.name == name:
                return shape
        raise KeyError(f"no shape named {name!r} in the layout (have {self.names})")

    def to_dict(self) -> dict:
        """JSON-friendly form, the same structure as the TOML file."""
        d: dict = {"floor": {"width_cm": self.floor_cm[0], "height_cm": self.floor_cm[1]}}
        if self.photo is not None:
            d["photo"] = {
                "path": self.photo.path,
                "corners_px": [list(c) for c in self.photo.corners_px],
            }
        if self.video is not None:
            d["video"] = self.video.to_dict()
        if self.light is not None:
            d["light"] = self.light.to_dict()
        d["shape"] = [s.to_dict() for s in self.shapes]
        return d

    @classmethod
    def from_dict(cls, d: dict, where: str = "layout") -> CageLayout:
        """Inverse of :meth:`to_dict`; raises :class:`LayoutError` on bad content."""
        if not isinstance(d, dict):
            raise LayoutError(f"{where}: expected a table with [floor] and [[shape]] entries")
        floor = d.get("floor", {})
        try:
            floor_cm = (float(floor.get("width_cm", 50.0)), float(floor.get("height_cm", 50.0)))
        except (TypeError, ValueError, AttributeError):
            raise LayoutError(f"{where}: [floor] width_cm and height_cm must be numbers") from None
        if not (floor_cm[0] > 0 and floor_cm[1] > 0):
            raise LayoutError(f"{where}: floor size must be positive, got {floor_cm}")
        raw = d.get("shape", [])
        if not isinstance(raw, list):
            raise LayoutError(f"{where}: 'shape' must be a list of tables ([[shape]] in TOML)")
        shapes = tuple(CageShape.from_dict(s, where) for s in raw)
        names = [s.name for s in shapes]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise LayoutError(f"{where}: shape names must be unique; repeated: {dup}")
        video = VideoCalibration.from_dict(d["video"], where) if "video" in d else None
        if video is not None:
            try:
                photo_transform(video.corners_px, floor_cm)
            except LayoutError as exc:
                raise LayoutError(f"{where}: [video] {exc}") from None
        return cls(
            floor_cm,
            shapes,
            CagePhoto.from_dict(d["photo"], where) if "photo" in d else None,
            video,
            LightSchedule.from_dict(d["light"], where) if "light" in d else None,
        )

    def to_toml(self) -> str:
        """The layout as TOML text (the format :func:`load_layout` reads), written by tomli-w."""
        import tomli_w

        return tomli_w.dumps(self.to_dict())


def load_layout(path: str | os.PathLike | None = None) -> CageLayout:
    """Read a cage layout from a ``.toml`` or ``.json`` file (the packaged default if ``None``).

    Raises
    ------
    LayoutError
        If the file is missing, unparsable or describes invalid shapes (the message names it).
    """
    if path is None:
        text = (
            resources.files("napari_mousestop.io").joinpath("cage_layout.toml").read_text("utf-8")
        )
        return CageLayout.from_dict(tomllib.loads(text), "default cage layout")
    path = Path(path)
    if not path.is_file():
        raise LayoutError(f"{path}: no such layout file")
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (OSError, UnicodeDecodeError, ValueError) as exc:  # TOMLDecodeError is a ValueError
        raise LayoutError(f"{path}: cannot read layout ({exc})") from None
    layout = CageLayout.from_dict(data, str(path))
    if layout.photo is not None and not Path(layout.photo.path).is_absolute():
        photo = CagePhoto(str(path.parent / layout.photo.path), layout.photo.corners_px)
        layout = replace(layout, photo=photo)
    video = layout.video
    if video is not None:
        if video.frame is not None and not Path(video.frame).is_absolute():
            video = replace(video, frame=str(path.parent / video.frame))
        # a calibration file: the default layout gives the floor and light cycle it leaves
        # out; its shapes are LMT's cage (dome, feeders, water), not this arena's: without
        # shapes of its own, the arena is drawn as its floor's outline only
        default = load_layout()
        floor = layout.floor_cm if "floor" in data else default.floor_cm
        shapes = floor_outline(floor)
        layout = replace(
            layout,
            floor_cm=floor,
            shapes=layout.shapes if "shape" in data else shapes,
            video=video,
            light=layout.light if "light" in data else default.light,
        )
    return layout


def floor_outline(floor_cm: tuple[float, float]) -> tuple[CageShape, ...]:
    """The four walls of a floor of ``floor_cm = (width, height)``: the layout of an arena
    nothing more is known of."""
    w, h = (float(v) for v in floor_cm)
    corners = [(0.0, 0.0), (w, 0.0), (w, h), (0.0, h), (0.0, 0.0)]
    sides = ("top", "right", "bottom", "left")
    return tuple(
        CageShape(f"wall ({side})", "line", (corners[i], corners[i + 1]), "white", "")
        for i, side in enumerate(sides)
    )


def save_calibration(
    path: str | os.PathLike,
    corners_px,
    fps: float | None = None,
    frame: str | None = None,
    floor_cm: tuple[float, float] | None = None,
) -> Path:
    """Write a calibration file (a ``[video]`` section, and ``[floor]`` when ``floor_cm`` is
    given) atomically; read it with :func:`load_calibration`.

    Parameters
    ----------
    path
        The ``.toml`` file to write.
    corners_px
        The floor's corners in the video's pixels ``(x, y)``: top-left, top-right,
        bottom-right, bottom-left.
    fps
        The video's frame rate, when its tracker's files do not give it.
    frame
        An image of the video's view, shown under the stops in napari.
    floor_cm
        Floor size (width, height) in cm; None: the default layout's floor and shapes.

    Raises
    ------
    LayoutError
        Corners that are not a convex quadrilateral in that order, or a bad fps.
    """
    video = VideoCalibration.from_dict(
        {"corners_px": corners_px, "fps": fps, "frame": frame}, str(path)
    )
    floor = floor_cm or (50.0, 50.0)
    try:
        photo_transform(video.corners_px, floor)
    except LayoutError as exc:
        raise LayoutError(f"{path}: [video] {exc}") from None
    import tomli_w

    table: dict = {}
    if floor_cm is not None:
        table["floor"] = {"width_cm": float(floor[0]), "height_cm": float(floor[1])}
    table["video"] = video.to_dict()
    write_text_atomic(path, tomli_w.dumps(table))
    return Path(path)


def load_calibration(path: str | os.PathLike) -> CageLayout:
    """A video calibration: a layout file with a ``[video]`` section (it may hold only that).

    Returns
    -------
    CageLayout
        Its ``video`` holds the corners (and fps, frame); floor and shapes come from the file
        or, where it gives none, from the default layout.

    Raises
    ------
    LayoutError
        A missing or unreadable file, or one without a ``[video]`` section (the message names it
        and says what to write).
    """
    layout = load_layout(path)
    if layout.video is None:
        raise LayoutError(
            f"{path}: no [video] section: a calibration gives the floor's corners in the "
            "video's pixels, e.g.\n  [video]\n  corners_px = [[102, 40], [430, 58], [455, 390], "
            "[80, 372]]  # top-left, top-right, bottom-right, bottom-left"
        )
    return layout


def save_layout(layout: CageLayout, path: str | os.PathLike) -> Path:
    """Write ``layout`` atomically as TOML (``.json`` suffix: JSON) and return the path."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        write_text_atomic(path, json.dumps(layout.to_dict(), indent=2) + "\n")
    else:
        write_text_atomic(path, layout.to_toml())
    return path


# --- cage photos ---------------------------------------------------------------------------------


def photo_transform(corners_px, floor_cm: tuple[float, float] = (50.0, 50.0)):
    """Projective transform from a photo's pixels ``(x, y)`` to floor centimetres ``(x, y)``.

    Parameters
    ----------
    corners_px
        The floor's four corners in the photo, as pixel ``(x, y)`` = (column, row), in the order
        top-left, top-right, bottom-right, bottom-left (top-left is the corner at the floor origin,
        the one the camera shows top-left: the dome's corner in the default layout).
    floor_cm
        Floor size (width, height) in cm.

    Returns
    -------
    skimage.transform.ProjectiveTransform
        ``tform(xy_px)`` gives cm; ``tform.inverse(xy_cm)`` gives photo pixels.

    Raises
    ------
    LayoutError
        If the corners are not four finite points spanning a non-degenerate quadrilateral.
    """
    from skimage.transform import ProjectiveTransform

    src = np.asarray(corners_px, dtype=float)
    if src.shape != (4, 2) or not np.isfinite(src).all():
        raise LayoutError(f"photo corners must be four (x, y) pixel pairs, got {src.tolist()}")
    w, h = float(floor_cm[0]), float(floor_cm[1])
    dst = np.array([[0.0, 0.0], [w, 0.0], [w, h], [0.0, h]])
    # The corners must form a convex quadrilateral in this order (either orientation).
    edges = np.roll(src, -1, axis=0) - src
    cross = (
        edges[:, 0] * np.roll(edges, -1, axis=0)[:, 1]
        - edges[:, 1] * np.roll(edges, -1, axis=0)[:, 0]
    )
    if not (np.all(cross > 1e-9) or np.all(cross < -1e-9)):
        raise LayoutError(
            "photo corners must be a convex quadrilateral listed top-left, top-right, "
            f"bottom-right, bottom-left; got {src.tolist()}"
        )
    if hasattr(ProjectiveTransform, "from_estimate"):
        tform = ProjectiveTransform.from_estimate(src, dst)
        ok = bool(tform)
    else:  # scikit-image < 0.26
        tform = ProjectiveTransform()
        ok = tform.estimate(src, dst)
    if not ok:
        raise LayoutError(f"cannot fit a projective transform to photo corners {src.tolist()}")
    return tform


def warp_photo(
    photo: np.ndarray,
    corners_px,
    floor_cm: tuple[float, float] = (50.0, 50.0),
    resolution_cm: float = 0.1,
    margin_cm: float = 0.0,
) -> tuple[np.ndarray, Placement]:
    """Warp a cage photo onto the floor so its pixels are square cells of ``resolution_cm``.

    Parameters
    ----------
    photo
        Image array (rows, columns) or (rows, columns, channels).
    corners_px
        The floor's corners in the photo, see :func:`photo_transform`.
    floor_cm
        Floor size (width, height) in cm.
    resolution_cm
        Size of an output pixel in cm.
    margin_cm
        Extra border kept around the floor (e.g. to show the walls), in cm.

    Returns
    -------
    image, placement
        The floor-aligned image (same dtype and channels as ``photo``; outside the photo: 0)
        and the :class:`~napari_mousestop.io.geometry.Placement` that puts its pixel centres in cm.
    """
    from skimage.transform import warp

    photo = np.asarray(photo)
    if photo.ndim not in (2, 3) or min(photo.shape[:2]) < 2:
        raise LayoutError(f"a photo must be a 2D (rows, cols[, channels]) image, got {photo.shape}")
    if not resolution_cm > 0 or margin_cm < 0:
        raise LayoutError("resolution_cm must be positive and margin_cm not negative")
    tform = photo_transform(corners_px, floor_cm)
    start = -float(margin_cm) + resolution_cm / 2
    n_x = int(round((floor_cm[0] + 2 * margin_cm) / resolution_cm))
    n_y = int(round((floor_cm[1] + 2 * margin_cm) / resolution_cm))

    def out_to_photo(colrow: np.ndarray) -> np.ndarray:
        return tform.inverse(start + resolution_cm * colrow)

    warped = warp(photo, out_to_photo, output_shape=(n_y, n_x), order=1, preserve_range=True)
    if np.issubdtype(photo.dtype, np.integer):
        info = np.iinfo(photo.dtype)
        warped = np.clip(np.rint(warped), info.min, info.max)
    placement = Placement(scale=(resolution_cm, resolution_cm), translate=(start, start))
    return warped.astype(photo.dtype), placement
