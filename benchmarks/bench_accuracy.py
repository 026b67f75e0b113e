"""Benchmark: LOCO accuracy of the CNN and the baselines on a generated cohort with planted places.

Generates a cohort with :func:`napari_mousestop.synthetic.generate_cohort` (each cage one sex,
recorded as juveniles and as adults; classes prefer the dome, feeders or water differently,
with a per-cage random factor), builds the dataset, and runs ``train_and_report``.

Usage::

    python benchmarks/bench_accuracy.py --cages 8 --hours 2 --interval 30min --intervals 4
    python benchmarks/bench_accuracy.py --cages 12 --hours 72      # paper-like (slow to generate)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from napari_mousestop.batch import build_dataset
from napari_mousestop.histograms import HistogramParams, parse_duration
from napari_mousestop.report import train_and_report
from napari_mousestop.synthetic import generate_cohort
from napari_mousestop.training import TrainConfig


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
    p.add_argument("--work", default="bench_accuracy_work", help="folder for cohort and run")
    a = p.parse_args(argv)

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
    ds = build_dataset(cohort_dir / "cohort.csv", work / "dataset.npz", hist, n_workers=a.workers)
    t_build = time.perf_counter() - t0
    config = TrainConfig(epochs=a.epochs, seed=a.seed, threads=a.threads)
    t0 = time.perf_counter()
    rep = train_and_report(ds, work / "run", config, a.permutations, work / "dataset.npz")
    t_train = time.perf_counter() - t0
    out = {
        "cohort": {"cages": a.cages, "hours": a.hours, "seed": a.seed, "n": len(ds)},
        "histogram": hist.to_dict(),
        "epochs": a.epochs,
        "accuracy": rep["accuracy"],
        "ci95": rep["ci95"],
        "balanced_accuracy": rep["balanced_accuracy"],
        "per_sex_accuracy": rep["per_sex_accuracy"],
        "per_age_accuracy": rep["per_age_accuracy"],
        "permutation_p": rep["permutation_p"],
        "baselines": {k: v["accuracy"] for k, v in rep["baselines"].items()},
        "mcnemar": rep["mcnemar"],
        "seconds": {"generate": t_gen, "dataset": t_build, "train_and_report": t_train},
    }
    print(json.dumps(out, indent=1))
    (work / "bench_accuracy.json").write_text(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
