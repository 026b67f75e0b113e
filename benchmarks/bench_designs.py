"""Benchmark: do the design's tests keep their size on every study design of issue 22?

For each design of :data:`napari_mousestop.learning.stats_simulation.DESIGNS` (the paper's;
sex only; three classes; genotype within cage; genotype by cage; mixed-sex cages; unequal
cages; 4 and 5 cages), ``--cohorts`` null cohorts with label-blind predictions fixed per animal
and per cage-recording go through the accuracy permutation test, each factor test and the map
test of the design's first comparison (random maps with cage and animal effects)
(:func:`calibrate_design`). The share of cohorts
with ``p <= 0.05`` must stay within ``0.05 + 2 SE``; the number of labellings the design allows
stands beside it. No model is trained.

Usage::

    nice -n 19 python benchmarks/bench_designs.py --cohorts 400 --permutations 199 \\
        --json designs.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass

import numpy as np

from napari_mousestop.learning.stats import permutation_test
from napari_mousestop.learning.stats_simulation import DESIGNS, design_cohort


@dataclass(frozen=True)
class Calibration:
    """How often one test of one design rejects at ``alpha`` on null cohorts.

    ``by_animal`` and ``by_recording``: share of null cohorts with ``p <= alpha`` when the
    predictions (or maps) are random but fixed per animal (the same in all its recordings)
    or per cage-recording (shared by its animals); ``bound`` is ``alpha + 2 SE``. ``unit``,
    ``n_labellings`` and ``min_p`` are the design's scheme for the test (``reason`` where it
    allows none).
    """

    design: str
    test: str
    unit: str
    n_labellings: int
    exact: bool
    min_p: float
    by_animal: float
    by_recording: float
    n_cohorts: int
    alpha: float
    reason: str = ""

    @property
    def bound(self) -> float:
        """``alpha`` plus two binomial standard errors over ``n_cohorts``."""
        return self.alpha + 2 * float(np.sqrt(self.alpha * (1 - self.alpha) / self.n_cohorts))

    @property
    def holds(self) -> bool:
        """Whether both rejection rates stay within :attr:`bound` (True for a test not run)."""
        return bool(self.reason) or max(self.by_animal, self.by_recording) <= self.bound


def _random_per(units: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    _, g = np.unique(units, return_inverse=True)
    return rng.integers(0, k, g.max() + 1)[g]


def calibrate_design(
    name: str,
    n_cohorts: int = 400,
    n_permutations: int = 199,
    alpha: float = 0.05,
    seed: int = 0,
    map_size: int = 3,
) -> list[Calibration]:
    """Rejection rates of the accuracy test, each factor test and the map test of the first
    default comparison, on null cohorts of design ``name`` (:func:`design_cohort`).

    Each cohort draws label-blind predictions fixed per animal and fixed per cage-recording,
    and random maps (a cage effect, an animal effect and noise; ``map_size`` squared pixels);
    no model is trained.
    """
    from dataclasses import replace as _replace

    from napari_mousestop.explain.maps import ExplanationMap
    from napari_mousestop.explain.stats import compare, default_contrasts
    from napari_mousestop.io.geometry import grid_placement

    cohort = design_cohort(name)
    study = cohort.study()
    rng = np.random.default_rng(seed)
    present = np.unique(cohort.labels)
    animal_key = np.char.add(np.char.add(cohort.cages, "\x00"), cohort.animals)
    rec_key = np.char.add(np.char.add(cohort.cages, "\x00"), cohort.recordings)
    factor_tests = [f.name for f in study.varying if f.varies] if len(study.varying) > 1 else []
    tests = ["accuracy", *factor_tests]
    contrasts = default_contrasts(study)
    contrast = contrasts[0] if contrasts else None
    hits = {t: [0, 0] for t in [*tests, "map"]}
    map_meta: dict = {}
    blank = ExplanationMap("m", np.zeros((len(cohort.labels), map_size, map_size)),
                           grid_placement(map_size), cohort.classes, "input",
                           ("sample", "y", "x"))  # fmt: skip
    of_factor = {
        f: np.array([study.factor(f).values.index(study.class_values(c)[f])
                     if c in study.counts() else -1 for c in cohort.classes])
        for f in factor_tests
    }  # fmt: skip
    for _ in range(n_cohorts):
        s = int(rng.integers(2**31))
        for j, key in enumerate((animal_key, rec_key)):
            pred = present[_random_per(key, len(present), rng)]
            for t in tests:
                p = pred if t == "accuracy" else of_factor[t][pred]
                res = permutation_test(study, p, n_permutations, s, test=t)
                hits[t][j] += res.valid and res.p_value <= alpha
            if contrast is None:
                continue
            shape = (map_size, map_size)
            values = (rng.normal(0, 1, (len(np.unique(cohort.cages)), *shape))[
                np.unique(cohort.cages, return_inverse=True)[1]]
                + rng.normal(0, 1, (len(np.unique(key)), *shape))[
                np.unique(key, return_inverse=True)[1]]
                + rng.normal(0, 0.5, (len(cohort.labels), *shape)))  # fmt: skip
            comp = compare(_replace(blank, data=values), cohort.labels, cohort.cages, contrast,
                           n_permutations, alpha, "t", s, design=study)  # fmt: skip
            hits["map"][j] += bool(comp.p_values.min() <= alpha)
            map_meta = comp.meta
    out = []
    for t in tests:
        sch = study.scheme_for(t)
        out.append(Calibration(name, t, sch.unit, sch.n_labellings, sch.exact, sch.min_p,
                               hits[t][0] / n_cohorts, hits[t][1] / n_cohorts, n_cohorts,
                               alpha, sch.reason))  # fmt: skip
    if contrast is not None:
        out.append(Calibration(name, f"map: {contrast.name}", map_meta["unit"],
                               map_meta["n_labellings"], map_meta["exact"], map_meta["min_p"],
                               hits["map"][0] / n_cohorts, hits["map"][1] / n_cohorts,
                               n_cohorts, alpha))  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cohorts", type=int, default=400)
    parser.add_argument("--permutations", type=int, default=199)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--designs", nargs="*", default=list(DESIGNS))
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    rows, ok, t0 = [], True, time.perf_counter()
    print("| design | test | unit | labellings | smallest p | p <= 0.05, per animal | "
          "per recording | bound |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for name in args.designs:
        for c in calibrate_design(name, args.cohorts, args.permutations, seed=args.seed):
            rows.append({**asdict(c), "bound": c.bound, "holds": c.holds})
            ok &= c.holds
            if c.reason:
                print(f"| {name} | {c.test} | - | - | - | no test: {c.reason} | | |")
                continue
            n = f"{c.n_labellings:,}" + (" (all)" if c.exact else "")
            flag = "" if c.holds else " **over**"
            print(f"| {name} | {c.test} | {c.unit} | {n} | {c.min_p:.3g} | "
                  f"{c.by_animal:.3f} | {c.by_recording:.3f} | {c.bound:.3f}{flag} |",
                  flush=True)  # fmt: skip
    print(f"\n{args.cohorts} null cohorts per design, {args.permutations} random labellings "
          f"where not all are listed; {time.perf_counter() - t0:.0f} s")  # fmt: skip
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"args": vars(args), "rows": rows}, fh, indent=1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
