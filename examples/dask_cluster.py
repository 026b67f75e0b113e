"""Build a dataset and train its folds on a dask.distributed cluster (here a local one).

On a real cluster, start `dask scheduler` on one machine and `dask worker tcp://HOST:8786` on
each node (with napari-mousestop installed and the recordings at the same paths), then run
`mousestop dataset cohort.csv -o dataset.npz --scheduler tcp://HOST:8786` and
`mousestop train dataset.npz -o run --scheduler tcp://HOST:8786`, or call
`build_dataset(..., scheduler="tcp://HOST:8786")` and `loco_cv(..., scheduler=...)` as below.

Run it:  python examples/dask_cluster.py OUT_DIR [--cages 2] [--hours 1]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dask.distributed import LocalCluster

from napari_mousestop.datasets.build import build_dataset
from napari_mousestop.histograms import HistogramParams
from napari_mousestop.learning.config import TrainConfig
from napari_mousestop.learning.training import loco_cv
from napari_mousestop.synthetic.generate import generate_cohort


def main(out: Path, cages: int, hours: float, epochs: int = 5) -> None:
    files = generate_cohort(out / "data", cages=cages, hours=hours, seed=1)
    hist = HistogramParams(interval_s=1800, n_intervals=int(round(2 * hours)), n_bins=30)
    # Stand-in for a cluster you already run: its scheduler address is all build_dataset needs.
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster:
        stats: dict = {}
        dataset = build_dataset(
            files.cohort_csv,
            out / "dataset.npz",
            hist,
            scheduler=cluster.scheduler_address,
            progress=lambda p: print(f"{p.done}/{p.total} recordings"),
            stats=stats,
        )
        print(f"{len(dataset)} animal-recordings, computed {len(stats['computed'])} recordings")
        if cages >= 2:  # leave-one-cage-out needs two cages: the folds train on the same workers
            cv = loco_cv(dataset, TrainConfig(epochs=epochs), scheduler=cluster.scheduler_address)
            right = (cv.oof_pred == dataset.labels).mean()
            print(f"{len(cv.folds)} folds trained on the cluster, out-of-fold accuracy {right:.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--cages", type=int, default=2)
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    main(args.out, args.cages, args.hours, args.epochs)
