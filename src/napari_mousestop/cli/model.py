"""``mousestop train``, ``predict`` and ``explain``: the model half of the command line.

Registered on the ``app`` by :mod:`napari_mousestop.cli.app`.
"""

from __future__ import annotations

import typer

from napari_mousestop.cli.common import (
    BRIDGE_GAP,
    CALIBRATION,
    CONFIDENCE,
    FPS,
    KEYPOINTS,
    SOURCE_SOFTWARE,
    START_TIME,
    VERIFY,
    ProgressBar,
    friendly_errors,
    tracker_params,
)
from napari_mousestop.explain.params import EXPLAIN
from napari_mousestop.learning.config import N_PERMUTATIONS, EpochProgress, TrainConfig
from napari_mousestop.progress import Progress

TRAIN = TrainConfig()

# --- training and prediction (learning: training, report, predict) --------------------------


class _TrainBar(ProgressBar):
    """One tqdm bar over every epoch of every model of the run (folds may train at the same
    time in worker processes); its postfix counts the models finished and names the model that
    reported last."""

    def __init__(self, disable: bool = False) -> None:
        super().__init__("training", "epoch", disable=disable)

    def __call__(self, p: Progress) -> None:
        if not isinstance(p, EpochProgress):
            return  # stage messages (workers, baselines, writing): the bar stays as it is
        super().__call__(p)
        self.bar.set_postfix_str(
            f"{p.models_done}/{p.n_models} models done; {p.message}, loss {p.loss:.3f}"
        )


def _p(result) -> str:
    """``p = ...`` of a permutation result, or why the design allows no test."""
    return f"p = {result.p_value:.4g}" if result.valid else f"no test ({result.reason})"


@friendly_errors
def train(
    dataset_path: str = typer.Argument(..., metavar="DATASET", help="Dataset file (.npz)."),
    out: str = typer.Option(..., "-o", "--out", help="Run folder to write (report, models)."),
    epochs: int = typer.Option(TRAIN.epochs, help="Epochs per model."),
    lr: float = typer.Option(TRAIN.lr, help="SGD learning rate."),
    batch_size: int = typer.Option(TRAIN.batch_size, help="Samples per SGD step."),
    momentum: float = typer.Option(TRAIN.momentum, help="SGD momentum."),
    weight_decay: float = typer.Option(TRAIN.weight_decay, help="SGD weight decay (L2)."),
    seed: int = typer.Option(TRAIN.seed, help="Seed of weights, batch order and permutations."),
    permutations: int = typer.Option(N_PERMUTATIONS, help="Permutations of each cage-level test."),
    folds: str = typer.Option(
        TRAIN.folds,
        help="cage: leave one cage out; balanced: hold out cages covering the classes evenly "
        "(e.g. one male and one female cage) together.",
    ),
    scaling: str = typer.Option(TRAIN.scaling, help="Input scaling: log1p or none."),
    device: str = typer.Option(
        TRAIN.device, help="auto (CUDA if present, shared by the workers), cpu or cuda."
    ),
    workers: int = typer.Option(
        None,
        help="Worker processes training folds at the same time (default: one per core, at "
        "most one per model; 0: one after the other in this process).",
    ),
    scheduler: str = typer.Option(
        None, help="Address of a running dask scheduler: train the folds on its workers."
    ),
    threads: int = typer.Option(
        None,
        min=1,
        help="CPU threads of torch in this process (default: torch's choice); worker "
        "processes train with one thread each.",
    ),
    repeats: int = typer.Option(
        1, help="Cross-validate with this many seeds (--seed, --seed+1, ...): spread, ensemble."
    ),
    retrain_permutations: int = typer.Option(
        0,
        help="Also run the full-pipeline permutation test: retrain the cross-validation on this "
        "many relabelled cohorts (kept in OUT/permutations; a rerun resumes).",
    ),
    final: bool = typer.Option(True, "--final/--no-final", help="Train model.pt on all data."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Cross-validation by cages of the CNN and the PCA baselines, statistics, final model."""
    from napari_mousestop.cluster import local_workers
    from napari_mousestop.datasets.dataset import load_dataset
    from napari_mousestop.learning.report import train_and_report
    from napari_mousestop.learning.training import check_trainable, cv_folds

    config = TrainConfig(
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        momentum=momentum,
        weight_decay=weight_decay,
        seed=seed,
        device=device,
        scaling=scaling,
        folds=folds,
    )
    if repeats < 1 or retrain_permutations < 0 or (workers is not None and workers < 0):
        raise ValueError("--repeats must be >= 1, --retrain-permutations and --workers >= 0")
    if threads is not None:
        import torch

        torch.set_num_threads(threads)  # this command's process: set once, before any training
    ds = load_dataset(dataset_path)
    check_trainable(ds, config, cv=True)
    if workers is None and not scheduler:
        n_folds = len(cv_folds(ds.cages, ds.labels, folds))
        workers = local_workers(None, n_folds * (repeats + retrain_permutations) + int(final))
    with _TrainBar(disable=quiet) as bar:
        rep = train_and_report(
            ds,
            out,
            config,
            permutations,
            dataset_path,
            final_model=final,
            progress=bar,
            repeats=repeats,
            retrain_permutations=retrain_permutations,
            workers=workers or 0,
            scheduler=scheduler,
        )
    acc = rep.cnn.accuracy
    if rep.design:
        where = "; ".join(f"{f['name']} {f['where']}" for f in rep.design["factors"])
        typer.echo(f"design: experimental unit {rep.design['experimental_unit']}; {where}")
    typer.echo(
        f"CNN accuracy {acc.value:.3f} (95% cage-level interval {acc.interval.low:.3f}-"
        f"{acc.interval.high:.3f}), balanced {rep.cnn.balanced_accuracy:.3f}, permutation "
        f"{_p(rep.permutation)}; chance {rep.null_reference.chance:.3f}, "
        f"training-frequency guess {rep.null_reference.frequency_guess:.3f}"
    )
    if rep.retrained_permutation is not None:
        r = rep.retrained_permutation
        typer.echo(
            f"full-pipeline permutation test (retrained {r.n_permutations} times): p = "
            f"{r.p_value:.4g}, null mean {r.null_mean:.3f}; prediction-permutation "
            f"{_p(rep.permutation)}"
        )
    if rep.repeats is not None:
        a = rep.repeats.accuracy
        typer.echo(
            f"{len(rep.repeats.seeds)} seeds: accuracy mean {a.mean:.3f}, SD {a.sd:.3f}, range "
            f"{a.min:.3f}-{a.max:.3f}; ensemble {rep.repeats.ensemble.accuracy.value:.3f}"
        )
    for name, f in rep.factors.items():
        typer.echo(
            f"{name}: right for {f.accuracy.value:.3f} (95% {f.accuracy.interval.low:.3f}-"
            f"{f.accuracy.interval.high:.3f}), permutation {_p(f.permutation)}"
        )
    for name, b in rep.baselines.items():
        c = rep.comparisons[name]
        typer.echo(
            f"{name} accuracy {b.summary.accuracy.value:.3f}; CNN minus {name} "
            f"{c.difference:+.3f} (95% {c.interval.low:+.3f} to {c.interval.high:+.3f}), "
            f"sign-flip p = {c.test.p_value:.4g}"
        )
    typer.echo(
        f"wrote {out}/report.json, report.md, figures, fold models"
        + (", model.pt" if final else "")
    )


@friendly_errors
def predict(
    model: str = typer.Argument(..., help="Trained model (.pt), e.g. RUN_DIR/model.pt."),
    inputs: list[str] = typer.Argument(  # noqa: B008 (typer's idiom)
        ...,
        help="Datasets (.npz), LMT recordings (.sqlite) and, with --source-software, other "
        "trackers' files.",
    ),
    out: str = typer.Option(
        ..., "-o", "--out", help="CSV to write: class probabilities per animal."
    ),
    verify: bool = VERIFY,
    source_software: str = SOURCE_SOFTWARE,
    fps: float = FPS,
    calibration: str = CALIBRATION,
    start_time: str = START_TIME,
    timezone: str = typer.Option(
        None, help="Time zone of --start-time without an offset (default: the model's)."
    ),
    keypoints: str = KEYPOINTS,
    confidence: float = CONFIDENCE,
    bridge_gap: float = BRIDGE_GAP,
) -> None:
    """Class probabilities per animal from a trained model (recordings binned as in training).

    With --source-software, the inputs that are neither datasets nor LMT databases are read
    through movement (DeepLabCut, SLEAP...) with --calibration, --fps and --start-time.
    """

    from napari_mousestop.io.atomic import atomic_path
    from napari_mousestop.learning.predict import predict_files

    tracker = tracker_params(source_software, fps, calibration, start_time, timezone or "UTC",
                             keypoints, confidence, bridge_gap)  # fmt: skip
    if tracker is not None and timezone is None:
        from dataclasses import replace

        from napari_mousestop.learning.checkpoint import load_checkpoint
        from napari_mousestop.learning.predict import recording_inputs

        ckpt = load_checkpoint(model)
        tracker = replace(tracker, timezone=recording_inputs(ckpt)[0].timezone)
        model = ckpt
    with ProgressBar("inputs", "file", disable=len(inputs) < 2) as bar:
        table = predict_files(model, inputs, progress=bar, verify=verify, tracker=tracker)
    with atomic_path(out, suffix=".csv") as tmp:
        table.to_csv(tmp, index=False)
    known = table["true"].astype(str) != ""
    msg = f"wrote {out}: {len(table)} animals"
    if known.any():
        acc = (table.loc[known, "true"] == table.loc[known, "predicted"]).mean()
        msg += f"; accuracy {acc:.3f} on the {int(known.sum())} with known classes"
    typer.echo(msg)


# --- explanation maps (explain: maps, run) --------------------------------------------------------


@friendly_errors
def explain(
    run_dir: str = typer.Argument(..., help="Run folder written by `mousestop train`."),
    out: str = typer.Option(..., "-o", "--out", help="Folder for the maps and their PNGs."),
    dataset_path: str = typer.Option(
        None, "--dataset", help="Dataset file (default: the one named in report.json)."
    ),
    permutations: int = typer.Option(
        EXPLAIN.n_permutations,
        help="Cage-level labellings per comparison (all are listed when fewer exist).",
    ),
    alpha: float = typer.Option(
        EXPLAIN.alpha, help="Family-wise error rate of the significance marks."
    ),
    patch: int = typer.Option(EXPLAIN.patch, help="Side (bins) of the occluded square."),
    stride: int = typer.Option(EXPLAIN.stride, help="Step (bins) between occluded squares."),
    by: str = typer.Option(EXPLAIN.by, help="Average classes by 'true' or 'predicted' class."),
    correct_only: bool = typer.Option(
        EXPLAIN.correct_only, help="Average correctly classified animals only."
    ),
    seed: int = typer.Option(EXPLAIN.seed, help="Seed of the permutations."),
    statistic: str = typer.Option(
        EXPLAIN.statistic, help="Test statistic: 't' (smoothed) or 'diff'."
    ),
    primary: str = typer.Option(
        EXPLAIN.primary,
        help="Primary map, named in advance: its comparisons are one Holm family, all other "
        "maps' comparisons a second one.",
    ),
    contrast: list[str] = typer.Option(  # noqa: B008 (typer's idiom)
        None,
        "--contrast",
        help="Run only this comparison (repeat for several), e.g. 'AF - JF' or 'sex (F - M)'; "
        "default: the 4 class pairs and the sex, age and sex x age contrasts.",
    ),
    sanity: bool = typer.Option(
        False,
        help="Model randomisation check: flag map kinds whose maps barely change with "
        "randomised or permuted-label models.",
    ),
    workers: int = typer.Option(
        0, help="Worker processes that explain the run's retrained permutations (0: here)."
    ),
    scheduler: str = typer.Option(
        None, help="Address of a running dask scheduler: explain the permutations there."
    ),
    map_kind: str = typer.Option(
        None,
        "--map",
        help="Only the class maps of one family: 'activation', 'contribution' or 'gradcam' "
        "(what the Compare widget shows), written as OUT/maps.nc.",
    ),
    branch: int = typer.Option(3, help="With --map: the branch (kernel size)."),
    stage: str = typer.Option("relu", help="With --map activation: 'relu' or 'pool'."),
    pair: str = typer.Option(
        None, help="With --map: two classes to compare, e.g. 'AF,AM' (first minus second)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Out-of-fold evidence maps, final-model activations and class differences, over the cage.

    With retrained permutations in the run (train --retrain-permutations P) the comparisons'
    p-values are confirmatory (retrained null); with several seeds (--repeats K) the maps of
    every seed and their agreement are added.

    Writes one maps file (maps.nc), the figures and index.md (each figure and how to read it);
    with --map, only that family's class maps (and the difference of --pair) in maps.nc.
    """
    import warnings

    from napari_mousestop.explain.run import explain_run

    bar = ProgressBar("explaining", "step", disable=quiet, describe=True)

    # captum's DeepLift announces its temporary hooks on every call: noise to a user. A filter of
    # this command's process (the CLI owns it), set before any work starts.
    warnings.filterwarnings("ignore", message="Setting forward, backward hooks")
    if map_kind is not None:
        _explain_one_map(run_dir, out, dataset_path, map_kind, branch, stage, pair,
                         permutations, seed, bar)  # fmt: skip
        return
    try:
        res = explain_run(
            run_dir,
            out,
            dataset=dataset_path,
            patch=patch,
            stride=stride,
            n_permutations=permutations,
            alpha=alpha,
            seed=seed,
            statistic=statistic,
            by=by,
            correct_only=correct_only,
            primary=primary,
            contrasts=contrast or None,
            progress=bar,
            sanity=sanity,
            workers=workers,
            scheduler=scheduler,
        )
    finally:
        bar.close()
    typer.echo(
        f"wrote {res.file} ({len(res.maps)} arrays), {len(res.figures)} figures and {res.index}"
    )
    for name, why in res.skipped.items():
        typer.echo(f"skipped {name}: {why}")


def _explain_one_map(run_dir, out, dataset_path, kind, branch, stage, pair, permutations, seed,
                     bar) -> None:  # fmt: skip
    """``mousestop explain --map``: :func:`~napari_mousestop.explain.classmaps.class_maps`, the
    function the Compare widget runs, written as a maps file."""
    from pathlib import Path

    from napari_mousestop.explain.classmaps import class_maps, save_class_maps
    from napari_mousestop.learning.report import load_run

    names = tuple(p.strip() for p in pair.split(",")) if pair else None
    if names is not None and len(names) != 2:
        raise typer.BadParameter(f"--pair takes two classes, e.g. 'AF,AM'; got {pair!r}")
    dataset = dataset_path or load_run(run_dir).report.get("config", {}).get("dataset")
    if not dataset:
        raise typer.BadParameter(f"{run_dir}: report.json names no dataset; pass --dataset")
    if not Path(dataset).is_file() and (Path(run_dir) / dataset).is_file():
        dataset = Path(run_dir) / dataset
    try:
        maps = class_maps(
            dataset, run_dir=run_dir, kind=kind, kernel_size=branch, stage=stage, pair=names,
            n_permutations=permutations, seed=seed, progress=bar,
        )  # fmt: skip
    finally:
        bar.close()
    attrs = {"run": str(run_dir), "dataset": str(dataset), "n_permutations": permutations,
             "seed": seed}  # fmt: skip
    path = save_class_maps(maps, Path(out), attrs)
    sig = "" if maps.mask is None else f", {int(maps.mask.sum())} significant pixels"
    typer.echo(f"wrote {path} ({maps.meta.get('map')}, {len(maps.classes)} classes, "
               f"{maps.meta.get('source')}{sig})")  # fmt: skip
