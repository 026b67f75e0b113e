"""Explanation maps where the truth is known: planted places, and null cohorts.

``planted`` (default): cohorts of planted hourly stop histograms (``synthetic.planted_histograms``;
arrays, no LMT file) laid out as the paper's (12 cages: 6 female, 6 male, each recorded as
juveniles and as adults, 4 mice per cage) in which every class has two places of its own
(``synthetic.PLANTED_PLACES``). The CNN is trained leave-one-cage-out with the package's own
training code, every animal is explained by the fold model that held its cage out, and every
comparison (the four class pairs and the sex, age and sex x age contrasts) is tested with the
cage-level permutation test, adjusted as ``mousestop explain`` does (primary map:
``occlusion_space``; all other maps a second family). For every class panel the script gives
the distance from its peak to the nearest place of its class; for every comparison, from its most
positive significant pixel to the nearest place of the first classes and from its most negative
one to the nearest place of the second classes (n.s.: no significant pixel of that sign).

``null``: cohorts without any class difference (every class stops at the same places, with cage
effects) trained and explained the same way; the share of cohorts with any significant pixel,
per comparison (each comparison alone, family-wise over its map) and per family after the
adjustment, for the out-of-fold evidence maps and for the stop maps. ``--folds balanced`` holds
out one female and one male cage together, so that every fold model learns from as many cages
of each sex.

``sanity``: the checks of ``mousestop explain --sanity`` and of the retrained null. On planted
cohorts, the model randomisation check of every map kind (mean Spearman correlation of the
trained and randomised class panels, cascading down to all layers, and against fold models
trained on labels relabelled by the study's design), and the power of the retrained map test
(share of comparisons with a significant pixel, and whether the extreme lies within 5 cm of a
planted place of its classes); on null cohorts the family-wise false-positive rate of the
retrained map test (each cohort: one cross-validation on its labels and ``--retrained P`` on
design relabellings, as ``train --retrain-permutations P`` trains them), next to the cage-level
test of the same maps. Only factorial contrasts are tested (``--contrasts``; Holm over m
comparisons needs P >= 20 m - 1 permuted runs before a pixel can reach 0.05).

Run::

    .venv/bin/python benchmarks/bench_explain.py planted --seeds 0 1 2    # ~30 s per seed
    .venv/bin/python benchmarks/bench_explain.py null --cohorts 60        # ~30 s per cohort
    .venv/bin/python benchmarks/bench_explain.py null --cohorts 60 --folds balanced
    nice -n 19 .venv/bin/python benchmarks/bench_explain.py sanity --cohorts 40 --seeds 0 1 \
        --cages 6 --per-cage 2 --hours 2 --bins 12 --epochs 3 --channels 2 --retrained 19 \
        --contrasts "age (A - J)" --null-maps occlusion_space --permutations 200
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from napari_mousestop.design import StudyDesign
from napari_mousestop.explain.maps import input_maps
from napari_mousestop.explain.run import out_of_fold
from napari_mousestop.explain.stats import class_average, compare_all, default_contrasts
from napari_mousestop.learning.config import TrainConfig
from napari_mousestop.learning.training import train_fold
from napari_mousestop.synthetic.generate import PLANTED_PLACES, planted_histograms
from napari_mousestop.synthetic.motion import PLACES

MAPS = ("contribution", "contribution_k3", "contribution_k9", "occlusion_space", "input")
PRIMARY = "occlusion_space"


def _distance(y: float, x: float, classes) -> float:
    return min(float(np.hypot(y - py, x - px)) for c in classes for px, py in PLANTED_PLACES[c])


def cross_validate(ds, config, scheme: str):
    """Fold models of one cage held out at a time (``cage``), or of one female and one male
    cage held out together (``balanced``: every training set keeps both sexes equally)."""
    cages = np.asarray(ds.cages)
    names = np.unique(cages)
    if scheme == "cage":
        groups = [[c] for c in names]
    else:
        sex = {c: ds.classes[ds.labels[cages == c][0]][1] for c in names}
        groups = [list(g) for g in zip(*(sorted(c for c in names if sex[c] == s) for s in "FM"),
                                       strict=True)]  # fmt: skip
    folds, pred = [], np.zeros(len(cages), int)
    for k, group in enumerate(groups):
        test = np.flatnonzero(np.isin(cages, group))
        train = np.flatnonzero(~np.isin(cages, group))
        model, scaler, _, proba = train_fold(ds, train, test, config, 1000 * config.seed + k)
        pred[test] = proba.argmax(1)
        folds.append(SimpleNamespace(cages=group, test_index=test, model=model, scaler=scaler))
    return folds, float(np.mean(pred == ds.labels))


def explained(ds, args, seed):
    """Out-of-fold maps of the cohort's spatial maps plus its stop maps, and the CV accuracy."""
    config = TrainConfig(epochs=args.epochs, lr=args.lr, seed=seed, channels=args.channels)
    folds, acc = cross_validate(ds, config, args.folds)
    per_sample = out_of_fold(
        folds, ds.X, classes=ds.classes, which=("contribution", "occlusion_space"),
        stride=args.stride,
    )  # fmt: skip
    maps = [m for m in per_sample if m.name in MAPS] + [input_maps(ds.X, classes=ds.classes)]
    return maps, acc


def planted(args) -> dict:
    rows: dict[tuple[str, str], list[str]] = {}
    failures, checks, timings = [], 0, []
    for seed in args.seeds:
        t0 = time.perf_counter()
        ds = planted_histograms(args.cages, args.per_cage, args.hours, args.bins, seed=seed)
        maps, acc = explained(ds, args, seed)
        t1 = time.perf_counter()
        results, skipped = compare_all(
            maps,
            ds.labels,
            ds.cages,
            primary=PRIMARY,
            n_permutations=args.permutations,
            design=StudyDesign.from_dataset(ds),
        )
        t2 = time.perf_counter()
        timings.append({"seed": seed, "train_and_maps_s": round(t1 - t0, 1),
                        "tests_s": round(t2 - t1, 1), "accuracy": acc})  # fmt: skip
        print(f"seed {seed}: LOCO accuracy {acc:.3f}; {timings[-1]}", flush=True)
        for m in maps:
            panels = class_average(m, ds.labels)
            ys, xs = m.placement.centres(m.data.shape[-2:])
            for k, cls in enumerate(ds.classes):
                iy, ix = np.unravel_index(np.nanargmax(panels.data[k]), panels.data.shape[1:])
                d = _distance(ys[iy], xs[ix], [cls])
                checks += 1
                if d >= 5:
                    failures.append((seed, m.name, f"panel {cls}", round(d, 1)))
                rows.setdefault((m.name, f"panel {cls}"), []).append(f"{d:.1f}")
            for comp in results[m.name]:
                cells = []
                for sign, side in ((1, comp.contrast.positive), (-1, comp.contrast.negative)):
                    for which, mask in (("alone", comp.p_values <= 0.05), ("adj", None)):
                        at = comp.extreme(sign, mask)
                        if at is None:
                            cells.append("n.s.")
                            continue
                        d = _distance(*at, side)
                        checks += 1
                        if d >= 5:
                            failures.append((seed, m.name, comp.name, which, sign, round(d, 1)))
                        cells.append(f"{d:.1f}")
                rows.setdefault((m.name, comp.name), []).append(" / ".join(cells))
    print("\nDistance (cm) to the nearest planted place, seeds " + ", ".join(map(str, args.seeds)))
    print("class panels: peak; comparisons: most positive significant pixel (alone / adjusted) "
          "/ most negative (alone / adjusted)\n")  # fmt: skip
    print("| map | panel or comparison | " + " | ".join(f"seed {s}" for s in args.seeds) + " |")
    print("|---|---|" + "---|" * len(args.seeds))
    for (name, what), cells in rows.items():
        print(f"| `{name}` | {what} | " + " | ".join(cells) + " |")
    print(f"\n{checks - len(failures)} of {checks} significant extremes and peaks within 5 cm")
    for f in failures:
        print("  beyond 5 cm:", f)
    return {"rows": {f"{k[0]} | {k[1]}": v for k, v in rows.items()}, "checks": checks,
            "failures": failures, "timings": timings}  # fmt: skip


def null(args) -> dict:
    shared = (PLACES["dome"], PLACES["feeder_left"], PLACES["water"])
    places = {c: shared for c in ("AM", "JM", "AF", "JF")}  # no class differs from another
    alone: dict[tuple[str, str], int] = {}
    family = {"primary": 0, "secondary_evidence": 0, "secondary_stops": 0, "any_alone": 0}
    accs, t0 = [], time.perf_counter()
    for i in range(args.cohorts):
        seed = 1000 + i
        ds = planted_histograms(args.cages, args.per_cage, args.hours, args.bins, places=places,
                                cage_effect=0.5, seed=seed)  # fmt: skip
        maps, acc = explained(ds, args, seed)
        accs.append(acc)
        results, _ = compare_all(
            maps,
            ds.labels,
            ds.cages,
            primary=PRIMARY,
            n_permutations=args.permutations,
            design=StudyDesign.from_dataset(ds),
        )
        hit_alone = False
        for name, comps in results.items():
            for c in comps:
                hit = bool((c.p_values <= 0.05).any())
                alone[name, c.name] = alone.get((name, c.name), 0) + hit
                hit_alone |= hit
        family["any_alone"] += hit_alone
        family["primary"] += any(c.mask.any() for c in results[PRIMARY])
        family["secondary_evidence"] += any(
            c.mask.any() for n in results if n not in (PRIMARY, "input") for c in results[n]
        )
        family["secondary_stops"] += any(c.mask.any() for c in results["input"])
        if (i + 1) % 10 == 0:
            print(f"{i + 1} cohorts, {time.perf_counter() - t0:.0f} s", flush=True)
    n = args.cohorts
    print(f"\n{n} null cohorts (mean LOCO accuracy {np.mean(accs):.3f}, chance 0.25): share "
          "with any pixel p <= 0.05, each comparison alone (FWER over its map)\n")  # fmt: skip
    comps = list(dict.fromkeys(c for _, c in alone))
    names = list(dict.fromkeys(m for m, _ in alone))
    print("| comparison | " + " | ".join(f"`{m}`" for m in names) + " |")
    print("|---|" + "---|" * len(names))
    for c in comps:
        print(f"| {c} | " + " | ".join(f"{alone[m, c] / n:.1%}" for m in names) + " |")
    print(f"\nany comparison of any map, unadjusted: {family['any_alone'] / n:.1%}")
    print(f"after the adjustment: primary family ({PRIMARY}) {family['primary'] / n:.1%}; "
          f"secondary family, evidence maps {family['secondary_evidence'] / n:.1%}, "
          f"stop maps {family['secondary_stops'] / n:.1%}")  # fmt: skip
    return {"per_comparison": {f"{m} | {c}": v / n for (m, c), v in alone.items()},
            "family": {k: v / n for k, v in family.items()}, "cohorts": n,
            "mean_accuracy": float(np.mean(accs)), "seconds": time.perf_counter() - t0}  # fmt: skip


def _cv(ds, config, labels=None):
    """Leave-one-cage-out fold models trained on ``labels`` (default: the dataset's)."""
    cages = np.asarray(ds.cages)
    folds = []
    for k, cage in enumerate(np.unique(cages)):
        test, train = np.flatnonzero(cages == cage), np.flatnonzero(cages != cage)
        model, scaler, _, _ = train_fold(ds, train, test, config, 1000 * config.seed + k,
                                         labels=labels)  # fmt: skip
        folds.append(SimpleNamespace(test_index=test, model=model, scaler=scaler))
    return folds


def _retrained_cohort(ds, args, seed, which=("contribution", "occlusion_space")):
    """Observed and retrained maps of one cohort, the cage-level and the retrained tests."""
    from napari_mousestop.design import StudyDesign
    from napari_mousestop.explain.retrained import retrained_comparisons

    config = TrainConfig(epochs=args.epochs, lr=args.lr, seed=seed, channels=args.channels)

    def explain(folds):
        maps = out_of_fold(folds, ds.X, classes=ds.classes, stride=args.stride, which=which)
        return [m for m in maps if m.name in MAPS] + [input_maps(ds.X, classes=ds.classes)]

    folds = _cv(ds, config)
    maps = explain(folds)
    scheme = StudyDesign.from_dataset(ds).scheme_for("accuracy")
    rng = np.random.default_rng([seed, 0x7065726D])
    drawn = scheme.labellings(max(4 * args.retrained, 64), rng)
    drawn = drawn[(drawn != ds.labels).any(axis=1)]
    runs, null_maps, first_folds = [], {}, None
    for i in range(args.retrained):
        labels = drawn[rng.integers(len(drawn))]
        pfolds = _cv(ds, config, labels)
        first_folds = first_folds or pfolds
        runs.append(SimpleNamespace(number=i + 1, labels=labels))
        null_maps[i + 1] = {m.name: m.data for m in explain(pfolds)}
    # factorial contrasts only (--contrasts): Holm over m comparisons needs P >= 20 m - 1
    # before any pixel can reach 0.05
    design = StudyDesign.from_dataset(ds)
    chosen = [c for c in default_contrasts(design) if c.name in args.contrasts]
    cage_level, _ = compare_all(maps, ds.labels, ds.cages, chosen, primary=PRIMARY,
                                n_permutations=args.permutations, design=design)  # fmt: skip
    families = {"primary": [PRIMARY], "secondary": [m.name for m in maps if m.name != PRIMARY]}
    retrained = retrained_comparisons(cage_level, {m.name: m for m in maps}, runs, null_maps,
                                      design, "t", families, 0.05)  # fmt: skip
    return SimpleNamespace(folds=folds, maps=maps, explain=explain, permuted=first_folds,
                           cage_level=cage_level, retrained=retrained)  # fmt: skip


def _family_hits(results) -> dict[str, bool]:
    """Whether each family (and the secondary family's evidence and stop maps) has a
    significant pixel; a part without maps is left out."""
    evidence = [n for n in results if n not in (PRIMARY, "input")]
    out = {
        "primary": any(c.mask.any() for c in results[PRIMARY]),
        "secondary_stops": any(c.mask.any() for c in results["input"]),
    }
    if evidence:
        out["secondary_evidence"] = any(c.mask.any() for n in evidence for c in results[n])
    return out


def sanity(args) -> dict:
    from napari_mousestop.explain.sanity import model_randomisation_check

    t0 = time.perf_counter()
    checks, power = [], {}
    for seed in args.seeds:
        ds = planted_histograms(args.cages, args.per_cage, args.hours, args.bins, seed=seed)
        co = _retrained_cohort(ds, args, seed)
        check = model_randomisation_check(co.folds, ds.X, ds.labels, ds.classes, co.maps,
                                          co.explain, co.permuted, seed=seed)  # fmt: skip
        checks.append(check)
        for name in (PRIMARY, "contribution"):
            for c in co.retrained[name]:
                at = c.extreme(1)
                near = at is not None and _distance(*at, c.contrast.positive) < 5
                hits = power.setdefault((name, c.name), [0, 0])
                hits[0] += bool(c.mask.any())
                hits[1] += near
        print(f"planted seed {seed}: {time.perf_counter() - t0:.0f} s", flush=True)
    seeds = ", ".join(map(str, args.seeds))
    print(f"\nModel randomisation check on planted cohorts (seeds {seeds}): mean Spearman "
          "over classes and seeds\n")  # fmt: skip
    first = checks[0]
    print("| map | " + " | ".join(first.randomisations) + " | verdict |")
    print("|---|" + "---|" * (len(first.randomisations) + 1))
    table = {}
    for name in first.maps:
        cells = [float(np.nanmean([c.mean_spearman(name, r) for c in checks]))
                 for r in first.randomisations]  # fmt: skip
        flagged = sum(name in c.insensitive for c in checks)
        verdict = f"not sensitive ({flagged}/{len(checks)} seeds)" if flagged else "passes"
        table[name] = {"spearman": cells, "flagged": flagged}
        print(f"| `{name}` | " + " | ".join(f"{v:.2f}" for v in cells) + f" | {verdict} |")
    n = len(args.seeds)
    print(f"\nPower of the retrained test ({args.retrained} permuted runs, min p "
          f"{1 / (args.retrained + 1):.3f}) on planted cohorts: share of seeds with a significant "
          "pixel (adjusted) / with its most positive one within 5 cm of a place of the first "
          "classes\n")  # fmt: skip
    print("| map | comparison | significant | within 5 cm |\n|---|---|---|---|")
    for (name, comp), (hit, near) in power.items():
        print(f"| `{name}` | {comp} | {hit}/{n} | {near}/{n} |")
    shared = (PLACES["dome"], PLACES["feeder_left"], PLACES["water"])
    places = {c: shared for c in ("AM", "JM", "AF", "JF")}
    fwer = {"retrained": {}, "cage_level": {}}
    for i in range(args.cohorts):
        ds = planted_histograms(args.cages, args.per_cage, args.hours, args.bins, places=places,
                                cage_effect=0.5, seed=args.first_null + i)  # fmt: skip
        co = _retrained_cohort(ds, args, args.first_null + i, which=args.null_maps)
        for kind, res in (("retrained", co.retrained), ("cage_level", co.cage_level)):
            for fam, hit in _family_hits(res).items():
                fwer[kind][fam] = fwer[kind].get(fam, 0) + hit
        print(f"null cohort {i + 1}: {time.perf_counter() - t0:.0f} s; {fwer}", flush=True)
    m = max(args.cohorts, 1)
    print(f"\nFamily-wise false-positive rate on {args.cohorts} null cohorts (alpha 0.05)\n")
    print("| test | primary (occlusion_space) | secondary: evidence maps | secondary: stop maps |")
    print("|---|---|---|---|")
    for kind, row in fwer.items():
        print(f"| {kind} | " + " | ".join(f"{row[f]}/{m}" if f in row else "not computed" for f in
              ("primary", "secondary_evidence", "secondary_stops")) + " |")  # fmt: skip
    return {"randomisation": table, "power": {f"{a} | {b}": v for (a, b), v in power.items()},
            "fwer": fwer, "cohorts": args.cohorts, "seconds": time.perf_counter() - t0}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("mode", nargs="?", choices=("planted", "null", "sanity"), default="planted")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--cohorts", type=int, default=100, help="null cohorts")
    ap.add_argument("--cages", type=int, default=12)
    ap.add_argument("--per-cage", type=int, default=4)
    ap.add_argument("--hours", type=int, default=6, help="T")
    ap.add_argument("--bins", type=int, default=30, help="N")
    ap.add_argument("--epochs", type=int, default=25)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--channels", type=int, default=16)
    ap.add_argument("--permutations", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--stride", type=int, default=2, help="step of the occluded squares")
    ap.add_argument("--folds", choices=("cage", "balanced"), default="cage",
                    help="hold out one cage, or one female and one male cage together")  # fmt: skip
    ap.add_argument("--retrained", type=int, default=19,
                    help="sanity: permuted cross-validations per cohort")  # fmt: skip
    ap.add_argument("--contrasts", nargs="+", default=["sex (F - M)", "age (A - J)", "sex x age"],
                    help="sanity: the factorial contrasts tested")  # fmt: skip
    ap.add_argument("--first-null", type=int, default=1000,
                    help="sanity: seed of the first null cohort (more cohorts: a later start)")
    ap.add_argument("--null-maps", nargs="+", default=["contribution", "occlusion_space"],
                    help="sanity: evidence maps of the null cohorts")  # fmt: skip
    ap.add_argument("--json", type=Path, default=None, help="write the results here too")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out = {"planted": planted, "null": null, "sanity": sanity}[args.mode](args)
    if args.json:
        record = {"machine": f"{platform.machine()}, {torch.get_num_threads()} thread(s)",
                  "arguments": vars(args) | {"json": str(args.json)}, **out}  # fmt: skip
        args.json.write_text(json.dumps(record, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
