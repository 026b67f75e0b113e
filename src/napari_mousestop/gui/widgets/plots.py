"""A small matplotlib canvas for dock widgets (in the style of napari-matplotlib).

The figure is a plain :class:`matplotlib.figure.Figure` drawn by ``FigureCanvasQTAgg``: no
pyplot, so the global backend is never touched. Colours follow napari's dark theme.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from qtpy.QtWidgets import QSizePolicy

from napari_mousestop.plots.report import draw_confusion

FOREGROUND = "#d0d4da"
BACKGROUND = "#262930"


class PlotCanvas(FigureCanvasQTAgg):
    """A matplotlib figure as a Qt widget, styled for napari's dark theme.

    Parameters
    ----------
    width, height
        Figure size in inches (the widget resizes with its dock).
    """

    def __init__(self, width: float = 4.0, height: float = 2.6) -> None:
        self.figure = Figure(figsize=(width, height), dpi=90, facecolor=BACKGROUND)
        super().__init__(self.figure)
        self.setMinimumHeight(int(height * 60))
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def clear(self) -> None:
        """Remove every axes."""
        self.figure.clear()

    def styled_axes(self, *args, **kwargs):
        """``figure.add_subplot`` with dark-theme colours."""
        ax = self.figure.add_subplot(*args, **kwargs)
        ax.set_facecolor(BACKGROUND)
        for spine in ax.spines.values():
            spine.set_color(FOREGROUND)
        ax.tick_params(colors=FOREGROUND, labelsize=8)
        ax.xaxis.label.set_color(FOREGROUND)
        ax.yaxis.label.set_color(FOREGROUND)
        ax.title.set_color(FOREGROUND)
        return ax


class HistoryPlot:
    """Live learning curves: training loss (left) and held-out accuracy (right) per epoch.

    One line per fold; the fold training now is drawn in colour, earlier ones in grey. Lines
    are updated in place (``set_data``), so a redraw per epoch stays cheap. The held-out
    accuracy is shown, never used: epochs and every other setting are fixed in advance.
    ``chance`` (dashed) and ``frequency_guess`` (dotted: what a model that learned only the
    training folds' class frequencies would score out of fold) are reference lines.
    """

    def __init__(
        self,
        canvas: PlotCanvas,
        chance: float | None = None,
        frequency_guess: float | None = None,
    ) -> None:
        self.canvas = canvas
        canvas.clear()
        self.ax_loss = canvas.styled_axes(1, 2, 1)
        self.ax_acc = canvas.styled_axes(1, 2, 2)
        self.ax_loss.set_xlabel("epoch")
        self.ax_loss.set_title("training loss", fontsize=9)
        self.ax_acc.set_xlabel("epoch")
        self.ax_acc.set_title("held-out acc. (shown only)", fontsize=9)
        self.ax_acc.set_ylim(-0.02, 1.02)
        if chance is not None:
            self.ax_acc.axhline(chance, color="C3", ls="--", lw=0.8)
        if frequency_guess is not None:
            self.ax_acc.axhline(frequency_guess, color="C3", ls=":", lw=0.8)
        self.lines: list[tuple] = []
        canvas.figure.tight_layout()

    def update(self, folds: Sequence[dict]) -> None:
        """Redraw from ``folds``: dicts with ``train_loss`` and ``test_accuracy`` lists."""
        while len(self.lines) < len(folds):
            for old in self.lines:
                for line in old:
                    line.set_color("0.55")
                    line.set_linewidth(0.8)
            self.lines.append(
                (self.ax_loss.plot([], [], color="C1", lw=1.6)[0],
                 self.ax_acc.plot([], [], color="C1", lw=1.6)[0])
            )  # fmt: skip
        for (loss_line, acc_line), fold in zip(self.lines, folds, strict=False):
            loss = fold.get("train_loss", [])
            acc = fold.get("test_accuracy") or fold.get("train_accuracy", [])
            loss_line.set_data(np.arange(1, len(loss) + 1), loss)
            acc_line.set_data(np.arange(1, len(acc) + 1), acc)
        self.ax_loss.relim()
        self.ax_loss.autoscale_view()
        self.ax_acc.relim()
        self.ax_acc.autoscale_view(scaley=False)
        self.canvas.draw_idle()


def plot_confusion(
    canvas: PlotCanvas, matrix: np.ndarray, classes: Sequence[str], title: str = ""
) -> None:
    """A confusion matrix (rows: true class, columns: predicted) with counts written in."""
    canvas.clear()
    ax = canvas.styled_axes(1, 1, 1)
    draw_confusion(ax, matrix, classes)
    if title:
        ax.set_title(title, fontsize=9)
    canvas.figure.tight_layout()
    canvas.draw_idle()


def plot_probabilities(
    canvas: PlotCanvas, proba: np.ndarray, classes: Sequence[str], names: Sequence[str]
) -> None:
    """Grouped bars: each animal's class probabilities."""
    canvas.clear()
    ax = canvas.styled_axes(1, 1, 1)
    proba = np.atleast_2d(np.asarray(proba, dtype=float))
    n, c = proba.shape
    width = 0.8 / max(c, 1)
    x = np.arange(n)
    for k in range(c):
        ax.bar(x + (k - (c - 1) / 2) * width, proba[:, k], width, label=classes[k])
    ax.set_xticks(x, [str(s) for s in names], rotation=30, ha="right", fontsize=7)
    ax.set_ylim(0, 1)
    ax.set_ylabel("probability")
    legend = ax.legend(ncols=c, fontsize=7, loc="upper right", frameon=False)
    for text in legend.get_texts():
        text.set_color(FOREGROUND)
    canvas.figure.tight_layout()
    canvas.draw_idle()
