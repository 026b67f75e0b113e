"""The whole pipeline in one call: generated cohort -> stops -> dataset -> CNN -> maps.

This is what ``mousestop demo`` (and so the README's ``make demo``) runs. Each step is the same
public function a user would call by hand, and each writes its output next to the others, with
every parameter recorded in ``demo.json``. One local Dask cluster is started for the whole demo
and every parallel step (writing the recordings, building the dataset, training the folds) runs
on its workers through its scheduler address, as it would on a real cluster.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from napari_mousestop.io.atomic import write_text_atomic


@dataclass
class DemoResult:
    """Where the demo put its results, and what it measured."""

    out_dir: Path
    cohort_csv: Path
    stops_csv: Path
    dataset: Path
    run_dir: Path
    maps_dir: Path
    accuracy: float
    baselines: dict
    seconds: dict = field(default_factory=dict)
    chance: float = 0.25


@dataclass(frozen=True)
class DemoParams:
    """The demo's defaults (``mousestop demo`` and :func:`run_demo` read them here).

    Attributes
    ----------
    cages, hours, interval_min, epochs, seed, workers, permutations, start_time
        As the parameters of :func:`run_demo`.
    """

    cages: int = 12
    hours: float = 0.5
    interval_min: float = 30.0
    epochs: int = 60
    seed: int = 0
    workers: int | None = None
    permutations: int = 1000
    start_time: str = "2024-01-15 20:00"


DEMO = DemoParams()


def run_demo(
    out_dir: str | os.PathLike,
    cages: int = DEMO.cages,
    hours: float = DEMO.hours,
    interval_min: float = DEMO.interval_min,
    epochs: int = DEMO.epochs,
    seed: int = DEMO.seed,
    workers: int | None = DEMO.workers,
    permutations: int = DEMO.permutations,
    start_time: str = DEMO.start_time,
    log: Callable[[str], None] = print,
) -> DemoResult:
    """Run the paper's pipeline on a generated cohort, end to end.

    Parameters
    ----------
    out_dir
        Folder for everything (created): ``data/`` (recordings, cohort and truth CSVs),
        ``stops_<recording>.csv``, ``dataset.npz``, ``run/`` (report, figures, models) and
        ``maps/`` (explanation maps and figures), plus ``demo.json``.
    cages
        Cages in the cohort (alternating male and female, 4 mice each, recorded juvenile and
        adult): ``2 * cages`` recordings, ``8 * cages`` animal-recordings (12 cages: the
        paper's 96).
    hours
        Length of each recording. LMT records 30 frames per second, so every hour of four mice
        is about 430,000 detection rows (about 100 MB of SQLite).
    interval_min
        Length of each histogram interval; the stacks have ``T = hours * 60 / interval_min``
        intervals (the paper: 72 intervals of 60 min).
    epochs
        Training epochs of every leave-one-cage-out fold and of the final model.
    seed
        Seed of the generator, the training and the permutation tests.
    workers
        Worker processes of the demo's local Dask cluster (None: one per core; 0: every step
        in this process, without Dask).
    permutations
        Permutations of the cage-level tests (accuracy and class-difference maps).
    start_time
        Clock time (UTC) at which every recording starts: by default 20:00, in the dark
        (active) phase, when mice stop more often than in the light phase (07:00-19:00).
    log
        Where progress lines go.

    Returns
    -------
    DemoResult
    """
    from napari_mousestop.datasets.build import build_dataset
    from napari_mousestop.explain.run import explain_run
    from napari_mousestop.histograms import HistogramParams
    from napari_mousestop.learning.config import TrainConfig
    from napari_mousestop.learning.report import train_and_report
    from napari_mousestop.stops import extract_stops, write_stops
    from napari_mousestop.synthetic.generate import generate_cohort

    if cages < 2:
        raise ValueError("the demo needs at least 2 cages (leave-one-cage-out)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}

    def step(name: str, started: float) -> None:
        seconds[name] = round(time.perf_counter() - started, 1)
        log(f"  {name}: {seconds[name]} s")

    from napari_mousestop.cluster import dask_client, local_workers

    started = time.perf_counter()
    n_workers = 0 if workers == 0 else local_workers(workers, 2 * cages)
    with ExitStack() as stack:
        address = None
        if n_workers:
            log(f"starting a local Dask cluster of {n_workers} worker processes...")
            address = stack.enter_context(dask_client(None, n_workers)).scheduler.address
        t0 = time.perf_counter()
        log(f"1/5 generating {2 * cages} LMT recordings of {hours:g} h ({4 * cages} mice)...")
        files = generate_cohort(
            out / "data", cages=cages, hours=hours, seed=seed, start_time=start_time,
            scheduler=address,
        )  # fmt: skip
        step("generate", t0)

        t0 = time.perf_counter()
        first = files.databases[0]
        log(f"2/5 extracting the stops of {first.name}...")
        stops = extract_stops(first)
        stops_csv = write_stops(stops, out / f"stops_{first.stem}.csv")
        log(f"  {len(stops)} stops -> {stops_csv}")
        step("stops", t0)

        t0 = time.perf_counter()
        n_intervals = int(round(hours * 60 / interval_min))
        hist = HistogramParams(interval_s=interval_min * 60, n_intervals=n_intervals, n_bins=30)
        log(f"3/5 building the dataset (T = {hist.n_intervals}, N = {hist.n_bins})...")
        dataset_path = out / "dataset.npz"
        local = 0 if address is None else None  # no Dask at all without a cluster
        dataset = build_dataset(
            files.cohort_csv, dataset_path, hist, scheduler=address, n_workers=local
        )
        log(f"  {len(dataset)} animal-recordings -> {dataset_path}")
        step("dataset", t0)

        t0 = time.perf_counter()
        config = TrainConfig(epochs=epochs, seed=seed)
        log(f"4/5 leave-one-cage-out training ({cages} folds x {epochs} epochs) and baselines...")
        run_dir = out / "run"
        report = train_and_report(
            dataset, run_dir, config, n_permutations=permutations, dataset_path=dataset_path,
            scheduler=address,
        )  # fmt: skip
        baselines = {name: b.summary.accuracy.value for name, b in report.baselines.items()}
        shown = ", ".join(f"{k} {v:.3f}" for k, v in baselines.items())
        log(
            f"  CNN accuracy {report.accuracy:.3f}; {shown}; chance "
            f"{report.null_reference.chance:.3f} -> {run_dir}"
        )
        step("train", t0)

    t0 = time.perf_counter()
    log("5/5 explanation maps (out of fold) and class comparisons...")
    maps_dir = out / "maps"
    explain_run(run_dir, maps_dir, dataset=dataset, n_permutations=permutations, seed=seed)
    log(f"  maps and figures -> {maps_dir}")
    step("explain", t0)

    seconds["total"] = round(time.perf_counter() - started, 1)
    result = DemoResult(
        out_dir=out,
        cohort_csv=files.cohort_csv,
        stops_csv=Path(stops_csv),
        dataset=dataset_path,
        run_dir=run_dir,
        maps_dir=maps_dir,
        accuracy=float(report.accuracy),
        baselines=baselines,
        seconds=seconds,
        chance=float(report.null_reference.chance),
    )
    record = {
        "parameters": {
            "cages": cages,
            "hours": hours,
            "interval_min": interval_min,
            "epochs": epochs,
            "seed": seed,
            "workers": n_workers,
            "permutations": permutations,
            "start_time": start_time,
        },
        "accuracy": result.accuracy,
        "baselines": baselines,
        "chance": result.chance,
        "seconds": seconds,
        "outputs": {k: str(v) for k, v in vars(result).items() if isinstance(v, Path)},
    }
    write_text_atomic(out / "demo.json", json.dumps(record, indent=2))
    return result
