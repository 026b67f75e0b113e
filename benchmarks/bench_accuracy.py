"""Benchmark: out-of-fold accuracy of the CNN and the baselines on a generated cohort.

Generates a cohort with
:func:`napari_mousestop.synthetic.generate.generate_cohort` (each cage one sex,
recorded as juveniles and as adults; classes prefer the dome, feeders or water differently,
with a per-cage random factor), builds the dataset, and runs ``train_and_report`` once per
fold scheme (``--folds cage balanced``), printing the cage-level figures of each.

Usage::

    python benchmarks/bench_accuracy.py --cages 8 --hours 2 --interval 30min --intervals 4
    python benchmarks/bench_accuracy.py --folds cage balanced --bins 15
    python benchmarks/bench_accuracy.py --cages 12 --hours 72      # paper-like (slow to generate)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from napari_mousestop.datasets.build import build_dataset
from napari_mousestop.histograms import HistogramParams, parse_duration
from napari_mousestop.learning.config import TrainConfig
from napari_mousestop.learning.report import train_and_report
from napari_mousestop.synthetic.generate import generate_cohort


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--cages", type=int, default=8)
    p.add_argument("--hours", type=float, default=2.0)
    p.add_argument("--interval", default="30min")
    p.add_argument("--intervals", type=int, default=4)
    p.add_argument("--bins", type=int, default=30)
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--permutations", type=int, default=10000)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--workers", type=int, default=0, help="dataset build processes (0: serial)")
    p.add_argument("--folds", nargs="+", default=["cage"], choices=("cage", "balanced"))
    p.add_argument("--work", default="bench_accuracy_work", help="folder for cohort and run")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)  # this benchmark's process

    work = Path(a.work)
    cohort_dir = work / f"cohort_c{a.cages}_h{a.hours:g}_s{a.seed}"
    t0 = time.perf_counter()
    if not (cohort_dir / "cohort.csv").is_file():
        generate_cohort(cohort_dir, cages=a.cages, hours=a.hours, seed=a.seed)
    t_gen = time.perf_counter() - t0
    hist = HistogramParams(
        interval_s=parse_duration(a.interval), n_intervals=a.intervals, n_bins=a.bins
    )
    t0 = time.perf_counter()
    data = work / f"dataset_n{a.bins}.npz"
    ds = build_dataset(cohort_dir / "cohort.csv", data, hist, n_workers=a.workers)
    t_build = time.perf_counter() - t0
    runs = {}
    for folds in a.folds:
        config = TrainConfig(epochs=a.epochs, seed=a.seed, folds=folds)
        t0 = time.perf_counter()
        rep = train_and_report(ds, work / f"run_{folds}_n{a.bins}", config, a.permutations, data)
        runs[folds] = _figures(rep, time.perf_counter() - t0)
    out = {
        "cohort": {"cages": a.cages, "hours": a.hours, "seed": a.seed, "n": len(ds)},
        "histogram": hist.to_dict(),
        "epochs": a.epochs,
        "runs": runs,
        "seconds": {"generate": t_gen, "dataset": t_build},
    }
    print(json.dumps(out, indent=1))
    (work / f"bench_accuracy_n{a.bins}.json").write_text(json.dumps(out, indent=1))
    return out


def _interval(est) -> list[float]:
    return [round(est.interval.low, 3), round(est.interval.high, 3)]


def _figures(rep, seconds: float) -> dict:
    """The figures of one run that the docs' table shows."""
    return {
        "accuracy": rep.accuracy,
        "cage_interval": _interval(rep.cnn.accuracy),
        "wilson_interval": [rep.cnn.animal_interval.low, rep.cnn.animal_interval.high],
        "permutation_p": rep.permutation.p_value,
        "permutation_null_mean": rep.permutation.null_mean,
        "frequency_guess": rep.null_reference.frequency_guess,
        "factors": {
            k: {
                "accuracy": f.accuracy.value,
                "interval": _interval(f.accuracy),
                "p": f.permutation.p_value,
            }
            for k, f in rep.factors.items()
        },
        "baselines": {k: b.summary.accuracy.value for k, b in rep.baselines.items()},
        "cnn_minus_baseline": {
            k: {"difference": c.difference, "p": c.test.p_value} for k, c in rep.comparisons.items()
        },
        "seconds": seconds,
    }


if __name__ == "__main__":
    main(sys.argv[1:])
