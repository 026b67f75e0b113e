"""Speed-up of `build_dataset` on 2 Dask worker processes against 1.

Generates 8 synthetic 6-hour recordings (4 cages x juvenile/adult, 4 mice each), then builds
the same dataset with an empty cache in this process without Dask (reference), on a LocalCluster
of 1 worker and of 2 workers (1 thread each), ``--repeats`` times each in alternation, and keeps
the fastest time of each. Cluster start-up is included, as a user sees it. The load average is
recorded: on a shared machine other work takes cores away and the speed-up shrinks.

    .venv/bin/python benchmarks/bench_dataset.py [--recordings 8] [--hours 6] [--out DIR] [--reuse]

Prints a Markdown table and writes ``bench_dataset.json`` in the output folder.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

from napari_mousestop import __version__
from napari_mousestop.datasets.build import build_dataset
from napari_mousestop.histograms import HistogramParams
from napari_mousestop.synthetic.generate import generate_cohort


def make_cohort(folder: Path, n_recordings: int, hours: float, reuse: bool) -> Path:
    """A generated cohort of ``n_recordings`` (cages x juvenile/adult) of 4 mice each."""
    csv = folder / "cohort.csv"
    if reuse and csv.is_file():
        return csv
    return generate_cohort(folder, cages=n_recordings // 2, hours=hours, seed=0).cohort_csv


def timed_build(csv: Path, out: Path, workers: int, params: HistogramParams) -> float:
    shutil.rmtree(out.with_name(out.name + ".cache"), ignore_errors=True)
    t0 = time.perf_counter()
    build_dataset(csv, out, params, n_workers=workers)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recordings", type=int, default=8)
    ap.add_argument("--hours", type=float, default=6.0)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--reuse", action="store_true", help="reuse recordings already in --out")
    args = ap.parse_args()
    folder = args.out or Path(tempfile.mkdtemp(prefix="bench_dataset_"))
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    csv = make_cohort(folder, args.recordings, args.hours, args.reuse)
    gen_s = time.perf_counter() - t0
    params = HistogramParams(n_intervals=max(1, round(args.hours)))
    out = folder / "dataset.npz"
    load_before = os.getloadavg()[0]
    t0 = t1 = t2 = float("inf")
    for _ in range(args.repeats):
        t0 = min(t0, timed_build(csv, out, 0, params))
        t1 = min(t1, timed_build(csv, out, 1, params))
        t2 = min(t2, timed_build(csv, out, 2, params))
    load_after = os.getloadavg()[0]
    size_mb = sum(p.stat().st_size for p in folder.glob("*.sqlite")) / 1e6
    result = {
        "recordings": args.recordings,
        "repeats": args.repeats,
        "hours": args.hours,
        "total_sqlite_mb": round(size_mb, 1),
        "generate_s": round(gen_s, 1),
        "in_process_s": round(t0, 2),
        "one_worker_s": round(t1, 2),
        "two_workers_s": round(t2, 2),
        "speedup": round(t1 / t2, 2),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "load_average_1min": [round(load_before, 2), round(load_after, 2)],
        "package_version": __version__,
    }
    (folder / "bench_dataset.json").write_text(json.dumps(result, indent=2))
    print(
        "| recordings | hours each | SQLite MB | no Dask (s) | 1 worker (s) | 2 workers (s) "
        "| speed-up |"
    )
    print("|---|---|---|---|---|---|---|")
    print(
        f"| {args.recordings} | {args.hours:g} | {size_mb:.0f} | {t0:.1f} | {t1:.1f} | {t2:.1f} "
        f"| {t1 / t2:.2f}x |"
    )
    print(
        f"({os.cpu_count()} cores, load average {load_before:.1f} -> {load_after:.1f}; "
        f"generation {gen_s:.0f} s; files in {folder})"
    )


if __name__ == "__main__":
    main()
