"""Benchmark: leave-one-cage-out CV of the CNN against a bare PyTorch loop, and parallel folds.

Paper size by default: 96 animal-recordings (12 cages x 2 recordings x 4 mice), T = 72, N = 30,
100 epochs, batch 8. Three measurements in the same run:

1. ``loco_cv`` (our code: scaler, progress reports, cancellation checks, held-out evaluation per
   epoch);
2. a bare loop doing the same optimizer steps (same folds, same batch sizes, no extras);
3. both again fold by fold, alternating which goes first, so both see the same machine load
   (the fair ratio on a shared machine); ``--skip-bare`` leaves 2 and 3 out;
4. with ``--workers N``, the same folds in N worker processes of one torch thread each
   (``loco_cv(..., workers=N)``): cluster start-up and training timed apart, the speed-up over
   1, the check that the predictions are the same bit for bit, and the speed-up to expect on
   1 to 12 free cores from the measured per-fold times (longest first over W workers, plus the
   measured start-up).

Usage::

    python benchmarks/bench_training.py                 # full size (about 15 min on 2 cores)
    python benchmarks/bench_training.py --epochs 5      # quick
    python benchmarks/bench_training.py --epochs 100 --workers 2 --skip-bare --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np
import torch

from napari_mousestop.datasets.dataset import Dataset
from napari_mousestop.io.cohort import CLASSES
from napari_mousestop.learning.config import TrainConfig
from napari_mousestop.learning.model import StopCNN
from napari_mousestop.learning.training import loco_cv, loco_folds, train_fold


def make_dataset(n_cages: int, per_cage: int, t: int, n: int, seed: int = 0) -> Dataset:
    """Poisson stop counts with a class-specific hot spot (speed does not depend on content)."""
    rng = np.random.default_rng(seed)
    X, labels, cages, recs, animals = [], [], [], [], []
    spots = [(4, 4), (4, n - 8), (n - 8, 4), (n - 8, n - 8)]
    for c in range(n_cages):
        sex = "M" if c % 2 == 0 else "F"
        for age in "JA":
            label = CLASSES.index(age + sex)
            for a in range(per_cage):
                rate = np.full((t, n, n), 0.05)
                y, x = spots[label]
                rate[:, y : y + 3, x : x + 3] += 1.0
                X.append(rng.poisson(rate).astype(np.float32))
                labels.append(label)
                cages.append(f"cage{c:02d}")
                recs.append(f"cage{c:02d}_{age}")
                animals.append(f"m{c:02d}{a}")
    return Dataset(np.stack(X), labels, cages, recs, animals, params={"benchmark": True})


def bare_loop(ds: Dataset, config: TrainConfig, only: int | None = None) -> tuple[float, float]:
    """The same optimizer steps with nothing else: returns (wall, CPU) seconds.

    ``only``: run just that fold.
    """
    t0, c0 = time.perf_counter(), time.process_time()
    for k, (_, train, _) in enumerate(loco_folds(ds.cages)):
        if only is not None and k != only:
            continue
        torch.manual_seed(k)
        model = StopCNN(config.model_config(ds.X.shape[1], ds.X.shape[2], len(ds.classes)))
        x = torch.from_numpy(np.log1p(ds.X[train]))
        y = torch.from_numpy(ds.labels[train])
        opt = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum)
        loss_fn = torch.nn.CrossEntropyLoss()
        g = torch.Generator().manual_seed(k)
        for _ in range(config.epochs):
            order = torch.randperm(len(y), generator=g)
            for s in range(0, len(y), config.batch_size):
                idx = order[s : s + config.batch_size]
                loss = loss_fn(model(x[idx]), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
    return time.perf_counter() - t0, time.process_time() - c0


def interleaved(ds: Dataset, config: TrainConfig) -> dict:
    """Fold by fold, our fold training (as ``loco_cv`` runs it: scaler, progress, stop checks,
    held-out evaluation) and the bare loop's, alternating which goes first, so that both see
    the same machine load. Returns summed (wall, CPU) seconds of each."""
    sums = {"ours_s": 0.0, "ours_cpu_s": 0.0, "bare_s": 0.0, "bare_cpu_s": 0.0}
    events = []
    for k, (_, train, test) in enumerate(loco_folds(ds.cages)):

        def ours(k=k, train=train, test=test):
            t0, c0 = time.perf_counter(), time.process_time()
            train_fold(ds, train, test, config, k, lambda e, f: events.append(f), lambda: False)
            return time.perf_counter() - t0, time.process_time() - c0

        for name in ("ours", "bare") if k % 2 == 0 else ("bare", "ours"):
            wall, cpu = ours() if name == "ours" else bare_loop(ds, config, only=k)
            sums[f"{name}_s"] += wall
            sums[f"{name}_cpu_s"] += cpu
    return sums


def lpt_makespan(seconds: list[float], workers: int) -> float:
    """Wall time of jobs of the given durations on ``workers`` identical workers, longest first
    to the least loaded worker (what a Dask scheduler approximates)."""
    loads = [0.0] * workers
    for d in sorted(seconds, reverse=True):
        loads[loads.index(min(loads))] += d
    return max(loads)


def in_workers(ds: Dataset, config: TrainConfig, workers: int) -> dict:
    """The folds of ``loco_cv`` in ``workers`` local worker processes (1 torch thread each):
    cluster start-up and training timed apart; the run's out-of-fold probabilities."""
    from napari_mousestop.learning.training import collect_cv, cv_jobs, job_client, run_jobs

    jobs = cv_jobs(ds, config)
    t0 = time.perf_counter()
    with job_client(workers, None, len(jobs)) as client:
        started = time.perf_counter()
        outputs = run_jobs(ds, jobs, client=client)
        trained = time.perf_counter()
        rss = client.run(lambda: __import__("psutil").Process().memory_info().rss)
    closed = time.perf_counter()
    cv = collect_cv(ds, config, jobs, outputs, trained - started)[0]
    return {
        "startup_s": started - t0,
        "train_s": trained - started,
        "close_s": closed - trained,
        "total_s": closed - t0,
        "fold_s": [f.seconds for f in cv.folds],
        "worker_rss_mb": sorted(v / 2**20 for v in rss.values()),
        "oof_proba": cv.oof_proba,
    }


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--cages", type=int, default=12)
    p.add_argument("--per-cage", type=int, default=4, help="mice per cage (2 recordings each)")
    p.add_argument("--intervals", type=int, default=72)
    p.add_argument("--bins", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--threads", type=int, default=1, help="torch threads, sequential runs")
    p.add_argument(
        "--workers", type=int, default=0, help="also run the folds in this many worker processes"
    )
    p.add_argument(
        "--skip-bare", action="store_true", help="skip the bare-loop comparisons (overhead)"
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="with --workers: alternate sequential and parallel runs this many times (the "
        "fair ratio on a shared machine is each round's, under the same load)",
    )
    p.add_argument("--json", help="write the figures to this file")
    a = p.parse_args(argv)

    shape = (a.cages, a.per_cage, a.intervals, a.bins)
    ds = make_dataset(*shape)
    torch.set_num_threads(a.threads)  # this script's own process
    config = TrainConfig(epochs=a.epochs, batch_size=a.batch_size, device="cpu")
    n_train = len(ds) - 2 * a.per_cage
    steps = a.cages * a.epochs * -(-n_train // a.batch_size)
    print(f"dataset {ds.X.shape}, {a.cages} folds x {a.epochs} epochs = {steps} SGD steps")
    load = {"start": os.getloadavg()[0]}

    warm = make_dataset(2, 1, a.intervals, a.bins)  # warm-up: allocator, kernels, imports
    bare_loop(warm, TrainConfig(epochs=2, batch_size=a.batch_size))
    events = []
    t0, c0 = time.perf_counter(), time.process_time()
    cv = loco_cv(ds, config, progress=events.append, should_stop=lambda: False)
    ours, ours_cpu = time.perf_counter() - t0, time.process_time() - c0
    load["after_sequential"] = os.getloadavg()[0]
    acc = float(np.mean(cv.oof_pred == ds.labels))
    print(f"loco_cv:        {ours:8.1f} s wall, {ours_cpu:8.1f} s CPU  (accuracy {acc:.3f})")
    out = {
        "shape": list(ds.X.shape),
        "epochs": a.epochs,
        "batch_size": a.batch_size,
        "threads": a.threads,
        "sgd_steps": steps,
        "loco_cv_s": ours,
        "loco_cv_cpu_s": ours_cpu,
        "fold_s": [f.seconds for f in cv.folds],
        "progress_events": len(events),
        "oof_accuracy": acc,
    }
    if not a.skip_bare:
        bare, bare_cpu = bare_loop(ds, config)
        print(f"bare loop:      {bare:8.1f} s wall, {bare_cpu:8.1f} s CPU")
        print(f"ratio:          {ours / bare:8.3f} wall, {ours_cpu / bare_cpu:8.3f} CPU")
        inter = interleaved(ds, config)
        i_ratio = inter["ours_s"] / inter["bare_s"]
        i_cpu = inter["ours_cpu_s"] / inter["bare_cpu_s"]
        print(f"interleaved:    ours {inter['ours_s']:.1f} s, bare {inter['bare_s']:.1f} s wall")
        print(f"ratio:          {i_ratio:8.3f} wall, {i_cpu:8.3f} CPU (interleaved, same load)")
        out.update(
            bare_loop_s=bare,
            bare_loop_cpu_s=bare_cpu,
            ratio=ours / bare,
            cpu_ratio=ours_cpu / bare_cpu,
            interleaved={**inter, "ratio": i_ratio, "cpu_ratio": i_cpu},
        )
        load["after_bare"] = os.getloadavg()[0]
    if a.workers:
        par = in_workers(ds, config, a.workers)
        load["after_workers"] = os.getloadavg()[0]
        same = bool(np.array_equal(par.pop("oof_proba"), cv.oof_proba))
        speedup, speedup_total = ours / par["train_s"], ours / par["total_s"]
        print(
            f"{a.workers} workers:      {par['total_s']:8.1f} s wall in all: start-up "
            f"{par['startup_s']:.1f} s, training {par['train_s']:.1f} s, closing "
            f"{par['close_s']:.1f} s; same predictions as sequential: {same}; worker memory "
            f"{', '.join(f'{m:.0f}' for m in par['worker_rss_mb'])} MB"
        )
        print(
            f"speed-up:       {speedup:8.2f}x training, {speedup_total:.2f}x with start-up "
            f"(target >= 1.7x with 2 workers)"
        )
        slowdown = float(np.mean(par["fold_s"]) / np.mean(out["fold_s"]))
        print(
            f"per fold:       {np.mean(out['fold_s']):.1f} s alone, {np.mean(par['fold_s']):.1f} s"
            f" with {a.workers} at once (x{slowdown:.2f})"
        )
        rounds = [{"sequential_s": ours, **{k: par[k] for k in ("train_s", "total_s")}}]
        for r in range(1, a.rounds):  # parallel first, then sequential: the order alternates
            again = in_workers(ds, config, a.workers)
            t0 = time.perf_counter()
            loco_cv(ds, config)
            seq = time.perf_counter() - t0
            rounds.append({"sequential_s": seq, "train_s": again["train_s"],
                           "total_s": again["total_s"]})  # fmt: skip
            print(
                f"round {r + 1}:        sequential {seq:.1f} s, {a.workers} workers "
                f"{again['total_s']:.1f} s in all ({again['train_s']:.1f} s training): "
                f"{seq / again['train_s']:.2f}x training, {seq / again['total_s']:.2f}x in all"
            )
        ratios = [r["sequential_s"] / r["train_s"] for r in rounds]
        ratios_total = [r["sequential_s"] / r["total_s"] for r in rounds]
        if a.rounds > 1:
            print(
                f"median of {a.rounds} rounds: {np.median(ratios):.2f}x training, "
                f"{np.median(ratios_total):.2f}x in all"
            )
        # expected scaling on a machine with at least W free cores: folds take their
        # sequential time, spread longest-first over W workers, plus the start-up measured here
        scaling = {
            w: ours / (par["startup_s"] + lpt_makespan(out["fold_s"], w)) for w in range(1, 13)
        }
        print(
            "expected speed-up on W free cores (start-up included): "
            + ", ".join(f"{w}: {v:.1f}x" for w, v in scaling.items())
        )
        out["workers"] = {
            **par,
            "n": a.workers,
            "same_predictions": same,
            "speedup_training": speedup,
            "speedup_with_startup": speedup_total,
            "fold_slowdown_when_parallel": slowdown,
            "rounds": rounds,
            "median_speedup_training": float(np.median(ratios)),
            "median_speedup_with_startup": float(np.median(ratios_total)),
            "expected_speedup_on_free_cores": scaling,
        }
    out["machine"] = {
        "cpus": os.cpu_count(),
        "load_avg_1min": load,
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    print(f"load average (1 min): {load}")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(out, fh, indent=1)
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
