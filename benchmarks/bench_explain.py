"""Validate the explanation maps on a cohort with a planted place preference.

A cohort shaped like the paper's (12 cages: 6 female, 6 male, each recorded as juveniles and as
adults, 4 mice per cage) is generated as hourly stop histograms: every mouse stops at the feeders
and the water and at random elsewhere; adult females (AF) also stop often around the dome, at a
known place (``synthetic.PLACES["dome"]``). The CNN is trained leave-one-cage-out with the
package's own training code, each animal is explained by the fold model that never saw its
cage, and the AF-against-AM difference of each evidence map is tested with the cage-level
permutation test. The script prints, per map, the distance in cm from the difference's peak to
the planted place, whether the peak is significant (family-wise), and the timings.

Run::

    .venv/bin/python benchmarks/bench_explain.py            # about 2-5 minutes on 2 cores
    .venv/bin/python benchmarks/bench_explain.py --hours 24 --epochs 40 --seed 1
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np
import torch

from napari_mousestop.cohort import CLASSES
from napari_mousestop.dataset import Dataset
from napari_mousestop.explain import out_of_fold
from napari_mousestop.explain_stats import class_average, compare_classes
from napari_mousestop.synthetic import PLACES
from napari_mousestop.training import TrainConfig, loco_cv


def planted_cohort(hours: int, n_bins: int, per_cage: int, seed: int) -> Dataset:
    """Stop histograms; only AF mice add stops around the dome (Gaussian, sd 2 cm)."""
    rng = np.random.default_rng(seed)
    w = 50.0 / n_bins
    shared = [PLACES["feeder_left"], PLACES["feeder_right"], PLACES["water"]]
    X, labels, cages, recs, animals = [], [], [], [], []

    def scatter(stack, centre_xy, n, sd):
        xy = rng.normal(centre_xy, sd, size=(n, 2))
        ix, iy = np.clip((xy // w).astype(int), 0, n_bins - 1).T
        np.add.at(stack, (iy, ix), 1.0)

    for c in range(12):
        sex = "F" if c < 6 else "M"
        for age in ("J", "A"):
            label = CLASSES.index(age + sex)
            for a in range(per_cage):
                x = rng.poisson(0.05, size=(hours, n_bins, n_bins)).astype(np.float32)
                for t in range(hours):
                    for place in shared:
                        scatter(x[t], place, rng.poisson(6), 1.5)
                    if CLASSES[label] == "AF":
                        scatter(x[t], PLACES["dome"], rng.poisson(8), 2.0)
                X.append(x)
                labels.append(label)
                cages.append(f"cage{c:02d}")
                recs.append(f"cage{c:02d}_{age}.sqlite")
                animals.append(f"m{c:02d}{a}")
    return Dataset(
        X=np.stack(X),
        labels=np.array(labels),
        cages=np.array(cages),
        recordings=np.array(recs),
        animals=np.array(animals),
        params={"histogram": {"interval_s": 3600, "n_intervals": hours, "n_bins": n_bins}},
    )


def peak_distance(m, target_xy) -> float:
    """Distance (cm) from the maximum of a (h, w) map to a place given as (x, y) cm."""
    iy, ix = np.unravel_index(np.nanargmax(m.data), m.data.shape)
    ys, xs = m.placement.centres(m.data.shape)
    return float(np.hypot(ys[iy] - target_xy[1], xs[ix] - target_xy[0])), (iy, ix)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hours", type=int, default=12, help="T, hourly histograms per animal")
    ap.add_argument("--bins", type=int, default=30, help="N, grid size")
    ap.add_argument("--per-cage", type=int, default=4, help="mice per cage")
    ap.add_argument("--epochs", type=int, default=25)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--permutations", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--stride", type=int, default=2, help="step of the occluded squares")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    ds = planted_cohort(args.hours, args.bins, args.per_cage, args.seed)
    dome = PLACES["dome"]
    print(
        f"cohort: {len(ds)} animals, 12 cages, T={args.hours}, N={args.bins}; "
        f"AF prefer the dome at x={dome[0]} cm, y={dome[1]} cm"
    )
    t0 = time.perf_counter()
    config = TrainConfig(epochs=args.epochs, lr=args.lr, seed=args.seed, threads=args.threads)
    cv = loco_cv(ds, config)
    t_train = time.perf_counter() - t0
    acc = float(np.mean(cv.oof_pred == ds.labels))
    print(f"LOCO CV: accuracy {acc:.3f} (chance 0.25), {t_train:.0f} s")

    t0 = time.perf_counter()
    maps = out_of_fold(cv.folds, ds.X, classes=ds.classes, stride=args.stride)
    t_maps = time.perf_counter() - t0
    print(f"out-of-fold evidence maps: {t_maps:.0f} s")
    head = ("map", "diff peak", "p", "|t| peak", "p", "AF-rest |t|", "p", "AF panel")
    print("\ndistance (cm) from each peak to the dome, and its family-wise p-value")
    print(f"{head[0]:<17}" + "".join(f"{h:>12}" for h in head[1:]))
    t0 = time.perf_counter()
    for m in maps:
        if not hasattr(m, "placement"):
            continue
        row = []
        for b in ("AM", ("AM", "JM", "JF")):
            comp = compare_classes(m, ds.labels, ds.cages, "AF", b, args.permutations)
            peaks = [comp.difference.data, np.abs(comp.statistic)] if b == "AM" else []
            peaks.append(np.abs(comp.statistic) if b != "AM" else None)
            for image in [p for p in peaks if p is not None]:
                dist, (iy, ix) = peak_distance(replace(comp.difference, data=image), dome)
                row += [f"{dist:.1f}", f"{comp.p_values[iy, ix]:.3f}"]
        avg = class_average(m, ds.labels)
        panel = replace(avg, data=avg.data[CLASSES.index("AF")], axes=("y", "x"))
        row.append(f"{peak_distance(panel, dome)[0]:.1f}")
        print(f"{m.name:<17}" + "".join(f"{v:>12}" for v in row))
    print(f"\npermutation tests ({args.permutations} each): {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
