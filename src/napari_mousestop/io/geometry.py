"""Cage geometry (pixels to centimetres) and where grids and feature maps sit in the cage.

World units everywhere: centimetres for space (origin at the floor's top-left corner, y growing
downwards as in the camera image) and hours for time.

napari draws pixel ``i`` of an axis centred at ``translate + i * scale``. A histogram whose bin
edges start at ``x0`` with width ``w`` therefore has ``scale = w`` and ``translate = x0 + w / 2``.
A valid ``k x k`` convolution's output pixel ``i`` is centred on input bin ``i + (k - 1) / 2``;
``p x p`` max-pooling with stride ``p`` covers conv pixels ``p*j .. p*j + p - 1``, centred on
``p*j + (p - 1) / 2``. Composing both: ``scale = p * w`` and
``translate = x0 + w / 2 + w * ((k - 1) / 2 + (p - 1) / 2)``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class CageGeometry:
    """How LMT pixels map to centimetres on the cage floor.

    Parameters
    ----------
    origin_px
        Pixel (x, y) of the floor's top-left corner.
    cm_per_px
        Centimetres per pixel along x and y (lmt-analysis uses 10/57 for mice, 20/57 for rats).
    floor_cm
        Floor size (width, height) in cm.
    fps
        Camera frames per second.
    """

    origin_px: tuple[float, float] = (114.0, 63.0)
    cm_per_px: tuple[float, float] = (10 / 57, 10 / 57)
    floor_cm: tuple[float, float] = (50.0, 50.0)
    fps: float = 30.0

    @classmethod
    def mouse(cls) -> CageGeometry:
        """The LMT mouse cage: 50 x 50 cm, 10/57 cm per pixel from corner (114, 63)."""
        return cls()

    @classmethod
    def rat(cls) -> CageGeometry:
        """The LMT rat and hamster scale: 20/57 cm per pixel."""
        return cls(cm_per_px=(20 / 57, 20 / 57))

    def px_to_cm(self, x_px: np.ndarray, y_px: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixel coordinates to cm from the floor's top-left corner."""
        x_cm = (np.asarray(x_px, dtype=np.float64) - self.origin_px[0]) * self.cm_per_px[0]
        y_cm = (np.asarray(y_px, dtype=np.float64) - self.origin_px[1]) * self.cm_per_px[1]
        return x_cm, y_cm

    def cm_to_px(self, x_cm: np.ndarray, y_cm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Inverse of :meth:`px_to_cm`."""
        x_px = np.asarray(x_cm, dtype=np.float64) / self.cm_per_px[0] + self.origin_px[0]
        y_px = np.asarray(y_cm, dtype=np.float64) / self.cm_per_px[1] + self.origin_px[1]
        return x_px, y_px

    def bin_edges(self, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
        """Edges (x, y) in cm of an ``n_bins x n_bins`` grid over the floor."""
        return (
            np.linspace(0.0, self.floor_cm[0], n_bins + 1),
            np.linspace(0.0, self.floor_cm[1], n_bins + 1),
        )

    def to_dict(self) -> dict:
        """JSON-friendly dictionary."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> CageGeometry:
        """Inverse of :meth:`to_dict`."""
        return cls(
            origin_px=tuple(d["origin_px"]),
            cm_per_px=tuple(d["cm_per_px"]),
            floor_cm=tuple(d["floor_cm"]),
            fps=float(d["fps"]),
        )


@dataclass(frozen=True)
class Placement:
    """Scale and translate (y, x) in cm that put each pixel centre where it belongs."""

    scale: tuple[float, float]
    translate: tuple[float, float]

    def centres(self, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Pixel centres (y, x) in cm for an array of ``shape``."""
        return (
            self.translate[0] + self.scale[0] * np.arange(shape[0]),
            self.translate[1] + self.scale[1] * np.arange(shape[1]),
        )


def grid_placement(n_bins: int, geometry: CageGeometry | None = None) -> Placement:
    """Placement of an ``n_bins x n_bins`` histogram over the cage floor."""
    return feature_map_placement(n_bins, kernel_size=1, pool=1, geometry=geometry)


def feature_map_placement(
    n_bins: int, kernel_size: int, pool: int, geometry: CageGeometry | None = None
) -> Placement:
    """Placement of a valid ``kernel_size`` convolution followed by ``pool`` max-pooling.

    Each output pixel is drawn over the centre of the input bins it looks at.

    Parameters
    ----------
    n_bins
        Histogram grid size N.
    kernel_size
        Convolution kernel size k (1 for the histogram itself).
    pool
        Pooling window and stride p (1 for no pooling).
    geometry
        Cage geometry (floor size); the mouse cage by default.
    """
    geometry = geometry or CageGeometry.mouse()
    w_x = geometry.floor_cm[0] / n_bins
    w_y = geometry.floor_cm[1] / n_bins
    shift = (kernel_size - 1) / 2 + (pool - 1) / 2
    return Placement(
        scale=(pool * w_y, pool * w_x),
        translate=(w_y / 2 + shift * w_y, w_x / 2 + shift * w_x),
    )
