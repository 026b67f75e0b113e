"""What ``explain_run`` checks besides the maps of the run: the model randomisation check
(:mod:`.sanity`), the retrained null of the map comparisons (:mod:`.retrained`) and the
stability across seeds (:mod:`.stability`), with what each adds to the maps file and the index.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from napari_mousestop.explain.maps import ExplanationMap, input_maps
from napari_mousestop.explain.retrained import (
    explain_folds_fn,
    permuted_maps,
    permuted_runs,
    retrained_comparisons,
    run_config,
)
from napari_mousestop.explain.sanity import SanityCheck
from napari_mousestop.explain.stability import Stability, repeat_folds, stability
from napari_mousestop.progress import ProgressCallback, notify


class RunChecks:
    """The checks of one ``explain_run`` call (see :func:`~.run.explain_run`)."""

    def __init__(
        self, run, run_dir: Path, out_dir: Path, dataset, per_sample: Sequence, geometry,
        classes: Sequence[str], which: Sequence[str], patch: int, stride: int, seed: int,
        workers: int, scheduler: str | None, progress: ProgressCallback | None,
    ) -> None:  # fmt: skip
        from napari_mousestop.explain.run import out_of_fold

        self.run, self.dataset, self.per_sample = run, dataset, list(per_sample)
        self.out_dir, self.seed, self.progress = out_dir, seed, progress
        self.workers, self.scheduler = workers, scheduler
        self.labels, self.cages = np.asarray(dataset.labels), np.asarray(dataset.cages)
        self.classes = tuple(classes)
        self.explain = explain_folds_fn(
            partial(out_of_fold, X=dataset.X, geometry=geometry, classes=self.classes,
                    which=tuple(which), patch=patch, stride=stride),
            partial(input_maps, dataset.X, geometry, self.classes),
        )  # fmt: skip
        self.settings = {"which": sorted(which), "patch": patch, "stride": stride,
                         "baseline": "empty"}  # fmt: skip
        self.permuted, self.counts = permuted_runs(run_dir, dataset, run.report)
        self.run_dir = run_dir
        self.reused = 0
        self.min_p: float | None = None
        self.exact = False

    def _step(self, stage: str) -> ProgressCallback:
        return lambda p: notify(self.progress, p.done, p.total, stage)

    def sanity(self) -> SanityCheck:
        """The model randomisation check of every map kind."""
        from napari_mousestop.explain.sanity import (
            model_randomisation_check,
            permuted_label_folds,
        )

        notify(self.progress, 0, 1, "sanity: permuted-label models")
        folds, source = permuted_label_folds(
            self.dataset, run_config(self.run.report), self.permuted, self.seed
        )
        return model_randomisation_check(
            self.run.folds, self.dataset.X, self.labels, self.classes, self.per_sample,
            self.explain, folds, self.seed, meta={"permuted": source},
            progress=self._step("sanity"),
        )  # fmt: skip

    def retrained(self, results: dict, primary: str, alpha: float, statistic: str) -> dict:
        """``results`` with the retrained null when the run holds retrained permutations."""
        if not self.permuted or not results:
            return results
        spatial = {m.name: m for m in self.per_sample if isinstance(m, ExplanationMap)}
        names = [n for n in results if n != "input"]  # stop maps: the same in every run
        # a run on the observed labelling (every labelling retrained) is the observed run
        others = [r for r in self.permuted if not np.array_equal(r.labels, self.labels)]
        maps, self.reused = permuted_maps(
            others, self.explain, names, self.settings, self.out_dir / "permutation_maps",
            self._step("permuted runs"), self.workers, self.scheduler,
        )  # fmt: skip
        families = {"primary": [primary], "secondary": [n for n in results if n != primary]}
        from napari_mousestop.design import StudyDesign

        design = StudyDesign.from_dataset(self.dataset)
        out = retrained_comparisons(
            results, spatial, self.permuted, maps, design, statistic, families, alpha
        )
        first = next((c for c in out.values() if c), [])
        self.min_p = first[0].meta["min_p"] if first else None
        self.exact = bool(first and first[0].meta["exact"])
        return out

    def stability(self, test: Callable[[Sequence[ExplanationMap]], dict]) -> Stability | None:
        """Maps and agreement of every seed of a run repeated with several seeds."""
        others = repeat_folds(self.run_dir)
        if not others:
            return None
        spatial = [m for m in self.per_sample if isinstance(m, ExplanationMap)]
        per_seed = [spatial]
        for k, folds in enumerate(others.values()):
            notify(self.progress, k, len(others), "seeds")
            maps = self.explain(folds)
            per_seed.append([m for m in maps if isinstance(m, ExplanationMap)])
        seeds = [int(self.run.report.get("config", {}).get("seed", 0)), *others]
        return stability(seeds, per_seed, test, self.labels, self._step("seeds tested"))

    def attrs(self, check: SanityCheck | None, stable: Stability | None) -> dict[str, Any]:
        """File attributes: which null the p-values have, the check's verdicts, the seeds."""
        out: dict[str, Any] = {
            "null": "retrained" if self.permuted else "cage-level",
            "confirmatory": bool(self.permuted),
            "retrained_permutations": {**self.counts, "maps_reused": self.reused},
        }
        if check is not None:
            out["sanity_threshold"] = check.threshold
            out["sanity_insensitive"] = check.insensitive
            out["sanity"] = check.meta
        if stable is not None:
            out["stability_seeds"] = stable.seeds
            out["stability_agreement"] = stable.agreement
        return out

    def lines(self, check: SanityCheck | None, stable: Stability | None) -> list[str]:
        """Index sections: which p-values are confirmatory, the check, the stability."""
        c = self.counts
        if self.permuted:
            n = len(self.permuted)
            out = [
                "",
                "## Confirmatory p-values",
                "",
                f"Every map comparison's p-values (dots, adjusted p) use the retrained null: the "
                f"out-of-fold maps of the run's {n} cross-validations retrained on labels "
                "permuted at the design's level, each tested against its own labels (max "
                f"statistic over the map). They are **confirmatory**"
                + (" and exact (every labelling of the design retrained)" if self.exact else "")
                + f"; the smallest attainable p is {self.min_p:.3g}. Permuted runs' maps reused "
                f"from `permutation_maps/`: {self.reused}.",
            ]
        else:
            out = [
                "",
                "## Confirmatory p-values",
                "",
                "None: the run holds no retrained permutations with fold models (train with "
                "`--retrain-permutations P`); the evidence maps' p-values are **exploratory**, "
                "those of the stop maps (`input`) exact.",
            ]
        if c["other_run"] or c["no_fold_models"]:
            out.append(
                f"Permutation files left out: {c['other_run']} of another dataset or settings, "
                f"{c['no_fold_models']} without their fold models."
            )
        if check is not None:
            out += ["", *check.lines()]
        if stable is not None:
            out += ["", *stable.lines()]
        return out
