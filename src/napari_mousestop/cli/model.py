"""``mousestop train``, ``predict`` and ``explain``: the model half of the command line.

Registered on the ``app`` by :mod:`napari_mousestop.cli.app`.
"""

from __future__ import annotations

import typer

from napari_mousestop.cli.common import ProgressBar, friendly_errors
from napari_mousestop.learning.config import N_PERMUTATIONS, EpochProgress, TrainConfig
from napari_mousestop.progress import Progress

TRAIN = TrainConfig()

# --- training and prediction (learning: training, report, predict) --------------------------


class _TrainBars:
    """tqdm bars for training: one over folds, one over the epochs of the current fold."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.folds = None
        self.epochs = None

    def __call__(self, p: Progress) -> None:
        if not self.enabled or not isinstance(p, EpochProgress):
            return  # stage messages (baselines, writing): the bars stay as they are
        from tqdm import tqdm

        if p.stage == "cv" and self.folds is None:
            self.folds = tqdm(total=p.n_folds, desc="folds", unit="fold", position=0)
        if p.epoch == 1:
            if self.epochs is not None:
                self.epochs.close()
            desc = f"cage {p.cage}" if p.stage == "cv" else "final model"
            self.epochs = tqdm(total=p.n_epochs, desc=desc, unit="epoch", position=1, leave=False)
        self.epochs.set_postfix(loss=f"{p.loss:.3f}", acc=f"{p.accuracy:.2f}")
        self.epochs.update(1)
        if p.epoch == p.n_epochs and p.stage == "cv":
            self.folds.update(1)
            if p.fold == p.n_folds:
                self.folds.close()

    def close(self) -> None:
        for bar in (self.epochs, self.folds):
            if bar is not None:
                bar.close()


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
    device: str = typer.Option(TRAIN.device, help="auto (CUDA if present), cpu or cuda."),
    threads: int = typer.Option(
        None, min=1, help="CPU threads of torch in this process (default: torch's choice)."
    ),
    final: bool = typer.Option(True, "--final/--no-final", help="Train model.pt on all data."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Cross-validation by cages of the CNN and the PCA baselines, statistics, final model."""
    from napari_mousestop.datasets.dataset import load_dataset
    from napari_mousestop.learning.report import train_and_report

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
    if threads is not None:
        import torch

        torch.set_num_threads(threads)  # this command's process: set once, before any training
    ds = load_dataset(dataset_path)
    bars = _TrainBars(enabled=not quiet)
    try:
        rep = train_and_report(
            ds, out, config, permutations, dataset_path, final_model=final, progress=bars
        )
    finally:
        bars.close()
    acc = rep.cnn.accuracy
    typer.echo(
        f"CNN accuracy {acc.value:.3f} (95% cage-level interval {acc.interval.low:.3f}-"
        f"{acc.interval.high:.3f}), balanced {rep.cnn.balanced_accuracy:.3f}, permutation "
        f"p = {rep.permutation.p_value:.4g}; chance {rep.null_reference.chance:.3f}, "
        f"training-frequency guess {rep.null_reference.frequency_guess:.3f}"
    )
    for name, f in rep.factors.items():
        typer.echo(
            f"{name}: right for {f.accuracy.value:.3f} (95% {f.accuracy.interval.low:.3f}-"
            f"{f.accuracy.interval.high:.3f}), permutation p = {f.permutation.p_value:.4g}"
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
        ..., help="Datasets (.npz) and/or LMT recordings (.sqlite)."
    ),
    out: str = typer.Option(
        ..., "-o", "--out", help="CSV to write: class probabilities per animal."
    ),
    verify: bool = typer.Option(
        False, "--verify", help="Check recordings with PRAGMA quick_check first (reads them all)."
    ),
) -> None:
    """Class probabilities per animal from a trained model (recordings binned as in training)."""

    from napari_mousestop.io.atomic import atomic_path
    from napari_mousestop.learning.predict import predict_files

    with ProgressBar("inputs", "file", disable=len(inputs) < 2) as bar:
        table = predict_files(model, inputs, progress=bar, verify=verify)
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
        5000, help="Cage-level labellings per comparison (all are listed when fewer exist)."
    ),
    alpha: float = typer.Option(0.05, help="Family-wise error rate of the significance marks."),
    patch: int = typer.Option(3, help="Side (bins) of the occluded square."),
    stride: int = typer.Option(2, help="Step (bins) between occluded squares."),
    by: str = typer.Option("true", help="Average classes by 'true' or 'predicted' class."),
    correct_only: bool = typer.Option(False, help="Average correctly classified animals only."),
    seed: int = typer.Option(0, help="Seed of the permutations."),
    statistic: str = typer.Option("t", help="Test statistic: 't' (smoothed) or 'diff'."),
    primary: str = typer.Option(
        "occlusion_space",
        help="Primary map, named in advance: its comparisons are one Holm family, all other "
        "maps' comparisons a second one.",
    ),
    contrast: list[str] = typer.Option(  # noqa: B008 (typer's idiom)
        None,
        "--contrast",
        help="Run only this comparison (repeat for several), e.g. 'AF - JF' or 'sex (F - M)'; "
        "default: the 4 class pairs and the sex, age and sex x age contrasts.",
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Out-of-fold evidence maps, final-model activations and class differences, over the cage.

    Writes one maps file (maps.nc), the figures and index.md (each figure and how to read it).
    """
    import warnings

    from napari_mousestop.explain.run import explain_run

    bar = ProgressBar("explaining", "step", disable=quiet, describe=True)

    # captum's DeepLift announces its temporary hooks on every call: noise to a user. A filter of
    # this command's process (the CLI owns it), set before any work starts.
    warnings.filterwarnings("ignore", message="Setting forward, backward hooks")
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
        )
    finally:
        bar.close()
    typer.echo(
        f"wrote {res.file} ({len(res.maps)} arrays), {len(res.figures)} figures "
        f"and {res.index}"
    )
    for name, why in res.skipped.items():
        typer.echo(f"skipped {name}: {why}")
