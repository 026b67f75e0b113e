"""The command line's defaults are the parameter dataclasses' defaults (one source of truth)."""

from __future__ import annotations

import typer

from napari_mousestop.cli.app import app
from napari_mousestop.histograms import HistogramParams, parse_duration
from napari_mousestop.learning.config import TrainConfig
from napari_mousestop.stops import StopParams

STOP = {
    "speed": "speed_threshold_cm_s",
    "min_duration": "min_duration_s",
    "window": "speed_window_s",
    "max_gap": "max_gap_s",
    "time_base": "time_base",
    "method": "method",
    "verify": "verify",
}
HIST = {"intervals": "n_intervals", "bins": "n_bins", "align_to": "align_to",
        "timezone": "timezone", "weight": "weight", "off_floor": "off_floor"}  # fmt: skip
TRAIN = ["epochs", "lr", "batch_size", "momentum", "weight_decay", "seed", "folds", "scaling",
         "device"]  # fmt: skip


def _defaults(command: str) -> dict:
    click_app = typer.main.get_command(app)
    return {p.name: p.default for p in click_app.commands[command].params}


def test_stop_histogram_and_training_options_default_to_the_dataclasses():
    stops, dataset, train = _defaults("stops"), _defaults("dataset"), _defaults("train")
    for option, field in STOP.items():
        assert stops[option] == dataset[option] == getattr(StopParams(), field), option
    assert _defaults("predict")["verify"] == StopParams().verify
    for option, field in HIST.items():
        assert dataset[option] == getattr(HistogramParams(), field), option
    assert parse_duration(dataset["interval"]) == HistogramParams().interval_s
    for option in TRAIN:
        assert train[option] == getattr(TrainConfig(), option), option


def test_other_trackers_options_default_to_tracker_params():
    from napari_mousestop.io.trackers import TrackerParams

    tracker = TrackerParams()
    for command in ("stops", "dataset", "predict"):
        options = _defaults(command)
        assert options["confidence"] == tracker.confidence_threshold, command
        assert options["bridge_gap"] == tracker.bridge_gap_s, command
    assert _defaults("stops")["timezone"] == tracker.timezone


def test_the_widgets_forms_default_to_the_same_dataclasses(make_napari_viewer):
    """The Train and Extract widgets show the defaults the command line uses."""
    from napari_mousestop.gui.widgets.extract import ExtractWidget
    from napari_mousestop.gui.widgets.forms import form_values
    from napari_mousestop.gui.widgets.train import TrainWidget
    from napari_mousestop.learning.config import N_PERMUTATIONS

    viewer = make_napari_viewer()
    train, extract = TrainWidget(viewer), ExtractWidget(viewer)
    assert TrainConfig(**form_values(train.params), track_test=True) == TrainConfig(
        track_test=True
    )
    assert int(train.n_permutations.value) == N_PERMUTATIONS == _defaults("train")["permutations"]
    # one difference, on purpose: the widget bins one recording at a time, so its number of
    # intervals is "from the recording" (None); a dataset's command needs one T for all
    assert HistogramParams(**form_values(extract.hist)) == HistogramParams(n_intervals=None)
    assert StopParams(**form_values(extract.stop)) == StopParams()


def test_the_model_architecture_has_one_default():
    from napari_mousestop.learning.model import ModelConfig

    config = TrainConfig().model_config(72, 30, 4)
    assert config == ModelConfig()  # TrainConfig's architecture fields are ModelConfig's


EXPLAIN_OPTIONS = {"permutations": "n_permutations", "alpha": "alpha", "seed": "seed",
                   "statistic": "statistic", "primary": "primary", "patch": "patch",
                   "stride": "stride", "by": "by", "correct_only": "correct_only"}  # fmt: skip
DEMO_OPTIONS = {"cages": "cages", "hours": "hours", "interval": "interval_min",
                "epochs": "epochs", "seed": "seed", "workers": "workers",
                "start_time": "start_time"}  # fmt: skip


def test_explain_and_demo_options_default_to_their_dataclasses():
    """``mousestop explain``/``demo`` and the functions they call have the same defaults."""
    import inspect

    from napari_mousestop.explain.params import ExplainParams
    from napari_mousestop.explain.run import explain_run
    from napari_mousestop.pipeline import DemoParams, run_demo

    explain, signature = _defaults("explain"), inspect.signature(explain_run).parameters
    for option, field in EXPLAIN_OPTIONS.items():
        assert explain[option] == getattr(ExplainParams(), field), option
        assert signature[field].default == getattr(ExplainParams(), field), field
    demo, signature = _defaults("demo"), inspect.signature(run_demo).parameters
    for option, field in DEMO_OPTIONS.items():
        assert demo[option] == getattr(DemoParams(), field), option
        assert signature[field].default == getattr(DemoParams(), field), field
    assert signature["permutations"].default == DemoParams().permutations


def test_the_compare_widget_and_the_class_map_tests_share_their_defaults(make_napari_viewer):
    import inspect

    from napari_mousestop.explain.classmaps import class_maps
    from napari_mousestop.explain.params import ExplainParams
    from napari_mousestop.explain.stats import compare, compare_all, compare_classes
    from napari_mousestop.gui.widgets.compare import CompareWidget

    widget = CompareWidget(make_napari_viewer())
    assert int(widget.n_permutations.value) == ExplainParams().map_permutations
    for function in (class_maps, compare, compare_classes, compare_all):
        signature = inspect.signature(function).parameters
        assert signature["n_permutations"].default == ExplainParams().map_permutations
        assert signature["seed"].default == ExplainParams().seed
