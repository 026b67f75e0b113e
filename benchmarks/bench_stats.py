"""Benchmark: do the report's tests hold their size and its intervals their coverage, and what
accuracy do classifiers reach out of fold on stacks without information?

Part 1 (``--reps``):
:func:`napari_mousestop.learning.stats_simulation.check_statistics` on simulated
cohorts of the paper's design (12 cages, 4 mice, juvenile and adult recordings) with cage
effects of SD 0, 1 and 2 (logit scale): coverage of the cage-level interval and of the
animal-level Wilson interval, size of the sign-flip test (and of the animal-level McNemar test
it replaces), of the 4-class, sex and sex-only permutation tests.

Part 1b (``--coverage-reps``): coverage of the cage-level interval of accuracy (Wilson on the
cage-corrected effective sample size) at accuracy 0.5, 0.75, 0.9 and 0.95 with 6, 8 and 12
cages (cage effect SD ``--cage-sd``), beside the former t-interval over per-cage accuracies.

Part 2 (``--noise-cohorts``, ``--cnn-cohorts``): pure-noise stacks (Poisson, the same rate
everywhere, every class alike) in the paper's design; out-of-fold accuracy of the PCA
baselines and of the CNN with leave-one-cage-out and with balanced folds, next to the
training-frequency guess of each fold scheme.

Usage::

    python benchmarks/bench_stats.py --reps 2000 --noise-cohorts 40 --cnn-cohorts 8 \\
        --epochs 100 --json stats.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import torch

from napari_mousestop.datasets.dataset import Dataset
from napari_mousestop.learning.baselines import run_baselines
from napari_mousestop.learning.config import TrainConfig
from napari_mousestop.learning.stats import frequency_guess_accuracy
from napari_mousestop.learning.stats_simulation import (
    check_statistics,
    design,
    interval_coverage,
)
from napari_mousestop.learning.training import cv_folds, loco_cv

SCHEMES = ("cage", "balanced")


def noise_dataset(seed: int, n_cages: int = 12, mice: int = 4, t: int = 4, n: int = 14):
    """Stacks of Poisson(0.5) stops per bin and interval, the same for every class."""
    y, cages, recs = design(n_cages, mice)
    rng = np.random.default_rng(seed)
    X = rng.poisson(0.5, (len(y), t, n, n)).astype(np.float32)
    animals = np.array([f"{c}_m{i % mice}" for i, c in enumerate(cages)])
    return Dataset(X=X, labels=y, cages=cages, recordings=recs, animals=animals)


def _mean_se(values: list[float]) -> dict:
    v = np.asarray(values)
    se = float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else float("nan")
    return {"mean": float(v.mean()), "se": se, "n": len(v)}


def null_accuracy(n_baseline: int, n_cnn: int, epochs: int) -> dict:
    """Out-of-fold accuracy on pure-noise cohorts, per fold scheme and classifier."""
    out = {}
    for scheme in SCHEMES:
        ds = noise_dataset(0)
        folds = [(tr, te) for _, tr, te in cv_folds(ds.cages, ds.labels, scheme)]
        acc: dict[str, list[float]] = {"pca_1nn": [], "pca_svm": [], "cnn": []}
        for seed in range(n_baseline):
            ds = noise_dataset(seed)
            for name, res in run_baselines(ds, seed=seed, folds=scheme).items():
                acc[name].append(res.accuracy)
        for seed in range(n_cnn):
            ds = noise_dataset(seed)
            config = TrainConfig(epochs=epochs, seed=seed, folds=scheme)
            cv = loco_cv(ds, config)
            acc["cnn"].append(float(np.mean(cv.oof_pred == ds.labels)))
        out[scheme] = {
            "frequency_guess": frequency_guess_accuracy(ds.labels, folds, 4),
            **{k: _mean_se(v) for k, v in acc.items() if v},
        }
    return out


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--reps", type=int, default=2000, help="simulated cohorts per cage-effect SD")
    p.add_argument("--permutations", type=int, default=199)
    p.add_argument(
        "--coverage-reps",
        type=int,
        default=1000,
        help="cohorts per accuracy and cage count for the interval's coverage",
    )
    p.add_argument("--cage-sd", type=float, default=1.0, help="cage effect SD (coverage)")
    p.add_argument("--noise-cohorts", type=int, default=40, help="noise cohorts for baselines")
    p.add_argument("--cnn-cohorts", type=int, default=8, help="noise cohorts for the CNN")
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)  # this benchmark's process
    out: dict = {"args": vars(a)}
    if a.reps:
        t0 = time.perf_counter()
        checks = check_statistics(a.reps, n_permutations=a.permutations, seed=a.seed)
        out["simulation_seconds"] = time.perf_counter() - t0
        out["checks"] = [{**vars(c), "mc_se": c.mc_se} for c in checks]
        for c in checks:
            print(f"SD {c.cage_sd:g}  {c.kind:8s} {c.observed:.3f} (+-{c.mc_se:.3f})  {c.name}")
    if a.coverage_reps:
        rows = interval_coverage(a.coverage_reps, cage_sd=a.cage_sd, seed=a.seed)
        out["coverage"] = rows
        print(
            "| cages | accuracy | cage-level interval (Wilson, design effect) | mean width | "
            "former t-interval | t-interval of zero width |"
        )
        print("|---|---|---|---|---|---|")
        for r in rows:
            print(
                f"| {r['n_cages']} | {r['accuracy']:.2f} | {r['coverage']:.3f} | "
                f"{r['mean_width']:.3f} | {r['t_coverage']:.3f} | {r['t_zero_width']:.3f} |"
            )
    if a.noise_cohorts or a.cnn_cohorts:
        t0 = time.perf_counter()
        out["null_accuracy"] = null_accuracy(a.noise_cohorts, a.cnn_cohorts, a.epochs)
        out["null_seconds"] = time.perf_counter() - t0
        print(json.dumps(out["null_accuracy"], indent=1))
    if a.json:
        with open(a.json, "w", encoding="utf-8") as fh:
            json.dump(out, fh, indent=1)
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
