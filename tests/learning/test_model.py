"""The paper's CNN: branch shapes, feature count and hookable ReLUs."""

import pytest
import torch

from napari_mousestop.learning.model import ModelConfig, StopCNN


def test_paper_size_gives_16x14x14_and_16x11x11_maps_and_5072_features():
    model = StopCNN(ModelConfig(n_intervals=72, n_bins=30, n_classes=4))
    x = torch.rand(2, 72, 30, 30)
    maps = model.features(x)
    assert [tuple(m.shape) for m in maps] == [(2, 16, 14, 14), (2, 16, 11, 11)]
    assert model.config.n_features == 16 * 14 * 14 + 16 * 11 * 11 == 5072
    assert model.classifier.in_features == 5072
    assert tuple(model(x).shape) == (2, 4)


def test_each_relu_is_its_own_module_so_hooks_see_activations():
    model = StopCNN(ModelConfig(n_intervals=4, n_bins=14, n_classes=4))
    seen = {}
    for i, branch in enumerate(model.branches):
        assert isinstance(branch.relu, torch.nn.ReLU)
        branch.relu.register_forward_hook(lambda m, inp, out, i=i: seen.__setitem__(i, out))
    model(torch.rand(1, 4, 14, 14))
    assert set(seen) == {0, 1}
    assert tuple(seen[0].shape) == (1, 16, 12, 12) and tuple(seen[1].shape) == (1, 16, 6, 6)
    assert all((s >= 0).all() for s in seen.values())


def test_config_round_trips_through_a_dict():
    cfg = ModelConfig(n_intervals=24, n_bins=20, n_classes=2, channels=8, kernel_sizes=(3, 5))
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg


def test_a_grid_too_small_for_the_9x9_kernel_is_refused():
    with pytest.raises(ValueError, match="too small"):
        StopCNN(ModelConfig(n_intervals=4, n_bins=9))
