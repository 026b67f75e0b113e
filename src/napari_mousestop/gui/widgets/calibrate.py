"""Calibration dock widget: click the cage floor's four corners on a video frame (or a photo
from the camera) and save them as a calibration file (a ``[video]`` section).

Other trackers' files (DeepLabCut, SLEAP...) hold positions in the video's pixels; the
calibration turns them into cage centimetres (:func:`napari_mousestop.io.layout.load_calibration`).
Open a frame of the video in napari (an image file, or the video itself through a video reader
plugin), choose it here, press *Place corners* and click the floor's corners in order: top-left
(the floor's origin, the dome's corner in the default layout), top-right, bottom-right,
bottom-left. *Save calibration* writes them, in the image's pixels, with the floor size and the
video's frame rate if given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from magicgui.widgets import ComboBox, Container, FileEdit, FloatSpinBox, LineEdit
from qtpy.QtWidgets import QLabel, QPushButton, QVBoxLayout, QWidget

from napari_mousestop.gui.jobs import notify_error
from napari_mousestop.gui.widgets.common import clear_path, path_of

CORNERS_LAYER = "floor corners"
ORDER = ("top-left", "top-right", "bottom-right", "bottom-left")


def corners_in_image(image: Any, points_world: np.ndarray, dims_point: tuple) -> np.ndarray:
    """Pixel ``(x, y)`` in ``image`` of 2D world points ``(y, x)`` (napari's world coordinates).

    The image may have leading axes (a video's frames): the world point takes the viewer's
    current position on them.
    """
    out = []
    for y, x in np.asarray(points_world, dtype=float):
        world = [*dims_point[: len(dims_point) - 2], y, x][-image.ndim :]
        data = np.asarray(image.world_to_data(world), dtype=float)
        out.append((float(data[-1]), float(data[-2])))
    return np.asarray(out)


class CalibrateWidget(QWidget):
    """Draw the cage floor's corners on a video frame and save them as a calibration."""

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.image = ComboBox(
            label="video frame",
            choices=self._image_layers,
            tooltip="an image layer: a frame of the video, or a photo from the same camera",
        )
        self.width_cm = FloatSpinBox(label="floor width (cm)", value=50.0, min=1.0, max=1e4)
        self.height_cm = FloatSpinBox(label="floor height (cm)", value=50.0, min=1.0, max=1e4)
        self.fps = LineEdit(
            label="fps", value="", tooltip="the video's frames per second (empty: not saved)"
        )
        self.out = FileEdit(label="save to", mode="w", filter="*.toml")
        clear_path(self.out)
        self.form = Container(
            widgets=[self.image, self.width_cm, self.height_cm, self.fps, self.out]
        )
        self.place_button = QPushButton("Place corners")
        self.place_button.clicked.connect(self.place_corners)
        self.save_button = QPushButton("Save calibration")
        self.save_button.clicked.connect(self.save)
        self.status = QLabel(
            "Click the floor's corners in order: " + ", ".join(ORDER) + " (top-left: the floor's "
            "origin, the dome's corner)."
        )
        self.status.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.form.native)
        lay.addWidget(self.place_button)
        lay.addWidget(self.save_button)
        lay.addWidget(self.status)
        lay.addStretch(1)
        for event in (self.viewer.layers.events.inserted, self.viewer.layers.events.removed):
            event.connect(lambda *_: self.image.reset_choices())

    def _image_layers(self, *_: Any) -> list:
        return [(ly.name, ly) for ly in self.viewer.layers if type(ly).__name__ == "Image"]

    def place_corners(self) -> Any:
        """Add (or select) the ``"floor corners"`` Points layer in adding mode."""
        if CORNERS_LAYER in self.viewer.layers:
            layer = self.viewer.layers[CORNERS_LAYER]
        else:
            layer = self.viewer.add_points(
                np.empty((0, 2)), name=CORNERS_LAYER, face_color="yellow", size=8
            )
        self.viewer.layers.selection.active = layer
        layer.mode = "add"
        return layer

    def corners_px(self) -> np.ndarray:
        """The four clicked corners in the chosen image's pixels ``(x, y)``."""
        image = self.image.value
        if image is None:
            raise ValueError("choose the image layer of a video frame")
        if CORNERS_LAYER not in self.viewer.layers:
            raise ValueError("press 'Place corners' and click the floor's four corners")
        points = np.asarray(self.viewer.layers[CORNERS_LAYER].data)
        if len(points) != 4 or points.shape[1] != 2:
            raise ValueError(
                f"click exactly four corners ({', '.join(ORDER)}); the layer has {len(points)}"
            )
        return corners_in_image(image, points, tuple(self.viewer.dims.point))

    def save(self) -> Path | None:
        """Write the calibration file (returns its path, or None after showing the problem)."""
        from napari_mousestop.io.layout import save_calibration

        try:
            out = path_of(self.out)
            if not out:
                raise ValueError("choose where to save the calibration (.toml)")
            fps = self.fps.value.strip() or None
            floor = (float(self.width_cm.value), float(self.height_cm.value))
            source = getattr(getattr(self.image.value, "source", None), "path", None)
            frame = str(source) if source and Path(str(source)).is_file() else None
            path = save_calibration(
                out,
                self.corners_px().tolist(),
                fps=fps,
                frame=frame if self.image.value.ndim == 2 else None,
                floor_cm=None if floor == (50.0, 50.0) else floor,
            )
        except (ValueError, OSError) as exc:
            self.status.setText(str(exc))
            notify_error(exc)
            return None
        self.status.setText(f"calibration saved to {path}")
        return path
