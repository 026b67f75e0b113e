"""Benchmark: do the design's tests keep their size on every study design of issue 22?

For each design of :data:`napari_mousestop.learning.stats_simulation.DESIGNS` (the paper's;
sex only; three classes; genotype within cage; genotype by cage; mixed-sex cages; unequal
cages; 4 and 5 cages), ``--cohorts`` null cohorts with label-blind predictions fixed per animal
and per cage-recording go through the accuracy permutation test, each factor test and the map
test of the design's first comparison (random maps with cage and animal effects)
(:func:`~napari_mousestop.learning.stats_simulation.calibrate_design`). The share of cohorts
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
from dataclasses import asdict

from napari_mousestop.learning.stats_simulation import DESIGNS, calibrate_design


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
