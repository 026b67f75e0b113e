"""A training run from start to finish: LOCO CV, baselines, statistics, final model, run folder.

``RUN_DIR`` holds ``report.json`` (everything, machine-readable), ``report.md`` (the summary a
person reads), ``predictions.csv`` (out-of-fold class probabilities per animal),
``confusion_matrix.png``, ``learning_curves.png``, ``model.pt`` (the final all-data model) and
``folds/<cage>.pt`` (the model that never saw that cage, for out-of-fold explanations).
Every file is written atomically.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from . import __version__
from ._io import atomic_path, write_text_atomic
from .baselines import BaselineResult, run_baselines
from .checkpoint import Checkpoint, load_checkpoint, make_checkpoint, save_checkpoint
from .dataset import Dataset
from .stats import mcnemar_exact, permutation_test, summarize
from .training import CVResult, Progress, TrainConfig, loco_cv, train_final

REPORT_FORMAT = "napari-mousestop-run/1"


def fold_file_name(cage: str) -> str:
    """File name of a cage's fold model inside ``RUN_DIR/folds``."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", str(cage)) + ".pt"


def build_report(
    dataset: Dataset,
    cv: CVResult,
    baselines: dict[str, BaselineResult],
    n_permutations: int = 10000,
    dataset_path: str | os.PathLike | None = None,
) -> dict:
    """All figures of a run as one JSON-friendly dict (see ``docs/training.md``)."""
    classes = tuple(dataset.classes)
    y, pred = dataset.labels, cv.oof_pred
    summary = summarize(y, pred, classes)
    perm = permutation_test(
        y, pred, dataset.cages, dataset.recordings, classes, n_permutations, cv.config.seed
    )
    base = {}
    for name, res in baselines.items():
        s = summarize(y, res.oof_pred, classes)
        base[name] = {
            "description": res.description,
            "accuracy": s["accuracy"],
            "balanced_accuracy": s["balanced_accuracy"],
            "ci95": s["ci95"],
            "confusion_matrix": s["confusion_matrix"],
            "per_sex_accuracy": s["per_sex_accuracy"],
            "per_age_accuracy": s["per_age_accuracy"],
            "explained_variance": res.explained_variance,
        }
    mcnemar = None
    if baselines:
        best = max(baselines, key=lambda k: baselines[k].accuracy)
        test = mcnemar_exact(y, pred, baselines[best].oof_pred)
        mcnemar = {
            "against": best,
            "cnn_only_correct": test["a_only"],
            "baseline_only_correct": test["b_only"],
            "p_value": test["p_value"],
        }
    folds = []
    for f in cv.folds:
        folds.append(
            {
                "cage": f.cage,
                "n_train": int(len(f.train_index)),
                "n_test": int(len(f.test_index)),
                "accuracy": float(np.mean(pred[f.test_index] == y[f.test_index])),
                "model": f"folds/{fold_file_name(f.cage)}",
                "learning_curves": f.history,
            }
        )
    predictions = []
    for i in range(len(dataset)):
        predictions.append(
            {
                "animal": str(dataset.animals[i]),
                "cage": str(dataset.cages[i]),
                "recording": str(dataset.recordings[i]),
                "true": classes[y[i]],
                "predicted": classes[pred[i]],
                "proba": {c: float(cv.oof_proba[i, j]) for j, c in enumerate(classes)},
                **{name: classes[r.oof_pred[i]] for name, r in baselines.items()},
            }
        )
    x_shape = dataset.X.shape
    return {
        "format": REPORT_FORMAT,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": {"napari_mousestop": __version__},
        "classes": list(classes),
        **summary,
        "permutation_p": perm.p_value,
        "permutation": perm.to_dict(),
        "baselines": base,
        "mcnemar": mcnemar,
        "config": {
            **cv.config.to_dict(),
            "dataset": str(dataset_path) if dataset_path is not None else None,
            "n_permutations": int(n_permutations),
            "model": cv.model_config.to_dict(),
            "device_used": cv.device,
        },
        "dataset": {
            "path": str(dataset_path) if dataset_path is not None else None,
            "n_samples": int(x_shape[0]),
            "n_intervals": int(x_shape[1]),
            "n_bins": int(x_shape[2]),
            "n_cages": int(len(np.unique(dataset.cages))),
            "params": dataset.params,
            "sources": dataset.sources,
        },
        "cv_seconds": cv.seconds,
        "folds": folds,
        "predictions": predictions,
    }


def _markdown(report: dict) -> str:
    classes = report["classes"]
    lo, hi = report["ci95"]
    ds = report["dataset"]
    lines = [
        "# Leave-one-cage-out results",
        "",
        f"Dataset: `{ds['path']}` ({ds['n_samples']} animal-recordings, {ds['n_cages']} cages, "
        f"T={ds['n_intervals']}, N={ds['n_bins']}). Created {report['created']}.",
        "",
        "| model | accuracy | 95% CI (Wilson) | balanced accuracy |",
        "|---|---|---|---|",
        f"| CNN | {report['accuracy']:.3f} | {lo:.3f}-{hi:.3f} "
        f"| {report['balanced_accuracy']:.3f} |",
    ]
    for name, b in report["baselines"].items():
        lines.append(
            f"| {name} | {b['accuracy']:.3f} | {b['ci95'][0]:.3f}-{b['ci95'][1]:.3f} "
            f"| {b['balanced_accuracy']:.3f} |"
        )
    perm = report["permutation"]
    lines += [
        "",
        f"Chance: {report['chance']:.3f}. Permutation test of the CNN's accuracy "
        f"({perm['n_permutations']} permutations, {perm['scheme']}): p = {perm['p_value']:.4g} "
        f"(null mean {perm['null_mean']:.3f}, 95th percentile {perm['null_q95']:.3f}).",
    ]
    if report["mcnemar"]:
        m = report["mcnemar"]
        lines.append(
            f"Exact McNemar test CNN vs {m['against']}: CNN alone right {m['cnn_only_correct']}, "
            f"baseline alone right {m['baseline_only_correct']}, p = {m['p_value']:.4g}."
        )
    if report["per_sex_accuracy"]:
        sex = ", ".join(f"{k}: {v:.3f}" for k, v in report["per_sex_accuracy"].items())
        age = ", ".join(f"{k}: {v:.3f}" for k, v in report["per_age_accuracy"].items())
        lines += [
            "",
            f"4-class accuracy by true sex ({sex}) and by true age ({age}); the predicted sex "
            f"is right for {report['sex_accuracy']:.3f}, the predicted age for "
            f"{report['age_accuracy']:.3f} of the animals.",
        ]
    lines += ["", "## Confusion matrix (rows: true, columns: predicted)", ""]
    lines.append("| | " + " | ".join(classes) + " |")
    lines.append("|---" * (len(classes) + 1) + "|")
    for c, row in zip(classes, report["confusion_matrix"], strict=True):
        lines.append(f"| **{c}** | " + " | ".join(str(v) for v in row) + " |")
    lines += ["", "## Folds", "", "| held-out cage | test animals | accuracy |", "|---|---|---|"]
    for f in report["folds"]:
        lines.append(f"| {f['cage']} | {f['n_test']} | {f['accuracy']:.3f} |")
    cfg = report["config"]
    lines += [
        "",
        "## Settings",
        "",
        f"SGD lr {cfg['lr']}, momentum {cfg['momentum']}, weight decay {cfg['weight_decay']}, "
        f"batch {cfg['batch_size']}, {cfg['epochs']} epochs, seed {cfg['seed']}, "
        f"input scaling {cfg['scaling']}, device {cfg['device_used']}; "
        f"CV took {report['cv_seconds']:.1f} s.",
        "",
    ]
    return "\n".join(lines)


def _save_figure(fig, path: Path) -> None:
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight")


def plot_confusion(report: dict, path: Path) -> None:
    """Confusion matrices of the CNN and each baseline, side by side, as a PNG."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    panels = [("CNN", report["confusion_matrix"], report["accuracy"])]
    panels += [(k, b["confusion_matrix"], b["accuracy"]) for k, b in report["baselines"].items()]
    classes = report["classes"]
    fig, axes = plt.subplots(
        1, len(panels), figsize=(3.8 * len(panels), 3.4), squeeze=False, layout="constrained"
    )
    for ax, (name, cm, acc) in zip(axes[0], panels, strict=True):
        cm = np.asarray(cm)
        ax.imshow(cm, cmap="Blues", vmin=0)
        for i in range(cm.shape[0]):
            for j in range(cm.shape[1]):
                colour = "white" if cm[i, j] > cm.max() / 2 else "black"
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", color=colour)
        ax.set_xticks(range(len(classes)), classes)
        ax.set_yticks(range(len(classes)), classes)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true" if ax is axes[0][0] else "")
        ax.set_title(f"{name} (accuracy {acc:.2f})")
    _save_figure(fig, path)
    plt.close(fig)


def plot_learning_curves(report: dict, path: Path) -> None:
    """Per-fold training loss and held-out accuracy per epoch, as a PNG."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.6))
    for key, ax, label in (
        ("train_loss", ax_loss, "training loss"),
        ("test_accuracy", ax_acc, "held-out cage accuracy"),
    ):
        curves = [f["learning_curves"][key] for f in report["folds"] if f["learning_curves"][key]]
        for curve in curves:
            ax.plot(np.arange(1, len(curve) + 1), curve, color="0.7", lw=0.8)
        if curves:
            mean = np.mean(np.array(curves), axis=0)
            ax.plot(np.arange(1, len(mean) + 1), mean, color="C0", lw=2, label="mean of folds")
            ax.legend(loc="best")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
    ax_acc.axhline(report["chance"], color="C3", ls="--", lw=1)
    ax_acc.set_ylim(-0.02, 1.02)
    fig.suptitle("Learning curves, one grey line per held-out cage")
    _save_figure(fig, path)
    plt.close(fig)


def write_run(
    run_dir: str | os.PathLike,
    report: dict,
    dataset: Dataset,
    cv: CVResult,
    final: Checkpoint | None = None,
) -> Path:
    """Write the run folder (report files, figures, fold models and the final model)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    for fold in cv.folds:
        meta = {
            "held_out_cage": fold.cage,
            "test_index": fold.test_index.tolist(),
            "test_animals": dataset.animals[fold.test_index].tolist(),
            "history": fold.history,
        }
        ckpt = make_checkpoint(fold.model, fold.scaler, dataset, cv.config, meta=meta)
        save_checkpoint(run_dir / "folds" / fold_file_name(fold.cage), ckpt)
    if final is not None:
        save_checkpoint(run_dir / "model.pt", final)
    rows = []
    for p in report["predictions"]:
        row = {k: v for k, v in p.items() if k != "proba"}
        row.update({f"p_{c}": v for c, v in p["proba"].items()})
        rows.append(row)
    with atomic_path(run_dir / "predictions.csv") as tmp:
        pd.DataFrame(rows).to_csv(tmp, index=False)
    plot_confusion(report, run_dir / "confusion_matrix.png")
    plot_learning_curves(report, run_dir / "learning_curves.png")
    write_text_atomic(run_dir / "report.md", _markdown(report))
    write_text_atomic(run_dir / "report.json", json.dumps(report, indent=1))
    return run_dir


def train_and_report(
    dataset: Dataset,
    run_dir: str | os.PathLike,
    config: TrainConfig | None = None,
    n_permutations: int = 10000,
    dataset_path: str | os.PathLike | None = None,
    final_model: bool = True,
    callback: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> dict:
    """LOCO CV of the CNN and the baselines, statistics, the final model, and the run folder.

    Parameters
    ----------
    dataset
        The stacks and labels.
    run_dir
        Output folder (created; files in it are replaced).
    config
        Training settings; defaults when None.
    n_permutations
        Permutations of the cage-level test of accuracy.
    dataset_path
        Recorded in the report.
    final_model
        Also train ``model.pt`` on all data.
    callback, should_stop
        Progress and cancellation, as in :func:`~napari_mousestop.training.loco_cv`.

    Returns
    -------
    dict
        The report (also written to ``run_dir/report.json``).
    """
    config = config or TrainConfig()
    cv = loco_cv(dataset, config, callback=callback, should_stop=should_stop)
    baselines = run_baselines(dataset, seed=config.seed)
    report = build_report(dataset, cv, baselines, n_permutations, dataset_path)
    final = None
    if final_model:
        final = train_final(dataset, config, callback=callback, should_stop=should_stop)
    write_run(run_dir, report, dataset, cv, final)
    return report


@dataclass
class SavedFold:
    """A fold model read back from ``RUN_DIR/folds``: the model that never saw ``cage``."""

    cage: str
    test_index: np.ndarray
    checkpoint: Checkpoint

    @property
    def model(self):
        """The fold's :class:`~napari_mousestop.model.StopCNN`."""
        return self.checkpoint.model

    @property
    def scaler(self):
        """The fold's input scaler (fitted on the other cages)."""
        return self.checkpoint.scaler


@dataclass
class Run:
    """A run folder read back: the report, the final model (if any) and the fold models."""

    path: Path
    report: dict
    model: Checkpoint | None
    folds: list[SavedFold]


def load_run(run_dir: str | os.PathLike) -> Run:
    """Read a run folder written by :func:`write_run`.

    ``folds[i].test_index`` indexes the dataset recorded in ``report["config"]["dataset"]``.
    """
    run_dir = Path(run_dir)
    path = run_dir / "report.json"
    if not path.is_file():
        raise ValueError(f"{run_dir}: not a training run folder (no report.json)")
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: damaged report ({exc})") from None
    folds = []
    for f in report.get("folds", []):
        ckpt = load_checkpoint(run_dir / f["model"])
        folds.append(SavedFold(f["cage"], np.asarray(ckpt.meta["test_index"]), ckpt))
    final = run_dir / "model.pt"
    return Run(run_dir, report, load_checkpoint(final) if final.is_file() else None, folds)
