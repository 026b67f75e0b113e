"""A run report in words: each interval and test as one sentence plus what it assumes, and
the ``report.md`` page built from them (also shown by the Train widget)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from napari_mousestop.learning.config import TrainConfig
    from napari_mousestop.learning.report import Report
    from napari_mousestop.learning.stats import CageEstimate, PermutationResult

FOLD_DESCRIPTIONS = {
    "cage": "leave one cage out: each fold holds out every recording of one cage",
    "balanced": (
        "balanced: each fold holds out one cage of every kind (cages grouped by the classes "
        "they hold, e.g. one male and one female cage) together, so the training set keeps "
        "the cohort's class balance"
    ),
}


def settings_note(config: TrainConfig) -> str:
    """The report's statement that the settings were fixed before looking at held-out data."""
    return (
        f"Settings fixed before training: {config.epochs} epochs, input scaling {config.scaling}, "
        f"SGD lr {config.lr:g}, momentum {config.momentum:g}, batch {config.batch_size}, "
        f"weight decay {config.weight_decay:g}, {config.channels} channels, kernels "
        f"{list(config.kernel_sizes)}, seed {config.seed}; no early stopping, and this run "
        "chose nothing on held-out cages: their accuracy per epoch (learning curves) is "
        "recorded only."
    )


SETTINGS_ASSUMES = (
    "accuracy, intervals and p-values are unbiased only if no setting (epochs, scaling, ...) "
    "was chosen by looking at this cohort's held-out results (learning curves or earlier runs); "
    "choose settings on other data, or by cross-validation nested inside each training fold"
)


@dataclass(frozen=True)
class Statement:
    """One figure of the report in words: ``what`` (the figure) and ``assumes``."""

    topic: str
    what: str
    assumes: str


def _ci(est: CageEstimate) -> str:
    i = est.interval
    return f"{i.level:.0%} cage-level interval {i.low:.3f}-{i.high:.3f} ({i.method})"


def _perm(p: PermutationResult) -> str:
    if not p.valid:
        return f"no permutation test: {p.reason}"
    how = (
        f"exact, all {p.n_labellings} labellings"
        if p.exact
        else f"{p.n_permutations} of {p.n_labellings:.3g} labellings"
    )
    return (
        f"permutation p = {p.p_value:.4g} ({how}, unit {p.unit}, smallest possible p "
        f"{p.min_p:.3g}; null mean {p.null_mean:.3f}, 95th percentile {p.null_q95:.3f})"
    )


def statements(report: Report) -> list[Statement]:
    """Every interval and test of ``report``, each with the one line it assumes."""
    cnn, n = report.cnn, report.cnn.n
    right = round(cnn.accuracy.value * n)
    w = cnn.animal_interval
    out = [
        Statement(
            "accuracy",
            f"CNN accuracy {cnn.accuracy.value:.3f} ({right}/{n} animal-recordings, "
            f"{report.n_cages} cages); {_ci(cnn.accuracy)}",
            cnn.accuracy.interval.assumes,
        ),
        Statement(
            "animal-level interval",
            f"Animal-level Wilson interval {w.low:.3f}-{w.high:.3f}, for reference only",
            w.assumes,
        ),
        Statement(
            "permutation test",
            f"Accuracy above chance: {_perm(report.permutation)}"
            + (f"; scheme: {report.permutation.scheme}" if report.permutation.valid else ""),
            report.permutation.assumes,
        ),
    ]
    retrained = report.retrained_permutation
    if retrained is not None:
        out.append(
            Statement(
                "full-pipeline permutation test",
                f"Training procedure above chance: {_perm(retrained)}, every relabelling "
                f"cross-validated again (prediction-permutation p = "
                f"{report.permutation.p_value:.4g})",
                retrained.assumes,
            )
        )
    rep = report.repeats
    if rep is not None:
        acc = rep.accuracy
        per_class = ", ".join(f"{c} {v.mean:.3f} (SD {v.sd:.3f})" for c, v in rep.per_class.items())
        out.append(
            Statement(
                "repeated seeds",
                f"Over {len(rep.seeds)} seeds ({', '.join(map(str, rep.seeds))}): accuracy "
                f"mean {acc.mean:.3f}, SD {acc.sd:.3f}, range {acc.min:.3f}-{acc.max:.3f}; per "
                f"class {per_class}; the ensemble (probabilities averaged over seeds) "
                f"{rep.ensemble.accuracy.value:.3f}, {_ci(rep.ensemble.accuracy)}",
                rep.note,
            )
        )
    for name, f in report.factors.items():
        by = ", ".join(f"{k} {v:.3f}" for k, v in f.class_accuracy_by_level.items())
        assumes = "; ".join(
            a for a in (f.accuracy.interval.assumes, f.permutation.assumes, f.caveat) if a
        )
        out.append(
            Statement(
                name,
                f"{name.capitalize()} alone: the predicted class has the right {name} for "
                f"{f.accuracy.value:.3f}; {_ci(f.accuracy)}; {_perm(f.permutation)} "
                f"(class accuracy by true {name}: {by})",
                assumes,
            )
        )
    for name, c in report.comparisons.items():
        t = c.test
        how = f"exact, all {t.n_resamples} sign flips" if t.exact else f"{t.n_resamples} flips"
        out.append(
            Statement(
                f"CNN vs {name}",
                f"CNN minus {name}: {c.difference:+.3f} accuracy, {c.interval.level:.0%} "
                f"cage-level interval {c.interval.low:+.3f} to {c.interval.high:+.3f}; sign-flip "
                f"test over {t.n_units} cages p = {t.p_value:.4g} ({how}); CNN alone right for "
                f"{c.a_only} animal-recordings, {name} alone for {c.b_only}",
                c.interval.assumes + "; " + t.assumes,
            )
        )
    ref = report.null_reference
    out += [
        Statement(
            "null reference",
            f"Chance {ref.chance:.3f} (1/{round(1 / ref.chance)} classes); a model that learned "
            f"only its training folds' class frequencies would score {ref.frequency_guess:.3f} "
            f"under these folds; permutation null mean {ref.permutation_null_mean:.3f}",
            ref.assumes,
        ),
        Statement(
            "folds",
            f"Folds: {report.fold_description} ({len(report.folds)} folds)",
            "held-out cages never shape the scaler, the PCA or the model of their fold",
        ),
        Statement("settings", report.settings_note, SETTINGS_ASSUMES),
    ]
    return out


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return lines + ["| " + " | ".join(r) + " |" for r in rows]


def _where(cfg: dict) -> str:
    ex = cfg.get("execution") or {}
    if ex.get("scheduler"):
        return f"models trained on the Dask cluster {ex['scheduler']}"
    if ex.get("workers"):
        return f"models trained in {ex['workers']} worker processes"
    return "models trained one after the other in one process"


_WHERE = {
    "cage": "between cages",
    "recording": "within a cage, across recordings",
    "animal": "within a recording, across animals",
}


def design_lines(report: Report) -> list[str]:
    """The design table and the table of tests (primary, then the Holm family), for the top
    of ``report.md`` (ARRIVE: experimental unit and sample size)."""
    d = report.design
    if not d:
        return []
    lines = [
        "## Design",
        "",
        f"Experimental unit: **{d['experimental_unit']}** ({d['n_cages']} cages, "
        f"{d['n_animals']} animals, {d['n_recordings']} cage-recordings, {d['n_samples']} "
        "animal-recordings).",
        "",
    ]
    lines += _table(
        ["factor", "values", "varies"],
        [[f["name"], ", ".join(f["values"]), f["where"]] for f in d["factors"]],
    )
    lines += [""]
    lines += _table(
        ["class", "cages", "animals", "animal-recordings"],
        [[c, str(v["cages"]), str(v["animals"]), str(v["samples"])]
         for c, v in d["per_class"].items()],
    )  # fmt: skip
    rows = []
    for t in report.tests:
        ran = t["p"] == t["p"]  # not NaN
        rows.append([
            t["test"], t["role"], t["unit"] or "-",
            f"{t['n_labellings']:.4g}" + (" (all)" if t["exact"] and ran else ""),
            f"{t['min_p']:.3g}" if ran else "-",
            f"{t['p']:.4g}" if ran else f"no test: {t['reason']}",
            f"{t['p_holm']:.4g}" if ran and t["role"] == "secondary" else "-",
        ])  # fmt: skip
    lines += [
        "",
        "Tests: the primary test was named in advance (the full-pipeline permutation test when "
        "it was run, else the prediction-permutation test of accuracy); the other tests form "
        "one family, Holm-adjusted.",
        "",
        *_table(["test", "role", "unit", "labellings", "smallest p", "p", "p (Holm)"], rows),
        "",
    ]
    return lines


def markdown(report: Report) -> str:
    """``report.md``: tables CNN vs baselines, every test with its assumption, the confusion
    matrix, folds and settings."""
    ds, classes = report.dataset, report.classes
    models = [("CNN", report.cnn)] + [(k, b.summary) for k, b in report.baselines.items()]
    if report.repeats is not None:
        k = len(report.repeats.seeds)
        models.insert(1, (f"CNN ensemble of {k} seeds", report.repeats.ensemble))
    rows = []
    for name, s in models:
        i, w = s.accuracy.interval, s.animal_interval
        comp = report.comparisons.get(name)
        vs = "" if comp is None else f"{-comp.difference:+.3f} (p = {comp.test.p_value:.3g})"
        rows.append(
            [
                name,
                f"{s.accuracy.value:.3f}",
                f"{i.low:.3f}-{i.high:.3f}",
                f"{w.low:.3f}-{w.high:.3f}",
                f"{s.balanced_accuracy:.3f}",
                vs,
            ]
        )
    lines = [
        "# Cross-validation results",
        "",
        f"Dataset: `{ds['path']}` ({ds['n_samples']} animal-recordings, {ds['n_cages']} cages, "
        f"T={ds['n_intervals']}, N={ds['n_bins']}). Created {report.created}.",
        f"Folds: {report.fold_description}.",
        "",
        *design_lines(report),
        "## Accuracy",
        "",
        *_table(
            [
                "model",
                "accuracy",
                "95% interval (cages, Wilson with design effect)",
                "animal-level Wilson (optimistic)",
                "balanced accuracy",
                "minus CNN (sign-flip p)",
            ],
            rows,
        ),
        "",
        "## Intervals and tests, each with what it assumes",
        "",
    ]
    for s in statements(report):
        lines += [f"* **{s.topic}.** {s.what.rstrip('.')}.", f"  *Assumes:* {s.assumes}."]
    lines += ["", f"**Null reference.** {report.null_reference.note}"]
    per_cage = [b.summary.accuracy.per_cage for b in report.baselines.values()]
    cage_rows = [
        [cage, f"{acc:.3f}", *(f"{b[cage]:.3f}" for b in per_cage)]
        for cage, acc in report.cnn.accuracy.per_cage.items()
    ]
    lines += ["", "## Accuracy by cage", ""]
    lines += _table(["cage", "CNN", *report.baselines], cage_rows)
    lines += ["", "## Confusion matrix (rows: true, columns: predicted)", ""]
    lines += _table(
        ["", *classes],
        [
            [f"**{c}**", *(str(v) for v in row)]
            for c, row in zip(classes, report.cnn.confusion_matrix, strict=True)
        ],
    )
    lines += ["", "## Folds", ""]
    lines += _table(
        ["fold", "held-out cages", "test animals", "accuracy"],
        [[f.cage, ", ".join(f.cages), str(f.n_test), f"{f.accuracy:.3f}"] for f in report.folds],
    )
    cfg = report.config
    lines += [
        "",
        "## Settings",
        "",
        f"{report.settings_note} Device {cfg['device_used']}; {_where(cfg)}; training took "
        f"{report.cv_seconds:.1f} s.",
        "",
    ]
    return "\n".join(lines)
