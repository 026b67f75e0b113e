"""Training dock widget: cross-validation by cages with a live plot, results and the run folder."""

from __future__ import annotations

import html
import os
import time
from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Container, FileEdit, LineEdit, SpinBox
from qtpy.QtWidgets import (
    QFrame,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from napari_mousestop.gui.jobs import JobWidget, notify_error
from napari_mousestop.gui.widgets.common import (
    clear_path,
    dataset_from_layers,
    path_of,
    stack_layers,
)
from napari_mousestop.gui.widgets.forms import dataclass_form, form_values
from napari_mousestop.gui.widgets.plots import HistoryPlot, PlotCanvas, plot_confusion
from napari_mousestop.learning.config import (
    FOLD_SCHEMES,
    N_PERMUTATIONS,
    EpochProgress,
    TrainConfig,
)
from napari_mousestop.progress import Progress

if TYPE_CHECKING:
    from napari_mousestop.learning.report import TrainingRun

SOURCES = ("dataset file", "animals in the viewer")
COLUMNS = {
    "accuracy": "out-of-fold accuracy over all animal-recordings",
    "95% (cages)": "95% cage-level interval of the accuracy (hover a cell: what it assumes)",
    "animal-level": "Wilson interval treating animals as independent: optimistic, reference only",
    "balanced": "balanced accuracy (mean recall over classes)",
    "- CNN (p)": "this model's accuracy minus the CNN's, and the sign-flip p over cages",
}


class TrainWidget(JobWidget):
    """Train the CNN with cross-validation by cages, baselines and statistics, off the main thread.

    The folds (of every seed, and of the full-pipeline permutation test) train in worker
    processes when *workers* > 0 (0: one after the other in napari's process) or on a running
    Dask cluster (*scheduler*); one bar counts every epoch of every model, the status line
    names the models finished and those training, and Cancel stops every worker.

    Results stay on the widget after a run: :attr:`report` (the run's
    :class:`~napari_mousestop.learning.report.Report`), :attr:`cv`
    (fold models and out-of-fold probabilities of the first seed), :attr:`runs` (every seed),
    :attr:`final` (the all-data checkpoint) and :attr:`dataset`, so the comparison widget can
    use them without a file.
    """

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__(napari_viewer)
        self.report: Any = None
        self.cv: Any = None
        self.runs: list = []
        self.final: Any = None
        self.dataset: Any = None
        self._folds: list[dict] = []
        self._curves: dict[tuple, dict] = {}
        self._epochs: dict[tuple, int] = {}
        self._last_draw = 0.0
        self.source = ComboBox(
            label="data",
            choices=SOURCES,
            value=SOURCES[0],
            tooltip="a dataset file (.npz) or the labelled animals open in the viewer",
        )
        self.dataset_file = FileEdit(label="dataset", filter="*.npz", tooltip="dataset file")
        self.params = dataclass_form(
            TrainConfig,
            choices={
                "scaling": ("log1p", "none"),
                "device": ("auto", "cpu", "cuda"),
                "folds": FOLD_SCHEMES,
            },
            skip=("track_test",),
        )
        self.n_permutations = SpinBox(
            label="permutations",
            value=N_PERMUTATIONS,
            min=0,
            max=100_000,
            tooltip="permutations of each cage-level test of accuracy (CNN, sex, age)",
        )
        self.repeats = SpinBox(
            label="seeds (repeats)",
            value=1,
            min=1,
            max=100,
            tooltip="cross-validate with this many seeds (seed, seed + 1, ...): the results "
            "show the spread of accuracy and the ensemble's accuracy",
        )
        self.retrain_permutations = SpinBox(
            label="retrained permutations",
            value=0,
            min=0,
            max=100_000,
            tooltip="full-pipeline permutation test: retrain the whole cross-validation on this "
            "many relabelled cohorts (0: off). Kept in the run folder and resumed",
        )
        self.workers = SpinBox(
            label="workers",
            value=os.cpu_count() or 1,
            min=0,
            max=1024,
            tooltip="processes training folds at the same time (0: one after the other in "
            "napari's process)",
        )
        self.scheduler = LineEdit(
            label="scheduler",
            value="",
            tooltip="address of a running dask scheduler (tcp://host:8786) to train the folds "
            "on its workers; empty: local worker processes",
        )
        self.final_model = CheckBox(
            label="final model on all data",
            value=True,
            tooltip="also train the model saved as model.pt (used by "
            "the inference and comparison widgets)",
        )
        self.run_dir = FileEdit(
            label="run folder",
            mode="d",
            tooltip="where report.json, report.md, figures, model.pt and "
            "the fold models are written (empty: not saved)",
        )
        self.form = Container(
            widgets=[
                self.source,
                self.dataset_file,
                self.params,
                self.n_permutations,
                self.repeats,
                self.retrain_permutations,
                self.workers,
                self.scheduler,
                self.final_model,
                self.run_dir,
            ]
        )
        clear_path(self.run_dir)
        clear_path(self.dataset_file)
        self.live = PlotCanvas(4.0, 2.4)
        self.confusion = PlotCanvas(3.0, 2.4)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        for c, tip in enumerate(COLUMNS.values()):
            self.table.horizontalHeaderItem(c).setToolTip(tip)
        self.table.setMinimumHeight(100)
        self.summary = QTextBrowser()
        self.summary.setMinimumHeight(100)
        results = QWidget()
        inner = QVBoxLayout(results)
        inner.setContentsMargins(0, 0, 0, 0)
        inner.addWidget(self.confusion)
        inner.addWidget(self.table)
        inner.addWidget(self.summary)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.live, "learning curves")
        self.tabs.addTab(results, "results")
        # the long form scrolls, so the dock fits a 1080-pixel screen with its results
        scroll = QScrollArea()
        scroll.setWidget(self.form.native)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setMinimumHeight(180)
        lay = self.layout()
        lay.addWidget(scroll, 1)
        lay.addWidget(self._buttons)
        lay.addWidget(self.status)
        lay.addWidget(self.tabs)
        self.run_button.setText("Train (LOCO CV)")
        self.run_button.clicked.connect(self.run)

    # -- inputs ---------------------------------------------------------------------------------
    def config(self) -> TrainConfig:
        """The training settings of the form."""
        return TrainConfig(**form_values(self.params), track_test=True)

    def job(self) -> Any:
        """The training job of the form (:class:`~napari_mousestop.gui.tasks.TrainJob`): it
        loads the dataset file in its own process; the viewer's animals are assembled here."""
        from napari_mousestop.gui.tasks import TrainJob

        path = dataset = None
        if self.source.value == "dataset file":
            path = path_of(self.dataset_file)
            if path is None:
                raise ValueError("choose a dataset file (.npz), or use the animals in the viewer")
        else:
            dataset = dataset_from_layers(stack_layers(self.viewer))
        how = {
            "repeats": int(self.repeats.value),
            "retrain_permutations": int(self.retrain_permutations.value),
            "workers": int(self.workers.value),
            "scheduler": str(self.scheduler.value).strip() or None,
        }
        return TrainJob(
            self.config(),
            int(self.n_permutations.value),
            path,
            dataset,
            bool(self.final_model.value),
            path_of(self.run_dir),
            how,
        )

    # -- running --------------------------------------------------------------------------------
    def run(self) -> Any:
        """Start training (returns the worker, or None when the inputs are not usable)."""
        try:
            job = self.job()
        except (ValueError, OSError) as exc:
            self.status.setText(str(exc))
            notify_error(exc)
            return None
        self._folds, self._curves, self._epochs, self.dataset = [], {}, {}, None
        self._history = None
        self.report = self.cv = self.final = None
        self.runs = []
        return self.start_job(job, self._on_item, self._on_done, 0, "training")

    def _on_item(self, item: Any) -> None:
        """The job's plan: the chance lines of the live plot and the bar's length."""
        if item[0] == "plan":
            plan = item[1]
            self._history = HistoryPlot(
                self.live, chance=1.0 / plan["n_classes"], frequency_guess=plan["guess"]
            )
            self.set_progress(0, plan["total"], "training")

    def on_progress(self, item: Progress) -> None:
        """Epochs move the progress bar and the live curves; later stages say what runs."""
        if not isinstance(item, EpochProgress):
            self.status.setText(item.message + "...")
            return
        key = item.model_key
        self._epochs[key] = item.epoch
        if item.stage != "permutation" and item.repeat == 1:  # curves of the first seed
            if key not in self._curves:
                self._curves[key] = {
                    "key": key,
                    "cage": item.cage,
                    "train_loss": [],
                    "test_accuracy": [],
                    "train_accuracy": [],
                }
                self._folds.append(self._curves[key])
            fold = self._curves[key]
            fold["train_loss"].append(item.loss)
            fold["train_accuracy"].append(item.accuracy)
            if item.test_accuracy is not None:
                fold["test_accuracy"].append(item.test_accuracy)
        self.set_progress(item.done, item.total, self._progress_text(item))
        now = time.monotonic()
        if self._history is not None and (
            now - self._last_draw > 1.0 or item.epoch == item.n_epochs
        ):
            self._last_draw = now
            self._history.update(self._folds)

    def _progress_text(self, item: EpochProgress) -> str:
        """Models finished of the run, and those training now (several with workers)."""
        n_epochs = item.n_epochs
        running = [k for k, e in self._epochs.items() if e < n_epochs]
        names = ", ".join(f"{_model_label(k)} {self._epochs[k]}/{n_epochs}" for k in running[:3])
        more = f" and {len(running) - 3} more" if len(running) > 3 else ""
        now = f"; training {names}{more}" if running else ""
        return f"{item.models_done}/{item.n_models} models done{now}; loss {item.loss:.3f}"

    def _on_done(self, value: tuple[TrainingRun, Any] | None) -> None:
        if value is None:
            return
        result, self.dataset = value
        self.report, self.cv, self.final = result.report, result.cv, result.final
        self.runs = result.runs
        if self._history is not None:
            self._history.update(self._folds)
        self.show_report(self.report)
        self.tabs.setCurrentIndex(1)
        where = f"; saved to {result.run_dir}" if result.run_dir else ""
        self.status.setText(f"done: accuracy {self.report.accuracy:.2f}{where}")

    def _show_spread(self, row: int, rep: Any) -> None:
        """The last table row: accuracy over the seeds, mean and SD, and its range."""
        acc = rep.accuracy
        per_class = "; ".join(f"{c} {v.mean:.2f} (SD {v.sd:.2f})" for c, v in rep.per_class.items())
        cells = (f"{acc.mean:.3f} ± {acc.sd:.3f}", f"{acc.min:.2f} - {acc.max:.2f} (range)")
        for c, text in enumerate(cells):
            item = QTableWidgetItem(text)
            item.setToolTip(
                f"accuracy of each seed: {', '.join(f'{v:.3f}' for v in acc.values)}; per "
                f"class: {per_class}. {rep.note}"
            )
            self.table.setItem(row, c, item)

    def show_report(self, report: Any) -> None:
        """Confusion matrix, CNN vs baselines table, and every interval and test of a
        :class:`~napari_mousestop.learning.report.Report`, each with what it assumes."""
        from napari_mousestop.learning.report_text import statements

        cnn = report.cnn
        plot_confusion(
            self.confusion,
            np.asarray(cnn.confusion_matrix),
            report.classes,
            title=f"CNN, out of fold (accuracy {cnn.accuracy.value:.2f})",
        )
        rows = [("CNN", cnn)] + [(k, b.summary) for k, b in report.baselines.items()]
        rep = report.repeats
        if rep is not None:
            rows.insert(1, (f"CNN ensemble ({len(rep.seeds)} seeds)", rep.ensemble))
        self.table.setRowCount(len(rows) + (rep is not None))
        self.table.setVerticalHeaderLabels(
            [name for name, _ in rows] + ([f"CNN, {len(rep.seeds)} seeds"] if rep else [])
        )
        if rep is not None:
            self._show_spread(len(rows), rep)
        for r, (name, s) in enumerate(rows):
            ci, wil = s.accuracy.interval, s.animal_interval
            comp = report.comparisons.get(name)
            vs = "" if comp is None else f"{-comp.difference:+.3f} ({comp.test.p_value:.3g})"
            texts = (
                f"{s.accuracy.value:.3f}",
                f"{ci.low:.2f} - {ci.high:.2f}",
                f"{wil.low:.2f} - {wil.high:.2f}",
                f"{s.balanced_accuracy:.3f}",
                vs,
            )
            for c, text in enumerate(texts):
                item = QTableWidgetItem(text)
                if c in (1, 2):
                    item.setToolTip((ci if c == 1 else wil).assumes)
                self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()
        self.summary.setHtml(
            "".join(
                f"<p><b>{html.escape(st.topic)}.</b> {html.escape(st.what)}<br>"
                f"<i>Assumes:</i> {html.escape(st.assumes)}</p>"
                for st in statements(report)
            )
        )


def _model_label(key: tuple) -> str:
    """A model of :attr:`~napari_mousestop.learning.config.EpochProgress.model_key` in a few
    words."""
    stage, repeat, permutation, fold = key
    if stage == "final":
        return "final model"
    if stage == "permutation":
        return f"permutation {permutation} fold {fold}"
    return f"fold {fold}" + (f" (seed {repeat})" if repeat > 1 else "")
