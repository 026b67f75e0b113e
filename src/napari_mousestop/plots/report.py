"""The run folder's figures, drawn on :class:`matplotlib.figure.Figure` (never pyplot)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

from napari_mousestop.io.atomic import atomic_path

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from napari_mousestop.learning.report import Report


def _save(fig: Figure, path: Path) -> None:
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight")


def draw_confusion(ax: Axes, matrix: np.ndarray, classes: Sequence[str]) -> None:
    """A confusion matrix on ``ax`` (rows: true class, columns: predicted), counts written in.

    Drawn by scikit-learn's :class:`~sklearn.metrics.ConfusionMatrixDisplay` (no colour bar,
    colours from 0); used by the run folder's figure and the Train widget alike.
    """
    from sklearn.metrics import ConfusionMatrixDisplay

    cm = np.asarray(matrix)
    display = ConfusionMatrixDisplay(cm, display_labels=list(classes))
    display.plot(ax=ax, cmap="Blues", colorbar=False, values_format="d", im_kw={"vmin": 0})
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")


def plot_confusion(report: Report, path: Path) -> None:
    """Confusion matrices of the CNN and each baseline, side by side, as a PNG."""
    panels = [("CNN", report.cnn)] + [(k, b.summary) for k, b in report.baselines.items()]
    fig = Figure(figsize=(3.8 * len(panels), 3.4), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (name, s) in zip(axes, panels, strict=True):
        draw_confusion(ax, s.confusion_matrix, report.classes)
        if ax is not axes[0]:
            ax.set_ylabel("")
        ax.set_title(f"{name} (accuracy {s.accuracy.value:.2f})")
    _save(fig, path)


def _references(ax, report: Report) -> None:
    ref = report.null_reference
    ax.axhline(ref.chance, color="C3", ls="--", lw=1, label=f"chance {ref.chance:.2f}")
    ax.axhline(
        ref.frequency_guess,
        color="C3",
        ls=":",
        lw=1,
        label=f"training-frequency guess {ref.frequency_guess:.2f}",
    )


def plot_accuracy_by_cage(report: Report, path: Path) -> None:
    """Each model's accuracy per held-out cage (dots), its accuracy over all animals with the
    cage-level 95% interval (bar), with chance and the training-frequency guess of these folds,
    as a PNG."""
    models = [("CNN", report.cnn)] + [(k, b.summary) for k, b in report.baselines.items()]
    fig = Figure(figsize=(1.6 * len(models) + 2.5, 3.6), layout="constrained")
    ax = fig.subplots()
    rng = np.random.default_rng(0)
    for x, (_, s) in enumerate(models):
        values = np.array(list(s.accuracy.per_cage.values()))
        ax.plot(x + rng.uniform(-0.12, 0.12, len(values)), values, "o", color="0.6", ms=4)
        i, value = s.accuracy.interval, s.accuracy.value  # the interval is of this value
        ax.errorbar(
            x + 0.25,
            value,
            yerr=[[max(value - i.low, 0.0)], [max(i.high - value, 0.0)]],
            fmt="s",
            color="C0",
            capsize=4,
        )
    _references(ax, report)
    ax.set_xticks(range(len(models)), [m for m, _ in models])
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel("accuracy in the held-out cage")
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title("Per cage (grey); over all animals with its 95% cage-level interval (blue)",
                 fontsize=9)
    _save(fig, path)


def plot_learning_curves(report: Report, path: Path) -> None:
    """Per-fold training loss and held-out accuracy per epoch, as a PNG.

    The held-out curves are shown for inspection; the title says they chose nothing.
    """
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    ax_loss, ax_acc = fig.subplots(1, 2)
    for key, ax, label in (
        ("train_loss", ax_loss, "training loss"),
        ("test_accuracy", ax_acc, "held-out accuracy (recorded only)"),
    ):
        curves = [f.learning_curves[key] for f in report.folds if f.learning_curves.get(key)]
        for curve in curves:
            ax.plot(np.arange(1, len(curve) + 1), curve, color="0.7", lw=0.8)
        if curves:
            mean = np.mean(np.array(curves), axis=0)
            ax.plot(np.arange(1, len(mean) + 1), mean, color="C0", lw=2, label="mean of folds")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
    _references(ax_acc, report)
    ax_loss.legend(loc="best", fontsize=8)
    ax_acc.legend(loc="best", fontsize=8)
    ax_acc.set_ylim(-0.02, 1.02)
    fig.suptitle(
        f"Learning curves, one grey line per fold; {report.config['epochs']} epochs fixed in "
        "advance, never chosen from the held-out curves",
        fontsize=10,
    )
    _save(fig, path)
