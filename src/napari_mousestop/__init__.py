"""napari-mousestop: stops of Live Mouse Tracker mice, hourly histograms and a CNN reading them.

The public API is listed in ``__all__`` below, grouped by the subpackage that owns it. The
names load lazily (`SPEC 1 <https://scientific-python.org/specs/spec-0001/>`_, via
``lazy_loader``), so ``import napari_mousestop`` and the stop and histogram path stay free of
torch until a model is used; set ``EAGER_IMPORT=1`` to load everything at once.
"""

import lazy_loader as _lazy

from napari_mousestop import errors as _errors

__version__ = "0.1.0"

_API = {
    "errors": _errors.__all__,  # MousestopError, the domain errors, Cancelled
    "progress": ["Progress"],
    "io.geometry": ["CageGeometry"],
    "io.lmt": ["read_animals", "read_recording_info"],
    "io.cohort": ["read_cohort"],
    "io.layout": ["load_calibration", "load_layout"],
    "io.trackers": ["TrackerParams", "read_tracks"],
    "stops": ["StopParams", "extract_stops", "write_stops"],
    "histograms": ["HistogramParams", "recording_stacks"],
    "datasets.dataset": ["Dataset", "load_dataset", "save_dataset"],
    "datasets.build": ["build_dataset"],
    "design": ["StudyDesign"],
    "learning.config": ["TrainConfig"],
    "learning.model": ["ModelConfig", "StopCNN"],
    "learning.training": ["loco_cv", "train_final"],
    "learning.checkpoint": ["Checkpoint", "load_checkpoint", "save_checkpoint"],
    "learning.report": ["TrainingRun", "load_run", "run_training", "train_and_report"],
    "learning.predict": ["predict_files", "predict_recording"],
    "explain.maps": [
        "ExplanationMap",
        "activation_maps",
        "contribution_maps",
        "deeplift_maps",
        "gradcam_maps",
        "input_maps",
    ],
    "explain.occlusion": ["occlusion_hours", "occlusion_space"],
    "explain.stats": ["class_average", "compare_classes"],
    "explain.run": ["ExplanationRun", "explain_run"],
    "explain.classmaps": ["ClassMaps", "class_maps"],
    "explain.files": ["load_maps", "save_maps"],
    "synthetic.generate": ["generate_cohort", "generate_recording"],
    "pipeline": ["run_demo"],
}

__getattr__, __dir__, _names = _lazy.attach(__name__, submod_attrs=_API)
__all__ = ["__version__", *_names]
