"""Explanation maps: exactness, alignment over the cage in cm, out-of-fold rule, files."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from napari_mousestop.explain.files import load_maps, save_maps
from napari_mousestop.explain.maps import (
    ExplanationMap,
    activation_maps,
    contribution_maps,
    deeplift_maps,
    gradcam_maps,
)
from napari_mousestop.explain.occlusion import occlusion_hours, occlusion_space
from napari_mousestop.explain.run import out_of_fold
from napari_mousestop.explain.stats import class_average
from napari_mousestop.io.geometry import CageGeometry, grid_placement
from napari_mousestop.learning.model import ModelConfig, StopCNN
from napari_mousestop.plots.explain import plot_class_grid

CLASSES = ("AM", "JM", "AF", "JF")
N = 16  # k3: 14 -> 7 pooled; k9: 8 -> 4 pooled
CFG = ModelConfig(n_intervals=3, n_bins=N, n_classes=4, channels=2, kernel_sizes=(3, 9), pool=2)


def _hand_set(branch: int) -> StopCNN:
    """Branch ``branch``'s channel 0 copies input hour 0 at its kernel centre; class 0 sums it."""
    torch.manual_seed(0)
    model = StopCNN(CFG)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        conv = model.branches[branch].conv
        c = (conv.kernel_size[0] - 1) // 2
        conv.weight[0, 0, c, c] = 1.0
        offset = 0
        for b in range(branch):
            offset += int(np.prod(CFG.branch_shape(CFG.kernel_sizes[b])))
        ch, h, w = CFG.branch_shape(CFG.kernel_sizes[branch])
        model.classifier.weight[0, offset : offset + h * w] = 1.0  # channel 0 only
    return model.eval()


def _hot(by: int, bx: int, value: float = 5.0) -> np.ndarray:
    X = np.zeros((1, CFG.n_intervals, N, N), np.float32)
    X[0, 0, by, bx] = value
    return X


def _peak_cm(m, image: np.ndarray) -> np.ndarray:
    iy, ix = np.unravel_index(np.argmax(image), image.shape)
    ys, xs = m.placement.centres(image.shape)
    return np.array([ys[iy], xs[ix]])


@pytest.mark.parametrize("branch", [0, 1])
def test_single_hot_bin_lights_every_map_at_its_cm_position(branch):
    geometry = CageGeometry.mouse()
    w = 50.0 / N
    model = _hand_set(branch)
    k = CFG.kernel_sizes[branch]
    half = (k - 1) // 2
    # every bin that a valid conv output (and a pooled pixel) sees
    conv_side = N - k + 1
    bins = range(half, half + 2 * (conv_side // 2))
    checked = 0
    for by in bins[::5]:  # odd and even offsets inside the pooling windows
        for bx in bins[1::4]:
            true_cm = np.array([(by + 0.5) * w, (bx + 0.5) * w])
            X = _hot(by, bx)
            contrib = contribution_maps(model, X, geometry=geometry)[branch]
            assert np.abs(_peak_cm(contrib, contrib.data[0, 0]) - true_cm).max() <= w + 1e-9
            acts = {m.name: m for m in activation_maps(model, X, geometry=geometry)}
            pool = acts[f"activation_k{k}_pool"]
            relu = acts[f"activation_k{k}_relu"]
            # within half a pooled pixel (pooled pixel = 2 bins), exact at conv resolution
            assert np.abs(_peak_cm(pool, pool.data[0, 0]) - true_cm).max() <= w + 1e-9
            assert np.allclose(_peak_cm(relu, relu.data[0, 0]), true_cm)
            cam = gradcam_maps(model, X, geometry=geometry)[branch]
            assert cam.data[0, 0].max() > 0
            assert np.allclose(_peak_cm(cam, cam.data[0, 0]), true_cm)
            occ = occlusion_space(model, X, geometry=geometry, patch=1)
            assert np.allclose(_peak_cm(occ, occ.data[0, 0]), true_cm)
            grid, _ = deeplift_maps(model, X, geometry=geometry)
            assert np.allclose(_peak_cm(grid, grid.data[0, 0]), true_cm)
            checked += 1
    assert checked >= 4


def test_contributions_sum_exactly_to_logit_minus_bias():
    torch.manual_seed(3)
    model = StopCNN(CFG).eval()
    X = np.random.default_rng(1).poisson(1.0, (5, CFG.n_intervals, N, N)).astype(np.float32)
    maps = contribution_maps(model, X, classes=CLASSES)
    total = sum(m.data.sum(axis=(2, 3)) for m in maps)
    with torch.no_grad():
        logits = model(torch.from_numpy(X)).double().numpy()
    bias = model.classifier.bias.detach().double().numpy()
    np.testing.assert_allclose(total, logits - bias, rtol=1e-6, atol=1e-6)
    assert maps[0].data.shape == (5, 4, 7, 7) and maps[1].data.shape == (5, 4, 4, 4)
    assert maps[0].axes == ("sample", "class", "y", "x") and maps[0].classes == CLASSES


def test_grid_contributions_split_each_logit_exactly_over_bins_and_hours():
    torch.manual_seed(4)
    model = StopCNN(CFG).eval()
    X = np.random.default_rng(2).poisson(1.0, (3, CFG.n_intervals, N, N)).astype(np.float32)
    with torch.no_grad():
        logits = model(torch.from_numpy(X)).double().numpy()
        empty = model(torch.zeros(1, CFG.n_intervals, N, N)).double().numpy()
    space, hours = deeplift_maps(model, X, classes=CLASSES, batch_size=2)
    assert space.data.shape == (3, 4, N, N) and space.placement == grid_placement(N)
    assert hours.data.shape == (3, 4, CFG.n_intervals) and hours.axes == ("sample", "class", "hour")
    np.testing.assert_allclose(space.data.sum(axis=(2, 3)), logits - empty, atol=1e-5)
    np.testing.assert_allclose(hours.data.sum(axis=2), logits - empty, atol=1e-5)
    # an empty cage has no evidence anywhere; a bin without stops gets none either
    zero, _ = deeplift_maps(model, X[:1] * 0)
    assert np.abs(zero.data).max() < 1e-9
    X[:, :, 0, :] = 0.0
    space, _ = deeplift_maps(model, X)
    assert (space.data[:, :, 0, :] == 0).all()
    # the pooled maps keep their exact sums relative to the empty cage too
    rel = contribution_maps(model, X, baseline="empty")
    with torch.no_grad():
        logits = model(torch.from_numpy(X)).double().numpy()
    np.testing.assert_allclose(sum(m.data.sum(axis=(2, 3)) for m in rel), logits - empty, atol=1e-6)
    with pytest.raises(ValueError, match="baseline"):
        contribution_maps(model, X, baseline="mean")


def test_activation_maps_have_all_channels_at_both_layers():
    model = StopCNN(CFG).eval()
    X = np.ones((3, CFG.n_intervals, N, N), np.float32)
    maps = {m.name: m for m in activation_maps(model, X)}
    assert set(maps) == {
        "activation_k3_relu",
        "activation_k3_pool",
        "activation_k9_relu",
        "activation_k9_pool",
    }
    assert maps["activation_k3_relu"].data.shape == (3, 2, 14, 14)
    assert maps["activation_k9_pool"].data.shape == (3, 2, 4, 4)
    assert (maps["activation_k3_relu"].data >= 0).all()
    # the paper's size: 16 channels per branch, 14x14 and 11x11 after pooling
    full = {m.name: m.data.shape for m in activation_maps(StopCNN(), np.zeros((1, 72, 30, 30)))}
    assert full["activation_k3_pool"] == (1, 16, 14, 14)
    assert full["activation_k9_pool"] == (1, 16, 11, 11)


def test_gradcam_of_all_classes_at_once_equals_captum_class_by_class():
    from captum.attr import LayerGradCam

    torch.manual_seed(2)
    model = StopCNN(CFG).eval()
    X = np.random.default_rng(3).poisson(1.0, (5, CFG.n_intervals, N, N)).astype(np.float32)
    maps = gradcam_maps(model, X, classes=CLASSES, batch_size=8)  # chunks of 2 samples
    for b, branch in enumerate(model.branches):
        cam = LayerGradCam(model, branch.relu)
        for c in range(4):
            ref = cam.attribute(torch.from_numpy(X), target=c, relu_attributions=True)
            np.testing.assert_allclose(maps[b].data[:, c], ref.detach().numpy()[:, 0], atol=1e-7)
    assert maps[0].data.shape == (5, 4, 14, 14) and maps[1].data.shape == (5, 4, 8, 8)


def test_wrong_sample_shape_is_refused():
    with pytest.raises(ValueError, match="do not fit the model"):
        contribution_maps(StopCNN(CFG), np.zeros((2, 5, N, N)))


def test_occlusion_over_hours_finds_the_hour_that_matters():
    torch.manual_seed(1)
    model = StopCNN(CFG).eval()
    with torch.no_grad():
        for branch in model.branches:
            branch.conv.weight[:, [0, 2]] = 0.0  # only hour 1 reaches the output
    X = np.random.default_rng(0).poisson(2.0, (4, CFG.n_intervals, N, N)).astype(np.float32)
    prof = occlusion_hours(model, X, classes=CLASSES)
    assert prof.data.shape == (4, 4, 3)
    assert np.allclose(prof.data[:, :, [0, 2]], 0.0, atol=1e-6)
    assert np.abs(prof.data[:, :, 1]).min() > 1e-4
    proba = occlusion_hours(model, X, measure="proba")
    assert np.allclose(proba.data.sum(axis=1), 0.0, atol=1e-6)  # probabilities move, sum stays
    with pytest.raises(ValueError, match="measure"):
        occlusion_hours(model, X, measure="auc")


class _Log1p:
    def transform(self, X):
        return np.log1p(X).astype(np.float32)


def test_out_of_fold_uses_the_model_that_never_saw_the_cage():
    """Each fold model is biased to one class: every animal's maps must come from its fold."""
    cages = np.array(["c1", "c1", "c2", "c2", "c3"])
    X = np.random.default_rng(2).poisson(1.0, (5, CFG.n_intervals, N, N)).astype(np.float32)
    folds = []
    for i, cage in enumerate(["c1", "c2", "c3"]):
        model = StopCNN(CFG).eval()
        with torch.no_grad():
            model.classifier.weight.zero_()
            model.classifier.weight[i] = 1.0  # only class i gets evidence
        folds.append(
            SimpleNamespace(cage=cage, test_index=cages == cage, model=model, scaler=_Log1p())
        )
    maps = out_of_fold(folds, X, classes=CLASSES, which=("contribution",), baseline="none")
    names = ["contribution", "contribution_hours", "contribution_k3", "contribution_k9"]
    assert [m.name for m in maps] == names
    contrib = maps[2]
    for i, cage in enumerate(["c1", "c2", "c3"]):
        own = contrib.data[cages == cage]
        assert (own[:, i] > 0).any()
        assert np.allclose(np.delete(own, i, axis=1), 0.0)
    np.testing.assert_allclose(
        contrib.data[cages == "c2"],
        contribution_maps(folds[1].model, X[cages == "c2"], _Log1p(), classes=CLASSES)[0].data,
    )
    assert contrib.meta["out_of_fold"] and contrib.meta["n_folds"] == 3
    folds[2].test_index = cages == "c2"  # c3 never held out, c2 twice
    with pytest.raises(ValueError, match="exactly once"):
        out_of_fold(folds, X, which=("contribution",))


def test_class_average_by_true_or_predicted_class():
    model = StopCNN(CFG).eval()
    X = np.random.default_rng(4).poisson(1.0, (6, CFG.n_intervals, N, N)).astype(np.float32)
    contrib = contribution_maps(model, X, classes=CLASSES)[0]
    labels = np.array([0, 0, 1, 2, 2, 3])
    pred = np.array([0, 1, 1, 2, 0, 3])
    avg = class_average(contrib, labels)
    assert avg.axes == ("class", "y", "x") and avg.data.shape == (4, 7, 7)
    np.testing.assert_allclose(avg.data[2], contrib.data[[3, 4], 2].mean(0))
    assert avg.meta["n_per_class"] == [2, 1, 2, 1]
    by_pred = class_average(contrib, labels, pred, by="predicted")
    np.testing.assert_allclose(by_pred.data[0], contrib.data[[0, 4], 0].mean(0))
    correct = class_average(contrib, labels, pred, correct_only=True)
    np.testing.assert_allclose(correct.data[2], contrib.data[3, 2])
    assert correct.meta["n_per_class"] == [1, 1, 1, 1]
    acts = [m for m in activation_maps(model, X, classes=CLASSES) if m.name.endswith("k3_pool")]
    act_avg = class_average(acts[0], labels)
    assert act_avg.axes == ("class", "channel", "y", "x") and act_avg.data.shape == (4, 2, 7, 7)
    with pytest.raises(ValueError, match="predicted"):
        class_average(contrib, labels, by="predicted")


def test_saved_maps_round_trip_with_their_geometry_and_draw(tmp_path):
    import xarray as xr

    model = StopCNN(CFG).eval()
    X = np.random.default_rng(5).poisson(1.0, (4, CFG.n_intervals, N, N)).astype(np.float32)
    contrib = class_average(contribution_maps(model, X, classes=CLASSES)[1], np.arange(4))
    acts = [class_average(m, np.arange(4)) for m in activation_maps(model, X, classes=CLASSES)]
    hours = class_average(occlusion_hours(model, X, classes=CLASSES), np.arange(4))
    path = save_maps([contrib, *acts, hours], tmp_path / "maps", attrs={"run": "r1", "seed": 3})
    assert path == tmp_path / "maps" / "maps.nc"
    # a self-describing file: named dimensions, cm coordinates, parameters as attributes
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        var = ds["contribution_k9"]
        assert var.dims == ("class", "y_k9_pool", "x_k9_pool")
        assert list(ds["class"].values) == list(CLASSES)
        ys = ds["y_k9_pool"].values
        assert ds["y_k9_pool"].attrs["units"] == "cm"
        np.testing.assert_allclose(ys[0], (0.5 + 4 + 0.5) * 50 / N)  # translate
        np.testing.assert_allclose(np.diff(ys), 2 * 50 / N)  # scale
        assert ds["activation_k9_pool"].dims[-2:] == ("y_k9_pool", "x_k9_pool")  # same grid
        assert ds["activation_k3_relu"].dims == ("class", "channel", "y_k3", "x_k3")
        assert ds.attrs["run"] == "r1" and ds.attrs["seed"] == 3
        assert ds["occlusion_hours"].dims == ("class", "hour")
    back = load_maps(tmp_path / "maps")
    np.testing.assert_array_equal(back["contribution_k9"].data, contrib.data)
    assert back["contribution_k9"].placement == contrib.placement
    assert back["contribution_k9"].meta == contrib.meta
    assert back["activation_k3_relu"].axes == ("class", "channel", "y", "x")
    assert back["occlusion_hours"].axes == ("class", "hour")
    assert not list((tmp_path / "maps").glob(".*"))  # no temporary files left behind
    png = plot_class_grid(contrib, tmp_path / "maps" / "c.png")
    assert png.stat().st_size > 10_000
    with pytest.raises(ValueError, match="unique"):
        save_maps([contrib, contrib], tmp_path / "dup")
    with pytest.raises(ValueError, match="no maps.nc"):
        load_maps(tmp_path)


def test_maps_folders_of_the_previous_format_still_load(tmp_path):
    """One .npz per map and maps.json (napari-mousestop-maps/1)."""
    np.savez_compressed(tmp_path / "input.npz", data=np.ones((4, 3, 3)))
    doc = {
        "format": "napari-mousestop-maps/1",
        "maps": [{
            "name": "input", "file": "input.npz", "kind": "input", "axes": ["class", "y", "x"],
            "shape": [4, 3, 3], "classes": list(CLASSES), "meta": {},
            "placement": {"scale": [2.0, 2.0], "translate": [1.0, 1.0]},
        }],
    }  # fmt: skip
    (tmp_path / "maps.json").write_text(json.dumps(doc))
    back = load_maps(tmp_path)
    assert back["input"].placement.scale == (2.0, 2.0)
    assert back["input"].meta["legacy_format"] == "napari-mousestop-maps/1"
    (tmp_path / "input.npz").unlink()
    with pytest.raises(ValueError, match="missing"):
        load_maps(tmp_path)


def test_class_panels_are_the_paper_grid_for_its_four_classes_and_one_row_otherwise(tmp_path):
    """AM JM / AF JF as 2 x 2; three classes (or KO, WT) one panel each, side by side, no empty
    panel."""
    from PIL import Image

    def aspect(classes):
        m = ExplanationMap("m", np.random.default_rng(0).normal(size=(len(classes), 6, 6)),
                           grid_placement(6), classes, "input", ("class", "y", "x"))  # fmt: skip
        with Image.open(plot_class_grid(m, tmp_path / f"{len(classes)}.png")) as im:
            return im.width / im.height

    assert 0.8 < aspect(CLASSES) < 1.2
    assert aspect(("AM", "JM", "AF")) > 2.2
    assert 1.5 < aspect(("KO", "WT")) < 2.2
