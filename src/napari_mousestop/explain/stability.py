"""Stability of the evidence maps across training seeds (``mousestop train --repeats K``).

A run repeated with ``K`` seeds keeps the fold models of its first seed in ``RUN/folds`` and
those of every other seed in ``RUN/repeats/seed_<seed>/``. For each seed the out-of-fold maps
are computed and tested as the run's own (cage-level tests, adjusted the same way); per map
kind this gives the class panels of every seed, their mean and per-pixel spread (standard
deviation over seeds), and for each comparison the share of seeds in which each pixel is
significant. A place that is significant with one seed only is a property of that seed's
models, not of the animals.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from napari_mousestop.explain.maps import ExplanationMap
from napari_mousestop.progress import ProgressCallback, notify


def repeat_folds(run_dir: str | Path) -> dict[int, list[Any]]:
    """The fold models of the other seeds of a run (``RUN/repeats/seed_<seed>/*.pt``), read
    with ``weights_only=True``; ``{seed: folds}`` in the order of the seeds."""
    from napari_mousestop.learning.checkpoint import load_checkpoint

    out: dict[int, list[Any]] = {}
    folder = Path(run_dir) / "repeats"
    if not folder.is_dir():
        return out
    seeds = []
    for d in folder.glob("seed_*"):
        try:
            seeds.append((int(d.name.split("_", 1)[1]), d))
        except ValueError:
            continue  # not a seed folder
    for seed, d in sorted(seeds):
        folds = []
        for path in sorted(d.glob("*.pt")):
            ckpt = load_checkpoint(path)
            test = np.asarray(ckpt.meta["test_index"])
            folds.append(SimpleNamespace(model=ckpt.model, scaler=ckpt.scaler, test_index=test))
        if folds:
            out[seed] = folds
    return out


@dataclass
class Stability:
    """Maps of every seed of a run and how much they agree.

    Attributes
    ----------
    seeds
        The seeds, the run's own first.
    maps
        Per map kind: ``{name}_seeds`` (seed, class, y, x) class panels of every seed,
        ``{name}_seed_mean`` and ``{name}_seed_spread`` (class, y, x; spread: standard deviation
        over seeds), ``{name}_seed_share_significant`` (contrast, y, x, in [0, 1]).
    agreement
        Per map kind and comparison: the mean share of seeds in which the places significant
        for the run's own seed are significant (NaN where none is).
    """

    seeds: list[int]
    maps: list[ExplanationMap]
    agreement: dict[str, dict[str, float]] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """A markdown section for the index."""
        out = [
            "## Stability across seeds",
            "",
            f"Out-of-fold maps of {len(self.seeds)} seeds ({', '.join(map(str, self.seeds))}); "
            "each seed's comparisons tested as the run's own (cage-level tests). For each "
            "comparison: the mean share of seeds in which the places significant with the "
            "run's own seed are significant (n.s.: none is).",
            "",
        ]
        for name, per in self.agreement.items():
            cells = ", ".join(f"{c}: {'n.s.' if np.isnan(v) else f'{v:.2f}'}"
                              for c, v in per.items())  # fmt: skip
            out.append(f"- `{name}`: {cells}")
        return out


def stability(
    seeds: Sequence[int],
    per_seed: Sequence[Sequence[ExplanationMap]],
    test: Callable[[Sequence[ExplanationMap]], dict[str, list]],
    labels: np.ndarray,
    progress: ProgressCallback | None = None,
) -> Stability:
    """Class panels, their mean and spread over seeds, and the share of seeds significant.

    Parameters
    ----------
    seeds
        One seed per entry of ``per_seed``, the run's own first.
    per_seed
        The per-animal spatial maps of each seed (same names in each).
    test
        ``test(maps)``: the comparisons of those maps, ``{name: [Comparison, ...]}`` (e.g.
        :func:`~napari_mousestop.explain.stats.compare_all` with the run's settings).
    labels
        True class of each animal.
    """
    from napari_mousestop.explain.stats import class_average

    if len(seeds) != len(per_seed) or not seeds:
        raise ValueError("one list of maps per seed is needed")
    tested = []
    for k, maps in enumerate(per_seed):
        tested.append(test(maps))
        notify(progress, k + 1, len(seeds), f"seed {seeds[k]} tested")
    out: list[ExplanationMap] = []
    agreement: dict[str, dict[str, float]] = {}
    for i, first in enumerate(per_seed[0]):
        panels = np.stack([np.asarray(class_average(maps[i], labels).data) for maps in per_seed])
        axes = ("seed", *class_average(first, labels).axes)
        meta = {**first.meta, "seeds": list(seeds)}
        out += [
            replace(first, name=f"{first.name}_seeds", data=panels, axes=axes, meta=meta),
            replace(first, name=f"{first.name}_seed_mean", data=panels.mean(0), axes=axes[1:],
                    meta=meta),
            replace(first, name=f"{first.name}_seed_spread",
                    data=panels.std(0, ddof=1) if len(seeds) > 1 else np.zeros(panels.shape[1:]),
                    axes=axes[1:], meta={**meta, "spread": "standard deviation over seeds"}),
        ]  # fmt: skip
        comps = [t.get(first.name, []) for t in tested]
        if not comps[0]:
            continue
        masks = np.stack([[np.asarray(c.mask, bool) for c in cs] for cs in comps])
        share = masks.mean(0)
        names = tuple(c.name for c in comps[0])
        out.append(replace(comps[0][0].difference, name=f"{first.name}_seed_share_significant",
                           data=share, axes=("contrast", *comps[0][0].difference.axes),
                           classes=names, kind="share",
                           meta={"seeds": list(seeds), "long_name": "share of seeds in which "
                                 "the pixel is significant (adjusted)"}))  # fmt: skip
        agreement[first.name] = {
            n: float(share[k][masks[0, k]].mean()) if masks[0, k].any() else float("nan")
            for k, n in enumerate(names)
        }
    return Stability(list(seeds), out, agreement)


__all__ = ["Stability", "repeat_folds", "stability"]
