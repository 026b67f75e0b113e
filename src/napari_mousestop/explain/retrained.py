"""The retrained null of the map comparisons: confirmatory, exact p-values.

The out-of-fold maps' cage-level permutation tests (:mod:`napari_mousestop.explain.stats`)
permute the labels of maps that fold models computed after learning the other cages' labels;
the maps are then not exchangeable under the null and those tests are exploratory. A run
trained with ``mousestop train --retrain-permutations P`` holds ``P`` whole cross-validations
retrained on labels permuted at the design's level
(:mod:`napari_mousestop.learning.permutation`), with their fold models
(``RUN/permutations/perm_NNNNN/fold_K.pt``). Each permuted run's out-of-fold maps, tested
against its own permuted labels, is one draw of the whole procedure (training, explaining,
testing) under the null; with the observed run they are exchangeable, so for every pixel

``p = (1 + #{permuted runs whose largest |statistic| over the map >= |observed statistic|}) /
(P + 1)``

is an exact family-wise p-value over the map (max statistic, as the cage-level test), the
smallest attainable is ``1 / (P + 1)``, and the adjustment across maps and comparisons
(:func:`~napari_mousestop.explain.stats.adjust`) stays what it is.

Each permuted run's maps are kept in ``OUT/permutation_maps/perm_NNNNN.npz`` under a key of the
permutation and the map settings: a second ``explain`` reuses them (and a larger ``P`` computes
only the new ones). With worker processes (``workers``/``scheduler``, the Dask cluster of
:mod:`napari_mousestop.cluster`) the permuted runs are explained in parallel.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from napari_mousestop.explain.maps import ExplanationMap, HourProfile
from napari_mousestop.io.atomic import atomic_path
from napari_mousestop.progress import ProgressCallback, notify

log = logging.getLogger(__name__)

CACHE_FORMAT = "napari-mousestop-permutation-maps/1"
"""Format of a permuted run's kept maps."""


@dataclass
class PermutedRun:
    """One retrained permutation of a run, read back: its number, labels and fold models.

    ``folds`` lists ``(checkpoint path, test indices)``; :meth:`load_folds` reads them.
    """

    number: int
    labels: np.ndarray
    folds: list[tuple[Path, np.ndarray]]
    key: str

    def load_folds(self) -> list[Any]:
        """The fold models (``.model``, ``.scaler``, ``.test_index``), read with
        ``weights_only=True``."""
        from napari_mousestop.learning.checkpoint import load_checkpoint

        out = []
        for path, test in self.folds:
            ckpt = load_checkpoint(path)
            out.append(SimpleNamespace(model=ckpt.model, scaler=ckpt.scaler, test_index=test))
        return out


def run_config(report: dict):
    """The :class:`~napari_mousestop.learning.config.TrainConfig` a run's report recorded."""
    from napari_mousestop.learning.config import TrainConfig

    names = {f.name for f in fields(TrainConfig)}
    return TrainConfig.from_dict({k: v for k, v in report.get("config", {}).items() if k in names})


def permuted_runs(run_dir, dataset, report: dict) -> tuple[list[PermutedRun], dict[str, int]]:
    """The retrained permutations of a run folder that kept their fold models.

    Returns
    -------
    runs, counts
        The usable permuted runs (by number) and how many files were found, used, and left out
        because they were trained on another dataset or other settings, or kept no fold models
        (trained by a version before fold models were kept).
    """
    from napari_mousestop.learning.permutation import FILE_FORMAT, run_key

    folder = Path(run_dir) / "permutations"
    counts = {"found": 0, "used": 0, "other_run": 0, "no_fold_models": 0}
    if not folder.is_dir():
        return [], counts
    key = run_key(dataset, run_config(report))
    runs = []
    for path in sorted(folder.glob("perm_*.json")):
        counts["found"] += 1
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            counts["other_run"] += 1
            continue
        if doc.get("format") != FILE_FORMAT or doc.get("key") != key:
            counts["other_run"] += 1
            continue
        folds = [(folder / f["model"], np.asarray(f["test_index"])) for f in doc.get("folds", [])]
        if not folds or not all(p.is_file() for p, _ in folds):
            counts["no_fold_models"] += 1
            continue
        runs.append(PermutedRun(int(doc["permutation"]), np.asarray(doc["labels"]), folds, key))
    counts["used"] = len(runs)
    return runs, counts


def _cache_key(run: PermutedRun, settings: dict) -> str:
    h = hashlib.sha256(json.dumps({"run": run.key, "n": run.number, **settings},
                                  sort_keys=True, default=str).encode())  # fmt: skip
    h.update(np.ascontiguousarray(run.labels).tobytes())
    return h.hexdigest()[:32]


def _load_cached(path: Path, key: str, names: Sequence[str]) -> dict[str, np.ndarray] | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["format"]) != CACHE_FORMAT or str(z["key"]) != key:
                return None
            return {n: z[f"map_{n}"] for n in names}
    except (OSError, KeyError, ValueError):
        return None  # damaged or another layout: computed again, then replaced


def _save_cached(path: Path, key: str, maps: dict[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, suffix=".npz") as tmp, open(tmp, "wb") as fh:
        arrays = {f"map_{n}": a.astype(np.float32) for n, a in maps.items()}
        np.savez_compressed(fh, format=CACHE_FORMAT, key=key, **arrays)


def _explain_permuted(run: PermutedRun, explain: Callable, names: Sequence[str]):
    """The out-of-fold maps ``names`` of one permuted run (runs on a worker too)."""
    maps = {m.name: np.asarray(m.data) for m in explain(run.load_folds())}
    return {n: maps[n] for n in names}


def permuted_maps(
    runs: Sequence[PermutedRun],
    explain: Callable[[Sequence[Any]], list[ExplanationMap | HourProfile]],
    names: Sequence[str],
    settings: dict,
    folder: str | Path | None,
    progress: ProgressCallback | None = None,
    workers: int = 0,
    scheduler: str | None = None,
) -> tuple[dict[int, dict[str, np.ndarray]], int]:
    """Per-animal maps ``names`` of every permuted run, from ``folder`` when kept there.

    Returns
    -------
    maps, reused
        ``maps[run number][name]`` (sample, ...), and how many runs came from ``folder``.
    """
    from napari_mousestop.learning.training import job_client

    folder = None if folder is None else Path(folder)
    out: dict[int, dict[str, np.ndarray]] = {}
    todo = []
    for run in runs:
        key = _cache_key(run, settings)
        path = None if folder is None else folder / f"perm_{run.number:05d}.npz"
        cached = None if path is None else _load_cached(path, key, names)
        if cached is not None:
            out[run.number] = cached
        else:
            todo.append((run, key, path))
    reused = len(out)

    def keep(run, key, path, maps) -> None:
        out[run.number] = maps
        if path is not None:
            try:
                _save_cached(path, key, maps)
            except OSError as exc:
                log.warning("cannot keep the maps of permutation %d in %s: %s", run.number,
                            path, exc)  # fmt: skip
        notify(progress, len(out), len(runs), f"permuted run {run.number} explained")

    with job_client(workers, scheduler, len(todo)) as client:
        if client is None:
            for run, key, path in todo:
                keep(run, key, path, _explain_permuted(run, explain, names))
        else:
            from dask.distributed import as_completed

            futures = {
                client.submit(_explain_permuted, run, explain, names, pure=False): (run, key, path)
                for run, key, path in todo
            }
            for fut in as_completed(futures):
                keep(*futures[fut], fut.result())
    return out, reused


def relabelled(design, labels: np.ndarray):
    """``design`` with its samples relabelled (each class's factor values follow its label)."""
    from napari_mousestop.design import StudyDesign

    labels = np.asarray(labels)
    values = {k: design.class_values(c) for k, c in enumerate(design.classes)
              if (design.labels == k).any()}  # fmt: skip
    factors = {f: np.array([values[k][f] for k in labels]) for f in design.factor_values}
    return StudyDesign(labels, design.cages, design.recordings, design.animals, factors,
                       design.classes)  # fmt: skip


def statistic_map(maps: ExplanationMap, design, contrast, statistic: str) -> np.ndarray:
    """The statistic of ``contrast`` on ``maps`` under ``design``'s labels: what
    :func:`~napari_mousestop.explain.stats.compare` computes for the observed labelling."""
    from napari_mousestop.explain.stats import _statistic, _units, test_values

    u = _units(test_values(maps, contrast), design, contrast)
    group = u.group
    paired = u.level != "cage" and all(
        sorted(group[u.cage == c].tolist()) == [0, 1] for c in np.unique(u.cage)
    )
    pairs = np.stack([np.flatnonzero(u.cage == c) for c in np.unique(u.cage)]) if paired else None
    return _statistic(u.values, group, pairs, statistic)


def retrained_comparisons(
    results: dict[str, list],
    trained: dict[str, ExplanationMap],
    runs: Sequence[PermutedRun],
    maps: dict[int, dict[str, np.ndarray]],
    design,
    statistic: str,
    families: dict[str, list[str]],
    alpha: float,
) -> dict[str, list]:
    """The comparisons of ``results`` with the retrained null in place of the cage-level one.

    For each map and comparison, each permuted run's statistic is computed from its maps and
    its own permuted labels (``design`` relabelled), the same way as the observed one; its
    largest absolute value over the map is one draw of the null. Where the runs hold every
    labelling of the design (the observed one among them, as ``train --retrain-permutations``
    retrains when the design allows no more labellings than asked), the p-value is the share of
    runs at least as extreme (exact); else the observed run is added to the draws,
    ``p = (1 + hits) / (P + 1)``. P-values, ``null_max``, the number of labellings and the
    smallest attainable p change; the families are adjusted again (:func:`~.stats.adjust`).
    """
    from napari_mousestop.explain.stats import _rank_p, adjust

    observed_labels = np.asarray(design.labels)
    identity = [np.array_equal(r.labels, observed_labels) for r in runs]
    every = any(identity)  # the design's labellings listed: the observed is one of them
    designs = [relabelled(design, r.labels) for r in runs]
    n = len(runs)
    out: dict[str, list] = {}
    for name, comps in results.items():
        m = trained[name]
        new = []
        for c in comps:
            observed = float(np.abs(c.statistic).max())
            draws = []
            for run, d, same in zip(runs, designs, identity, strict=True):
                if same:  # the observed labelling: the observed run itself
                    draws.append(observed)
                    continue
                # maps no model makes (the stop maps) are the same in every run
                perm = replace(m, data=maps[run.number].get(name, m.data))
                draws.append(float(np.abs(statistic_map(perm, d, c.contrast, statistic)).max()))
            null = np.array(draws if every else [observed, *draws])
            p = _rank_p(null, np.abs(c.statistic))
            scheme = {
                **c.meta.get("scheme", {}),
                "null": "retrained",
                "n_labellings": len(null),
                "exact": every,
                "min_p": 1.0 / len(null),
                "description": f"{n} cross-validations retrained on labellings of the design"
                + (" (every labelling, the observed one included)" if every else ""),
            }
            meta = {
                **c.meta,
                "scheme": scheme,
                "null": "retrained",
                "confirmatory": True,
                "n_permutations": n,
                "n_labellings": len(null),
                "exact": every,
                "min_p": 1.0 / len(null),
                "permutations": [run.number for run in runs],
            }
            new.append(replace(c, p_values=p, p_adjusted=p, mask=p <= alpha, meta=meta,
                               null_max=null))  # fmt: skip
        out[name] = new
    for family, members in families.items():
        members = [n for n in members if n in out and out[n]]
        if members:
            out.update(adjust({n: out[n] for n in members}, alpha, family))
    return out


def explain_folds_fn(explain: Callable, input_map: Callable | None = None) -> Callable:
    """``explain(folds)`` plus the stop maps ``input_map()`` (which no model changes)."""
    return partial(_with_input, explain, input_map)


def _with_input(explain, input_map, folds):
    maps = list(explain(folds))
    if input_map is not None:
        maps.append(input_map())
    return maps


__all__ = [
    "PermutedRun",
    "explain_folds_fn",
    "permuted_maps",
    "permuted_runs",
    "relabelled",
    "retrained_comparisons",
    "run_config",
    "statistic_map",
]
