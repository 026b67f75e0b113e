"""Build a dataset from many LMT recordings (and other trackers' files) in parallel on Dask,
resumably.

One Dask task per recording: extract its stops and bin every animal into a stack
(:func:`napari_mousestop.histograms.recording_stacks`). By default the tasks run on a local
``dask.distributed.LocalCluster`` of worker processes (one thread each: stop extraction is
CPU-bound Python/numpy); give ``scheduler="tcp://host:8786"`` to use an existing cluster (its
workers must have napari-mousestop installed and see the database paths).

Each finished recording is cached in a folder beside the output (``DATASET.npz.cache/``) under a
key made of the file's identity (name, size, fingerprint, modification time) and every
parameter, so a re-run skips recordings already done and recomputes those whose file or
parameters changed. The fingerprint is the SHA-256 of the file size and its first and last MiB:
cheap on multi-GB files, portable across copies (it does not depend on the path or mtime), and
an SQLite file's first page holds a change counter that moves with every committed write.
Another tracker's recording is keyed by its tracker parameters and its calibration file's
fingerprint too.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from napari_mousestop import __version__
from napari_mousestop._json import jsonable as _jsonable
from napari_mousestop.cluster import dask_client, local_workers
from napari_mousestop.datasets.dataset import Dataset, save_dataset
from napari_mousestop.errors import BatchError, CohortError, DatasetError, ShortRecordingWarning
from napari_mousestop.histograms import (
    HistogramParams,
    animal_key,
    recording_stacks,
)
from napari_mousestop.io.atomic import atomic_path
from napari_mousestop.io.cohort import (
    AGE_THRESHOLD_DAYS,
    ANIMAL_FIELDS,
    CLASSES,
    class_order,
    cohort_trackers,
    label_animals,
    match_animal,
    parse_classes,
    read_cohort,
)
from napari_mousestop.io.geometry import CageGeometry
from napari_mousestop.io.trackers import TrackerParams
from napari_mousestop.progress import ProgressCallback, notify
from napari_mousestop.quality import (
    quality_params,
    quality_path,
    quality_rows,
    quality_table,
    write_quality,
)
from napari_mousestop.stops import SKIPPED

log = logging.getLogger(__name__)

_MIB = 1 << 20
FINGERPRINT_RULE = "sha256(size as 8-byte little-endian + first MiB + last MiB)"


def file_identity(path: str | os.PathLike) -> dict:
    """Identity of a source file: ``name``, ``size`` (bytes), ``fingerprint``, ``mtime_ns``.

    The fingerprint is ``"sha256:<hex>"`` of the size and the first and last MiB of the file
    (see :data:`FINGERPRINT_RULE`); reading 2 MiB keeps it cheap on multi-GB recordings.

    Raises
    ------
    OSError
        If the file cannot be read (the message names it).
    """
    path = Path(path)
    st = path.stat()
    h = hashlib.sha256(int(st.st_size).to_bytes(8, "little"))
    with open(path, "rb") as fh:
        h.update(fh.read(_MIB))
        if st.st_size > _MIB:
            fh.seek(max(_MIB, st.st_size - _MIB))
            h.update(fh.read(_MIB))
    return {
        "name": path.name,
        "size": int(st.st_size),
        "fingerprint": "sha256:" + h.hexdigest(),
        "mtime_ns": int(st.st_mtime_ns),
    }


CACHE_FORMAT = 2
"""Bumped when what a recording's cache entry holds changes within one version (2: duplicate
rows merged, pauses and per-animal counts in the report)."""


def cache_key(identity: dict, params: dict) -> str:
    """Key of a recording's cache entry: its identity and every parameter (and the version)."""
    doc = {"identity": identity, "params": params, "version": __version__, "format": CACHE_FORMAT}
    return hashlib.sha256(json.dumps(_jsonable(doc), sort_keys=True).encode()).hexdigest()[:32]


def process_recording(path: str, hist_params, stop_params, geometry, tracker=None) -> dict:
    """Stacks of every animal of one recording (the Dask task).

    ``tracker`` (:class:`~napari_mousestop.io.trackers.TrackerParams`) reads another tracker's
    file through movement; None reads an LMT database.

    Returns a picklable dict: ``stacks`` (n_animals, T, N, N), ``animals``, ``info``,
    ``stop_params``, ``warnings``, ``notes`` and ``report``.
    """
    rs = recording_stacks(path, hist_params, stop_params, geometry, tracker=tracker, warn=False)
    skipped = [w for w in rs.report["stops"].get("warnings", []) if w.endswith(SKIPPED)]
    return {
        "stacks": rs.stacks,
        "animals": _jsonable(rs.animals),
        "info": _jsonable({**rs.info, "origin": rs.origin}),
        "stop_params": _jsonable(rs.stop_params),
        "warnings": list(rs.report["warnings"]) + skipped,
        "notes": list(rs.report["notes"]),
        "report": _jsonable({k: v for k, v in rs.report.items() if k not in ("warnings", "notes")}),
    }


def _cache_load(file: Path) -> dict | None:
    try:
        with np.load(file, allow_pickle=False) as npz:
            res = json.loads(str(npz["meta"]))
            res["stacks"] = npz["stacks"]
        return res
    except Exception:  # missing, half-written by another tool, or foreign: recompute
        return None


def _cache_save(file: Path, result: dict) -> None:
    meta = {k: v for k, v in result.items() if k != "stacks"}
    with atomic_path(file, suffix=".npz") as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, stacks=result["stacks"], meta=np.array(json.dumps(meta)))


def _animal_tables(cohort: pd.DataFrame, columns: tuple[str, ...], failed: list[dict]) -> dict:
    """The ANIMAL records (dicts) of each LMT database whose rows leave a class or
    covariate cell of an ANIMAL field empty, read read-only; unreadable ones go to
    ``failed``."""
    from napari_mousestop.io.lmt import read_animals

    fields = [c for c in ANIMAL_FIELDS if c in columns or c in cohort.columns]
    blank = np.zeros(len(cohort), bool)
    for c in fields:
        blank |= (cohort[c] == "").to_numpy() if c in cohort.columns else True
    # other trackers' files have no ANIMAL table: their values must be in the cohort
    need = cohort[blank & (cohort["source_software"] == "").to_numpy()]
    tables: dict[str, list[dict]] = {}
    for db, rows in need.groupby("database", sort=False):
        if any(f["database"] == rows["database_name"].iloc[0] for f in failed):
            continue
        try:
            tables[db] = read_animals(db).to_dict("records")
        except (ValueError, OSError) as exc:
            failed.append({"database": rows["database_name"].iloc[0], "error": str(exc)})
    return tables


def _run(todo: dict, args: tuple, scheduler, n_workers, on_done: Callable) -> None:
    """Run process_recording for each ``todo`` item (name -> (path, tracker, stop params));
    ``args`` are (histogram params, geometry); call on_done(name, res, err)."""
    hist, geometry = args
    if n_workers == 0:  # in this process, without Dask (debugging)
        for name, (path, tracker, sp) in todo.items():
            try:
                res, err = process_recording(path, hist, sp, geometry, tracker), None
            except Exception as exc:
                res, err = None, exc
            on_done(name, res, err)  # outside the try: a Cancelled from progress propagates
        return
    from dask.distributed import as_completed

    n = local_workers(n_workers, len(todo))
    with dask_client(scheduler, n) as client:
        futures = {
            client.submit(process_recording, p, hist, sp, geometry, tr, pure=False): k
            for k, (p, tr, sp) in todo.items()
        }
        for fut in as_completed(futures):
            try:
                res, err = fut.result(), None
            except Exception as exc:
                res, err = None, exc
            on_done(futures[fut], res, err)
            fut.release()


def build_dataset(
    cohort_csv: str | os.PathLike,
    out_path: str | os.PathLike,
    hist_params: HistogramParams | None = None,
    stop_params=None,
    geometry: CageGeometry | None = None,
    scheduler: str | None = None,
    progress: ProgressCallback | None = None,
    n_workers: int | None = None,
    age_threshold_days: float = AGE_THRESHOLD_DAYS,
    use_cache: bool = True,
    stats: dict | None = None,
    tracker: TrackerParams | None = None,
    *,
    classes: str | Sequence[str] | None = None,
    warn: bool = True,
) -> Dataset:
    """Stacks of every animal-recording of a cohort, as one dataset file.

    Parameters
    ----------
    cohort_csv
        Cohort CSV (``database, animal, cage, sex, age``, and for other trackers' files
        ``source_software, individual, fps, calibration, start_time``; see
        :mod:`napari_mousestop.io.cohort`). LMT and other recordings may be mixed.
    out_path
        Dataset file (``.npz``), written atomically; the cache folder goes beside it.
    hist_params, stop_params, geometry
        Binning, stop-detection and cage parameters (defaults if None).
    scheduler
        Address of a running ``dask scheduler``; None starts a local cluster.
    progress
        Called with a :class:`~napari_mousestop.progress.Progress` as recordings finish
        (cache hits included); raising
        :class:`~napari_mousestop.errors.Cancelled` there stops the work.
    n_workers
        Local worker processes (default: CPU count, at most one per recording); 0 runs the
        recordings one after the other in this process, without Dask.
    age_threshold_days
        Ages below it are juvenile.
    use_cache
        Reuse and write the cache folder.
    stats
        Optional dict filled with ``cached``, ``computed`` (recording names) and ``failed``.
    tracker
        How other trackers' files are read (keypoints, confidence threshold, bridged gaps) and
        the fps and calibration of rows that leave those cells empty; its time zone reads their
        start times. None: :class:`~napari_mousestop.io.trackers.TrackerParams` defaults with
        ``hist_params.timezone``.
    classes
        The columns the classes come from (:func:`~napari_mousestop.io.cohort.parse_classes`:
        ``"genotype"``, ``("genotype", "sex")``...; cohort columns or ANIMAL fields); default
        sex, age: the paper's AM/JM/AF/JF. Every other cohort column is kept as a covariate.
    warn
        Also issue each recording's warnings (``params["recordings"][name]["warnings"]``) with
        :func:`warnings.warn`. The CLI passes False and prints them itself.

    Returns
    -------
    Dataset
        Samples in cohort order. ``params`` holds every parameter, the package version, the
        fingerprint rule, per-recording info, warnings and notes, ``failed`` (database,
        optional animal, error) for everything skipped, and ``quality``: the quality table
        (:mod:`napari_mousestop.quality`) written beside the dataset as ``DATASET.qc.csv``.
        ``sources`` holds each used file's identity.

    Raises
    ------
    CohortError
        For a bad cohort file, an unknown class column, rows without a class value or other
        trackers' files without a calibration (all offending rows listed).
    BatchError
        If no animal-recording could be built (nothing is written).
    ClusterError
        If ``scheduler`` cannot be reached.
    """
    from napari_mousestop.stops import StopParams

    hist_params = hist_params or HistogramParams()
    if hist_params.n_intervals is None:
        raise ValueError(
            "a dataset built from a cohort needs one number of intervals T for all its "
            "recordings: give n_intervals (e.g. 72 hours)"
        )
    stop_params = stop_params or StopParams()
    geometry = geometry or CageGeometry.mouse()
    out_path = Path(out_path)
    if out_path.suffix != ".npz":
        out_path = out_path.with_name(out_path.name + ".npz")
    cohort = read_cohort(cohort_csv)
    columns = parse_classes(classes)
    tracker = tracker or TrackerParams(timezone=hist_params.timezone)
    trackers = cohort_trackers(cohort, tracker)
    uncalibrated = [
        f"line {r.row}: {r.database_name} ({r.source_software}) has no calibration (a "
        "calibration column, or --calibration)"
        for r in cohort.itertuples()
        if trackers[r.database] is not None and trackers[r.database].calibration is None
    ]
    if uncalibrated:
        raise CohortError(f"{cohort_csv}: bad cohort rows:\n  " + "\n  ".join(uncalibrated))
    db_order = {n: i for i, n in enumerate(dict.fromkeys(cohort["database_name"]))}
    failed: list[dict] = []
    identities: dict[str, dict] = {}
    for name, db in dict(zip(cohort["database_name"], cohort["database"], strict=True)).items():
        try:
            identities[name] = file_identity(db)
        except OSError as exc:
            failed.append({"database": name, "error": f"{db}: cannot read ({exc.strerror or exc})"})
    tables = _animal_tables(cohort, columns, failed)
    bad_dbs = {f["database"] for f in failed}
    cohort = label_animals(
        cohort[~cohort["database_name"].isin(bad_dbs)],
        tables,
        columns,
        age_threshold_days,
        where=str(cohort_csv),
    )
    all_params = {
        "histogram": hist_params.to_dict(),
        "stops": _jsonable(stop_params.to_dict()),
        "geometry": geometry.to_dict(),
    }
    if any(t is not None for t in trackers.values()):
        # the defaults for other trackers' files (each row names its own source software)
        all_params["tracker"] = {
            k: v for k, v in tracker.to_dict().items() if k != "source_software"
        }
    paths = dict(zip(cohort["database_name"], cohort["database"], strict=True))
    cache_dir = out_path.with_name(out_path.name + ".cache")
    time_bases = dict(zip(cohort["database_name"], cohort["time_base"], strict=True))
    own_stops = {
        n: replace(stop_params, time_base=time_bases[n]) if time_bases[n] else stop_params
        for n in paths
    }
    keys = {
        n: cache_key(
            identities[n],
            {**all_params, "stops": _jsonable(own_stops[n].to_dict()),
             **_tracker_key(trackers[paths[n]])},
        )  # fmt: skip
        for n in paths
    }
    results: dict[str, dict] = {}
    st = {"cached": [], "computed": [], "failed": failed}
    total, done = len(paths), 0
    if use_cache:
        for name in paths:
            hit = _cache_load(cache_dir / f"{keys[name]}.npz")
            if hit is not None:
                results[name] = hit
                st["cached"].append(name)
                done += 1
                log.info("%s: from cache", name)
    notify(progress, done, total, "recordings")

    def on_done(name: str, res: dict | None, err: Exception | None) -> None:
        nonlocal done
        done += 1
        if err is not None:
            failed.append({"database": name, "error": f"{type(err).__name__}: {err}"})
            log.warning("%s failed: %s", name, err)
        else:
            results[name] = res
            st["computed"].append(name)
            if use_cache:
                try:
                    _cache_save(cache_dir / f"{keys[name]}.npz", res)
                except OSError as exc:
                    log.warning("cannot write cache for %s: %s", name, exc)
        notify(progress, done, total, f"recordings ({name} done)")

    todo = {n: (p, trackers[p], own_stops[n]) for n, p in paths.items() if n not in results}
    if todo:
        _run(todo, (hist_params, geometry), scheduler, n_workers, on_done)
    samples, used = _pick(cohort, results, failed)
    failed.sort(key=lambda f: (db_order.get(f["database"], len(db_order)), f.get("animal", "")))
    if not samples:
        lines = [f"{f['database']}: {f['error']}" for f in failed] or ["cohort is empty"]
        raise BatchError("no recording could be used:\n  " + "\n  ".join(lines))
    for name in (n for n in paths if n in results and warn):  # in cohort order
        for w in results[name]["warnings"]:
            warnings.warn(f"{name}: {w}", ShortRecordingWarning, stacklevel=2)
    # the dataset's stop parameters; a recording timed otherwise (the cohort's time_base)
    # says so in params["recordings"][name]["time_base"]
    stop_dict = all_params["stops"]
    dataset = assemble_dataset(
        samples,
        hist_params,
        stop_dict or all_params["stops"],
        geometry,
        sources=[{**identities[n], "database": n} for n in used],
        recordings={
            n: {
                "info": r["info"],
                "warnings": r["warnings"],
                "notes": r["notes"],
                "reader": r.get("report", {}).get("stops", {}).get("reader"),
                "time_base": (r.get("stop_params") or {}).get("time_base"),
                "counts": row_counts(r.get("report", {}).get("stops", {})),
            }
            for n, r in sorted(results.items())
        },
        failed=failed,
        cohort=Path(cohort_csv).name,
        age_threshold_days=age_threshold_days,
        tracker=all_params.get("tracker"),
        columns=columns,
    )
    qc = quality_table(
        row
        for n in paths
        if n in results
        for row in quality_rows(
            results[n]["info"],
            results[n].get("report", {}).get("stops", {}),
            (results[n].get("report", {}).get("stops", {}).get("reader") or {}).get("fps")
            or geometry.fps,
        )
    )
    save_with_dataset(qc, dataset, out_path)
    if stats is not None:
        stats.update(st)
    return dataset


def _tracker_key(tracker: TrackerParams | None) -> dict:
    """What of a tracker's reading goes into its cache key: its parameters and its
    calibration file's content (an edited calibration recomputes the recording)."""
    if tracker is None:
        return {}
    try:
        cal = file_identity(tracker.calibration)["fingerprint"] if tracker.calibration else None
    except OSError:
        cal = "unreadable"
    return {"tracker": tracker.to_dict(), "calibration": cal}


def _pick(cohort, results, failed) -> tuple[list[Sample], list[str]]:
    """Each cohort row's stack out of its recording's results, in cohort order; and the
    recordings used. Rows whose animal is not in its database are added to ``failed``.
    ``cohort`` is :func:`~napari_mousestop.io.cohort.label_animals`' table."""
    samples, used = [], []
    columns, covariates = cohort.attrs["classes"], cohort.attrs["covariates"]
    for r, values in zip(cohort.itertuples(), cohort.to_dict("records"), strict=True):
        res = results.get(r.database_name)
        if res is None:
            continue
        if r.source_software:  # another tracker's file: movement's individual
            i = match_animal(res["animals"], r.individual)
            what = f"individual {r.individual!r} not in this {r.source_software} file"
        else:
            i = match_animal(res["animals"], r.animal)
            what = f"animal {r.animal!r} not in this database (RFID or NAME"
        if i is None:
            known = [a.get("rfid") or a.get("name") for a in res["animals"]]
            failed.append(
                {
                    "database": r.database_name,
                    "animal": r.animal,
                    "error": f"line {r.row}: {what}"
                    + (f"; animals: {known})" if not r.source_software else f" ({known})"),
                }
            )
            continue
        why = unusable(res["animals"][i], res.get("report", {}).get("stops", {}))
        if why:
            failed.append({"database": r.database_name, "animal": r.animal,
                           "error": f"line {r.row}: {why}"})  # fmt: skip
            continue
        samples.append(
            Sample(
                res["stacks"][i],
                r.label,
                r.cage,
                r.database_name,
                r.animal,
                {c: values[c] for c in columns},
                {c: str(values[c]) for c in covariates},
            )
        )
        if r.database_name not in used:
            used.append(r.database_name)
    return samples, used


_COUNTS = ("anonymous_rows", "glitch_rows", "null_coordinate_rows", "rows_without_frame",
           "duplicate_rows", "stops_at_min_duration", "low_confidence_points", "bridged_points",
           "frames_without_centre")  # fmt: skip


def row_counts(stop_report: dict) -> dict:
    """The rows a recording's stop extraction left out, merged or kept by rounding, and what
    its FRAME table holds (duplicate frame rows, pauses), for the dataset's provenance."""
    out = {k: stop_report[k] for k in _COUNTS if k in stop_report}
    frames = stop_report.get("frames") or {}
    for k in ("duplicate_frame_rows", "pauses", "paused_s", "frames_expected", "n_frames"):
        if k in frames:
            out[k] = frames[k]
    return out


NO_DETECTIONS = "no usable detections (its stack would be all zeros, not a sample)"


def unusable(animal: dict, stop_report: dict) -> str | None:
    """Why an animal of a recording cannot be a sample (None when it can): an animal without
    usable detections (e.g. an ANIMAL row with RFID 'None', a known LMT artefact) has an
    all-zero stack that says nothing about it."""
    skipped = {str(a) for a in stop_report.get("skipped_animals", [])}
    if str(animal.get("animal_id")) in skipped or str(animal.get("name")) in skipped:
        return NO_DETECTIONS
    return None


def save_with_dataset(table: pd.DataFrame, dataset: Dataset, dataset_path) -> Path:
    """Save ``dataset`` with its ``params["quality"]``, then the quality ``table`` beside it
    (``DATASET.qc.csv``, :func:`~napari_mousestop.quality.quality_path`): a failed save
    leaves neither."""
    file = quality_path(dataset_path)
    dataset.params["quality"] = quality_params(table, file)
    save_dataset(dataset, dataset_path)
    return write_quality(table, file)


@dataclass(frozen=True)
class Sample:
    """One animal-recording of a dataset: its (T, N, N) stack and who it is.

    ``factors`` are its values of the class columns (``{"sex": "M", "age": "A"}``), in
    order; ``covariates`` its values of the other cohort columns.
    """

    stack: np.ndarray
    label: str
    cage: str
    recording: str
    animal: str
    factors: dict = field(default_factory=dict)
    covariates: dict = field(default_factory=dict)


def assemble_dataset(
    samples: Sequence[Sample],
    hist_params: HistogramParams | dict,
    stop_params: dict,
    geometry: CageGeometry | dict,
    sources: Sequence[dict] = (),
    recordings: dict[str, dict] | None = None,
    failed: Sequence[dict] = (),
    cohort: str | None = None,
    age_threshold_days: float = AGE_THRESHOLD_DAYS,
    classes: Sequence[str] | None = None,
    tracker: dict | None = None,
    columns: Sequence[str] | None = None,
) -> Dataset:
    """The one place a :class:`~napari_mousestop.datasets.dataset.Dataset` is made, so every
    dataset records the same parameters whoever built it (:func:`build_dataset`, the
    Extract widget, stack layers in napari).

    Parameters
    ----------
    samples
        The animal-recordings, in order; ``label`` must be one of ``classes``.
    hist_params, stop_params, geometry
        What made the stacks.
    sources
        Identity (:func:`file_identity` plus ``database``) of each recording used.
    recordings
        Per recording name: ``info``, ``warnings``, ``notes``, ``reader``.
    failed
        What was left out: ``database``, optional ``animal``, ``error``.
    cohort
        Name of the cohort file, if any.
    age_threshold_days
        The age that separated juveniles from adults.
    classes
        The class names (the labels are their indices); None: those of the samples
        (:func:`~napari_mousestop.io.cohort.class_order` of their factors, else their labels,
        the paper's in :data:`~napari_mousestop.io.cohort.CLASSES` order).
    tracker
        How other trackers' files were read, where the cohort left it to defaults
        (:class:`~napari_mousestop.io.trackers.TrackerParams` as a dict, without the source
        software); recorded as ``params["tracker"]`` when given. Each such recording's own
        parameters are in its ``reader`` provenance.
    columns
        The class columns (recorded as ``params["labels"]["columns"]``); the samples'
        ``factors`` hold their values. None: the class names decide
        (:func:`~napari_mousestop.datasets.dataset.factors_from_classes`).

    Raises
    ------
    DatasetError
        If there is no sample or a label is not one of ``classes``.
    """
    if not samples:
        raise DatasetError("no animal-recording to put in the dataset")
    columns = tuple(columns) if columns else None
    if classes is None:
        classes = _classes_of(samples, columns)
    classes = tuple(classes)
    unknown = sorted({s.label for s in samples} - set(classes))
    if unknown:
        raise DatasetError(f"labels {unknown} are not among the classes {list(classes)}")
    hist = hist_params.to_dict() if isinstance(hist_params, HistogramParams) else hist_params
    geom = geometry.to_dict() if isinstance(geometry, CageGeometry) else geometry
    params = {
        "histogram": dict(hist),
        "stops": dict(stop_params),
        "geometry": dict(geom),
        "labels": {
            "classes": list(classes),
            "columns": list(columns or ()),
            "covariates": list(dict.fromkeys(c for s in samples for c in s.covariates)),
            "age_threshold_days": age_threshold_days,
        },
        "cohort": cohort,
        "package_version": __version__,
        "fingerprint_rule": FINGERPRINT_RULE,
        "recordings": dict(recordings or {}),
        "failed": list(failed),
    }
    if tracker is not None:
        params["tracker"] = dict(tracker)
    return Dataset(
        X=np.stack([np.asarray(s.stack, dtype=np.float32) for s in samples]),
        labels=np.array([classes.index(s.label) for s in samples]),
        cages=np.array([str(s.cage) for s in samples]),
        recordings=np.array([str(s.recording) for s in samples]),
        animals=np.array([str(s.animal) for s in samples]),
        params=_jsonable(params),
        sources=[dict(x) for x in sources],
        classes=classes,
        factors=(
            {c: np.array([str(s.factors[c]) for s in samples]) for c in columns}
            if columns and all(set(columns) <= set(s.factors) for s in samples)
            else None
        ),
        covariates={
            c: np.array([str(s.covariates.get(c, "")) for s in samples])
            for c in dict.fromkeys(c for s in samples for c in s.covariates)
        },
    )


def _classes_of(samples: Sequence[Sample], columns: tuple[str, ...] | None) -> tuple[str, ...]:
    """The classes of ``samples``: from their factors in ``columns`` order, else their labels
    (the paper's in :data:`CLASSES` order, any others sorted)."""
    if columns and all(set(columns) <= set(s.factors) for s in samples):
        return class_order(columns, {tuple(s.factors[c] for c in columns) for s in samples})
    labels = {s.label for s in samples}
    return tuple(c for c in CLASSES if c in labels) + tuple(sorted(labels - set(CLASSES)))


def dataset_from_recordings(
    recordings: Sequence[tuple],
    columns: Sequence[str] | None = None,
    age_threshold_days: float = AGE_THRESHOLD_DAYS,
) -> Dataset:
    """A dataset of the labelled animals of recordings already binned (the Extract widget's).

    Parameters
    ----------
    recordings
        ``(stacks, cage, labels)`` or ``(stacks, cage, labels, factors)`` per recording: its
        :class:`~napari_mousestop.histograms.RecordingStacks`, its cage id, the class of
        each of its animals (``stacks.animals`` order; None: left out, listed in
        ``params["failed"]``) and their column values (dicts, same order: the ``columns``'
        values are the factors, any others covariates; see
        :func:`~napari_mousestop.io.cohort.recording_labels`). Parameters come from the first
        recording. Recordings binned with intervals from their length (``n_intervals`` None)
        may differ in T: the shorter ones are zero-filled to the longest (said in their notes).
    columns
        The class columns the labels were made from (None: the paper's sex and age, or the
        class names decide).
    age_threshold_days
        The age that separated juveniles from adults (recorded).

    Raises
    ------
    DatasetError
        If no animal has a known class (the message lists them).
    """
    samples, failed, sources, described = [], [], [], {}
    what = ", ".join(columns or ("sex", "age"))
    n_t = max(int(r[0].params.n_intervals) for r in recordings) if recordings else 0
    for rs, cage, labels, *rest in recordings:
        values_of = rest[0] if rest else [{}] * len(labels)
        name = Path(rs.path).name
        used = False
        short = n_t - rs.stacks.shape[1]
        stacks = np.pad(rs.stacks, ((0, 0), (0, short), (0, 0), (0, 0))) if short else rs.stacks
        padded = [
            f"intervals {n_t - short}-{n_t - 1} not recorded (after its end): zero-filled to "
            f"the longest recording's T = {n_t}"
        ] if short else []  # fmt: skip
        for stack, animal, label, values in zip(
            stacks, rs.animals, labels, values_of, strict=True
        ):
            key = animal_key(animal)
            if label is None:
                failed.append({"database": name, "animal": key, "error": f"no class ({what})"})
                continue
            why = unusable(animal, rs.report.get("stops", {}))
            if why:
                failed.append({"database": name, "animal": key, "error": why})
                continue
            values = dict(values or {})
            factors = {c: values.pop(c) for c in columns or () if c in values}
            samples.append(Sample(stack, label, cage, name, key, factors, values))
            used = True
        if used and Path(rs.path).is_file():
            sources.append({**file_identity(rs.path), "database": name})
        elif used:  # a layer of movement's napari plugin: no file to identify
            sources.append({"name": name, "database": name})
        described[name] = {
            "info": {**rs.info, "origin": rs.origin},
            "warnings": list(rs.report.get("warnings", [])),
            "notes": list(rs.report.get("notes", [])) + padded,
            "reader": rs.report.get("stops", {}).get("reader"),
            "time_base": rs.stop_params.get("time_base"),
            "counts": row_counts(rs.report.get("stops", {})),
        }
    if not samples:
        who = [f"{f['database']}: {f['animal']}" for f in failed]
        raise DatasetError(f"no animal has a known class ({what}): {who[:10]}")
    first = recordings[0][0]
    return assemble_dataset(
        samples,
        replace(first.params, n_intervals=n_t),
        first.stop_params,
        first.geometry,
        sources,
        described,
        failed,
        age_threshold_days=age_threshold_days,
        columns=columns,
    )


__all__ = [
    "Sample",
    "assemble_dataset",
    "build_dataset",
    "dataset_from_recordings",
    "cache_key",
    "file_identity",
    "process_recording",
    "save_with_dataset",
]
