"""Cage geometry and the placement of grids and feature maps in cage centimetres."""

import numpy as np
import pytest
import torch

from napari_mousestop.io.geometry import CageGeometry, feature_map_placement, grid_placement


def test_floor_corners_map_to_the_50cm_square():
    geometry = CageGeometry.mouse()
    x_cm, y_cm = geometry.px_to_cm(np.array([114.0, 399.0]), np.array([63.0, 348.0]))
    np.testing.assert_allclose(x_cm, [0.0, 50.0])
    np.testing.assert_allclose(y_cm, [0.0, 50.0])


def test_rat_scale_doubles_the_distance():
    x_mouse, _ = CageGeometry.mouse().px_to_cm(np.array([171.0]), np.array([63.0]))
    x_rat, _ = CageGeometry.rat().px_to_cm(np.array([171.0]), np.array([63.0]))
    assert x_rat[0] == pytest.approx(2 * x_mouse[0]) == pytest.approx(20.0)


def test_cm_to_px_inverts_px_to_cm():
    geometry = CageGeometry.mouse()
    x = np.array([120.5, 300.25])
    y = np.array([70.0, 340.0])
    back = geometry.cm_to_px(*geometry.px_to_cm(x, y))
    np.testing.assert_allclose(back, (x, y))


def test_geometry_round_trips_through_a_dict():
    geometry = CageGeometry.rat()
    assert CageGeometry.from_dict(geometry.to_dict()) == geometry


def test_histogram_bin_centres_sit_inside_their_bins():
    n = 30
    x_edges, y_edges = CageGeometry.mouse().bin_edges(n)
    centres_y, centres_x = grid_placement(n).centres((n, n))
    np.testing.assert_allclose(centres_x, (x_edges[:-1] + x_edges[1:]) / 2)
    np.testing.assert_allclose(centres_y, (y_edges[:-1] + y_edges[1:]) / 2)


@pytest.mark.parametrize("kernel_size", [3, 9])
def test_pooled_conv_pixel_sits_over_the_hot_input_bin(kernel_size):
    """A single hot bin, seen through a centre-tap kernel, lights the pooled pixel over it."""
    n, hot_row, hot_col = 30, 17, 6
    conv = torch.nn.Conv2d(1, 1, kernel_size, bias=False)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0, kernel_size // 2, kernel_size // 2] = 1.0
    x = torch.zeros(1, 1, n, n)
    x[0, 0, hot_row, hot_col] = 1.0
    pooled = torch.nn.functional.max_pool2d(conv(x), 2)[0, 0].detach().numpy()
    row, col = np.unravel_index(pooled.argmax(), pooled.shape)
    placement = feature_map_placement(n, kernel_size, pool=2)
    centres_y, centres_x = placement.centres(pooled.shape)
    bin_y, bin_x = grid_placement(n).centres((n, n))
    half_pooled_pixel = placement.scale[0] / 2
    assert abs(centres_y[row] - bin_y[hot_row]) <= half_pooled_pixel
    assert abs(centres_x[col] - bin_x[hot_col]) <= half_pooled_pixel
