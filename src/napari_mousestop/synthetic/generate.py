"""Synthetic Live Mouse Tracker recordings with planted stops and class-dependent place preferences.

The databases follow the tracker's schema (tables ANIMAL, DETECTION, FRAME, EVENT, RFIDEVENT and
their usual indexes, including the covering index ``detectionFastLoadXYIndex``), with SEX and AGE
added to ANIMAL as lmt-analysis does. Mice alternate between travelling (8-30 cm/s) and resting at
a place: the dome (nest, upper-left), two feeders and the water spot (lower part) or elsewhere.
Which place a mouse picks depends on its class (sex x age) and its cage; nest rests are longer in
the light phase (07:00-19:00 UTC). Positions carry tracking jitter (white noise, slow drift and
rare spikes), identities are lost (ANIMALID NULL) in short flickers and rarer long losses while
mice rest in the nest, detections go missing for a few frames, MASS_X < 10 glitch rows appear and
frames are dropped (TIMESTAMP jumps while FRAMENUMBER stays consecutive).

Every planted rest is written to a ground-truth CSV (split where a long identity loss hides the
mouse), so stop extraction can be scored with :func:`score_stops`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from napari_mousestop.io.atomic import atomic_path
from napari_mousestop.io.geometry import CageGeometry
from napari_mousestop.progress import ProgressCallback, notify
from napari_mousestop.synthetic.database import INDEXES, schema, write_content
from napari_mousestop.synthetic.motion import (
    CLASS_PREFERENCES,
    FPS,
    PLACE_NAMES,
    detection_states,
    frame_times,
    plan_mouse,
)
from napari_mousestop.synthetic.quirks import SyntheticQuirks, pause_offsets_ms, plant


@dataclass
class MouseSpec:
    """One mouse of a synthetic recording."""

    rfid: str
    name: str
    sex: str  # "M" or "F"
    age: str  # "juvenile" or "adult"
    weights: tuple[float, ...] = field(default_factory=lambda: CLASS_PREFERENCES["JM"])
    genotype: str = "WT"
    strain: str = "C57BL/6J"

    @property
    def label(self) -> str:
        """Class name (AM, JM, AF or JF)."""
        return ("A" if self.age == "adult" else "J") + self.sex


@dataclass
class CohortFiles:
    """Paths written by :func:`generate_cohort`."""

    cohort_csv: Path
    truth_csv: Path
    databases: list[Path]


def default_mice(
    sex: str = "M", age: str = "adult", n: int = 4, prefix: str = ""
) -> list[MouseSpec]:
    """``n`` mice of one class with the class's plain place preferences."""
    label = ("A" if age == "adult" else "J") + sex
    return [
        MouseSpec(
            rfid=f"{prefix}0000{900 + i:04d}",
            name=f"{prefix}{'ABCDEFGHIJ'[i]}",
            sex=sex,
            age=age,
            weights=CLASS_PREFERENCES[label],
        )
        for i in range(n)
    ]


def generate_recording(
    path: str | Path,
    hours: float = 1.0,
    mice: list[MouseSpec] | None = None,
    seed: int = 0,
    start_time: str = "2024-01-15 18:00",
    geometry: CageGeometry | None = None,
    chunk_frames: int = 54_000,
    quirks: SyntheticQuirks | None = None,
) -> pd.DataFrame:
    """Write one synthetic LMT database and return its planted stops.

    Parameters
    ----------
    path
        Output ``.sqlite`` file (written atomically; an existing file is replaced).
    hours
        Recording length in hours (30 frames per second, before dropped frames).
    mice
        The mice; four adult males (:func:`default_mice`) by default.
    seed
        Random seed: the same seed gives the same file content.
    start_time
        Clock time (UTC) of the first frame; sets the light phase (07:00-19:00).
    geometry
        Cage geometry used to convert cm to pixels (LMT mouse cage by default).
    chunk_frames
        Frames generated and inserted per batch (bounds memory).
    quirks
        Quirks of real files to plant (duplicate rows, pauses, deleted FRAME rows, an empty
        ANIMAL row; :class:`~napari_mousestop.synthetic.quirks.SyntheticQuirks`). None: a
        clean recording (the same file as before for a given seed). The truth's ``start_s``
        includes the pauses; the counts planted are in its ``attrs["quirks"]``.

    Returns
    -------
    pandas.DataFrame
        Planted stops: ``database, animal, animal_id, start_frame, end_frame, start_s,
        duration_s, x_cm, y_cm, place`` (frames are FRAMENUMBERs, inclusive).
    """
    path = Path(path)
    geometry = geometry or CageGeometry.mouse()
    mice = mice if mice is not None else default_mice()
    rng = np.random.default_rng(seed)
    n = int(round(hours * 3600 * FPS))
    if n < 2:
        raise ValueError(f"{path}: hours={hours} gives fewer than 2 frames")
    start = pd.Timestamp(start_time, tz="UTC")
    start_hour = start.hour + start.minute / 60 + start.second / 3600
    ts_ms = frame_times(n, rng)
    t_s = ts_ms / 1000.0
    plans = []
    for m in mice:
        w = np.asarray(m.weights, dtype=float)
        segs = plan_mouse(t_s[-1] + 1.0, w, start_hour, rng)
        state, truth = detection_states(segs, t_s, rng)
        plans.append((segs, state, truth))
    pause_ms = pause_offsets_ms(ts_ms, quirks)
    planted: dict = {}
    with atomic_path(path) as tmp:
        tmp.unlink()
        con = sqlite3.connect(tmp, isolation_level=None)
        try:
            # a new file nobody reads until the rename: no journal, no fsync, a cache large
            # enough for CREATE INDEX to sort in memory
            con.execute("PRAGMA journal_mode=OFF")
            con.execute("PRAGMA synchronous=OFF")
            con.execute("PRAGMA cache_size=-262144")
            con.execute("PRAGMA temp_store=MEMORY")
            schema(con)  # executescript commits: open the one transaction after it
            con.execute("BEGIN")
            write_content(
                con,
                mice,
                plans,
                ts_ms + pause_ms + int(start.value // 10**6),
                rng,
                geometry,
                chunk_frames,
                start_hour,
            )
            if quirks is not None:
                planted = plant(con, quirks, seed)
            con.execute("COMMIT")
            con.executescript(INDEXES)
        finally:
            con.close()
    t_s = (ts_ms + pause_ms) / 1000.0  # the clock the file records
    rows = []
    for k, (m, (_, _, truth)) in enumerate(zip(mice, plans, strict=False)):
        for f0, f1, x, y, place in truth:
            rows.append(
                (
                    path.name,
                    m.rfid,
                    k + 1,
                    f0 + 1,
                    f1 + 1,
                    t_s[f0],
                    t_s[f1] - t_s[f0],
                    x,
                    y,
                    PLACE_NAMES[place],
                )
            )
    cols = [
        "database",
        "animal",
        "animal_id",
        "start_frame",
        "end_frame",
        "start_s",
        "duration_s",
        "x_cm",
        "y_cm",
        "place",
    ]
    truth_df = pd.DataFrame(rows, columns=cols)
    truth_df = truth_df[truth_df["duration_s"] >= 1.0].reset_index(drop=True)
    if quirks is not None:
        truth_df.attrs["quirks"] = {**planted, "pauses": [list(p) for p in quirks.pauses]}
    return truth_df


DESIGNS: tuple[str, ...] = (
    "paper", "adults", "three", "genotype", "genotype-cage", "mixed-sex", "unequal",
)  # fmt: skip
"""Cohort layouts of :func:`generate_cohort` (see its ``design`` parameter)."""

PLANT_STRENGTH = 4.0
"""How many times likelier a planted place is chosen (:func:`parse_plant`)."""


def parse_plant(spec: str) -> tuple[str, str, str]:
    """``"genotype:KO=water"`` -> ``("genotype", "KO", "water")``: animals whose ``genotype``
    is ``KO`` favour the water spot (:data:`PLANT_STRENGTH` times likelier).

    The column is a cohort column of the generated cohort (sex, age, genotype, strain, cage);
    the place one of :data:`~napari_mousestop.synthetic.motion.PLACE_NAMES`.

    Raises
    ------
    ValueError
        A malformed spec or an unknown place.
    """
    column, _, rest = str(spec).partition(":")
    value, _, place = rest.partition("=")
    column, value, place = column.strip().lower(), value.strip(), place.strip()
    if not (column and value and place):
        raise ValueError(f"--plant {spec!r}: write COLUMN:VALUE=PLACE, e.g. genotype:KO=water")
    if place not in PLACE_NAMES:
        raise ValueError(f"--plant {spec!r}: place {place!r} is not one of {list(PLACE_NAMES)}")
    return column, value, place


def _layout(design: str, cages: int, mice_per_cage: int):
    """Per cage: its recordings (age, mice kept) and each mouse's (sex, genotype)."""
    if design not in DESIGNS:
        raise ValueError(f"design {design!r} is not one of {list(DESIGNS)}")
    out = []
    for c in range(1, cages + 1):
        sex = "M" if c % 2 else "F"
        n = (4, 3, 5)[(c - 1) % 3] if design == "unequal" else mice_per_cage
        sexes = [sex] * n
        genotypes = ["WT"] * n
        ages = ("juvenile", "adult")
        if design in ("adults", "genotype", "genotype-cage"):
            ages = ("adult",)
        if design == "three" and sex == "F":
            ages = ("adult",)
        if design == "mixed-sex":
            sexes = ["M" if i < n // 2 else "F" for i in range(n)]
        if design == "genotype":
            genotypes = ["WT" if i < n // 2 else "KO" for i in range(n)]
        if design == "genotype-cage":
            sexes = ["M"] * n
            genotypes = ["WT" if c % 2 else "KO"] * n
        recordings = [(age, list(range(n))) for age in ages]
        if design == "unequal" and c == 1:  # one animal missing from the adult recording
            recordings[-1] = (ages[-1], list(range(n - 1)))
        if design == "unequal" and c == cages and cages > 1:  # one recording never made
            recordings = recordings[:1]
        out.append((sexes, genotypes, recordings))
    return out


def generate_cohort(
    out_dir: str | Path,
    cages: int = 4,
    hours: float = 6.0,
    seed: int = 0,
    mice_per_cage: int = 4,
    cage_effect: float = 0.35,
    start_time: str = "2024-01-15 18:00",
    progress: ProgressCallback | None = None,
    workers: int = 0,
    scheduler: str | None = None,
    design: str = "paper",
    plant: Sequence[str | tuple[str, str, str]] = (),
) -> CohortFiles:
    """Write a synthetic cohort: by default laid out as in the paper, each cage one sex,
    recorded juvenile and adult.

    Cages alternate male, female. Every mouse keeps its RFID in all its recordings. Place
    preferences are :data:`CLASS_PREFERENCES` (by sex x age) times a per-cage log-normal factor
    (sigma ``cage_effect``, shared by the cage's recordings) and a smaller per-mouse factor,
    times :data:`PLANT_STRENGTH` on each planted place. ``cohort.csv`` lists ``database,
    animal, cage, sex, age, genotype, strain``; the ANIMAL tables hold the same SEX, AGE,
    GENOTYPE and STRAIN.

    Parameters
    ----------
    out_dir
        Folder for ``cohort.csv``, ``truth.csv`` and ``cageNN_juvenile.sqlite`` /
        ``cageNN_adult.sqlite``.
    cages, hours, seed, mice_per_cage
        Size of the cohort, length of each recording, random seed.
    cage_effect
        Spread of the per-cage preference factor.
    start_time
        Clock time (UTC) of each recording's first frame.
    progress
        Called with a :class:`~napari_mousestop.progress.Progress` as databases are written;
        raising :class:`~napari_mousestop.errors.Cancelled` there stops the work.
    workers
        0: write the recordings one after the other in this process; N: on a local Dask
        cluster of N worker processes (:func:`napari_mousestop.cluster.dask_client`).
    scheduler
        Address of a running ``dask scheduler`` to write them on instead (its workers must
        see ``out_dir`` at the same path).
    design
        One of :data:`DESIGNS`: ``paper`` (single-sex cages, juvenile and adult recordings:
        AM/JM/AF/JF); ``adults`` (adult recordings only: AM, AF); ``three`` (female cages
        recorded as adults only: AM, JM, AF); ``genotype`` (half of each cage KO, half WT;
        single-sex cages, sex a nuisance between cages; adult recordings); ``genotype-cage``
        (male cages, whole cages WT or KO in turn; adult recordings); ``mixed-sex`` (half of
        each cage male, half female; juvenile and adult); ``unequal`` (3, 4 or 5 mice per
        cage in turn, one mouse of cage 1 missing from its adult recording, the last cage's
        adult recording never made).
    plant
        Planted place preferences, ``"COLUMN:VALUE=PLACE"`` (:func:`parse_plant`) or such
        triples: e.g. ``genotype:KO=water``. Without any, a genotype has no effect: the null
        twin of the same seed.

    Returns
    -------
    CohortFiles
        The same files whatever ``workers`` and ``scheduler``: every recording's seed is drawn
        from ``seed`` in cohort order before any is written. The paper's design draws exactly
        as it always did: the same seed gives the same databases.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plants = [parse_plant(p) if isinstance(p, str) else tuple(p) for p in plant]
    layout = _layout(design, cages, mice_per_cage)
    rng = np.random.default_rng(seed)
    rows, jobs = [], []
    for c, (sexes, genotypes, recordings) in enumerate(layout, start=1):
        n = len(sexes)
        cage_f = rng.lognormal(0.0, cage_effect, len(PLACE_NAMES))
        mouse_f = rng.lognormal(0.0, cage_effect / 2, (n, len(PLACE_NAMES)))
        for age, kept in recordings:
            mice = []
            for i in kept:
                label = ("A" if age == "adult" else "J") + sexes[i]
                w = np.asarray(CLASS_PREFERENCES[label]) * cage_f * mouse_f[i]
                cells = {"sex": sexes[i], "age": age, "genotype": genotypes[i],
                         "strain": "C57BL/6J", "cage": f"cage{c:02d}"}  # fmt: skip
                for column, value, place in plants:
                    if cells.get(column) == value:
                        w = w * np.where(np.arange(len(PLACE_NAMES)) == PLACE_NAMES.index(place),
                                         PLANT_STRENGTH, 1.0)  # fmt: skip
                mice.append(
                    MouseSpec(
                        rfid=f"0000{c:04d}{i:04d}",
                        name=f"c{c}{'ABCDEFGHIJ'[i % 10]}",
                        sex=sexes[i],
                        age=age,
                        weights=tuple(w),
                        genotype=genotypes[i],
                    )
                )
            db = out / f"cage{c:02d}_{age}.sqlite"
            jobs.append((db, hours, mice, int(rng.integers(0, 2**31)), start_time))
            rows += [
                (db.name, m.rfid, f"cage{c:02d}", m.sex, age, m.genotype, m.strain) for m in mice
            ]
    truths = _write_recordings(jobs, progress, workers, scheduler)
    cohort_csv = out / "cohort.csv"
    truth_csv = out / "truth.csv"
    columns = ["database", "animal", "cage", "sex", "age", "genotype", "strain"]
    with atomic_path(cohort_csv) as tmp:
        pd.DataFrame(rows, columns=columns).to_csv(tmp, index=False)
    with atomic_path(truth_csv) as tmp:
        pd.concat(truths, ignore_index=True).to_csv(tmp, index=False)
    return CohortFiles(cohort_csv, truth_csv, [job[0] for job in jobs])


def _write_recordings(
    jobs: list[tuple], progress: ProgressCallback | None, workers: int, scheduler: str | None
) -> list:
    """``generate_recording(*job)`` for every job, here or on Dask; the truths in job order."""
    total = len(jobs)
    if not workers and not scheduler:
        truths = []
        for job in jobs:
            truths.append(generate_recording(*job))
            notify(progress, len(truths), total, f"{job[0].name} written")
        return truths
    from dask.distributed import as_completed

    from napari_mousestop.cluster import dask_client

    with dask_client(scheduler, min(int(workers or 1), total)) as client:
        futures = {client.submit(generate_recording, *job, pure=False): job for job in jobs}
        for done, future in enumerate(as_completed(futures), start=1):
            notify(progress, done, total, f"{futures[future][0].name} written")
        return client.gather(list(futures))


def score_stops(detected: pd.DataFrame, truth: pd.DataFrame, min_iou: float = 0.5) -> dict:
    """Recall and precision of detected stops against planted ones, matched by overlap.

    A detected and a planted stop of the same animal match when their frame intervals overlap
    by at least ``min_iou`` of their union (intersection over union); each stop matches at most
    once (greedy, best overlap first). Detected stops need ``rfid`` (or ``animal``; ``name``
    where ``rfid`` is empty, as for other trackers' individuals), ``start_frame``,
    ``end_frame``; planted ones ``animal``, ``start_frame``, ``end_frame``.

    Returns
    -------
    dict
        ``recall, precision, n_detected, n_planted, n_matched, position_error_cm`` (median
        distance between matched stops' positions when both have ``x_cm, y_cm``).
    """
    det_key = detected["rfid"] if "rfid" in detected else detected["animal"]
    if "name" in detected:
        det_key = det_key.where(det_key.notna(), detected["name"])
    n_match, errors = 0, []
    for animal, tr in truth.groupby("animal"):
        de = detected[det_key.astype(str).to_numpy() == str(animal)]
        if de.empty:
            continue
        a0, a1 = tr["start_frame"].to_numpy(), tr["end_frame"].to_numpy()
        b0, b1 = de["start_frame"].to_numpy(), de["end_frame"].to_numpy()
        # candidate pairs: for each planted stop, the detected ones that start before it ends
        order = np.argsort(b0)
        b0s, b1s = b0[order], b1[order]
        pairs = []
        for i in range(len(a0)):
            lo = np.searchsorted(b0s, a0[i] - (a1[i] - a0[i]) - 10**7, side="left")
            hi = np.searchsorted(b0s, a1[i], side="right")
            j = np.arange(lo, hi)
            j = j[b1s[j] >= a0[i]]
            inter = np.minimum(a1[i], b1s[j]) - np.maximum(a0[i], b0s[j]) + 1
            union = np.maximum(a1[i], b1s[j]) - np.minimum(a0[i], b0s[j]) + 1
            iou = inter / union
            pairs += [(v, i, order[k]) for v, k in zip(iou, j, strict=True) if v >= min_iou]
        used_a, used_b = set(), set()
        for _, i, k in sorted(pairs, reverse=True):
            if i not in used_a and k not in used_b:
                used_a.add(i)
                used_b.add(k)
                n_match += 1
                if {"x_cm", "y_cm"} <= set(de.columns):
                    errors.append(
                        np.hypot(
                            tr["x_cm"].iloc[i] - de["x_cm"].iloc[k],
                            tr["y_cm"].iloc[i] - de["y_cm"].iloc[k],
                        )
                    )
    n_det, n_pl = len(detected), len(truth)
    return {
        "recall": n_match / n_pl if n_pl else float("nan"),
        "precision": n_match / n_det if n_det else float("nan"),
        "n_detected": n_det,
        "n_planted": n_pl,
        "n_matched": n_match,
        "position_error_cm": float(np.median(errors)) if errors else float("nan"),
    }


PLANTED_PLACES: dict[str, tuple[tuple[float, float], ...]] = {
    "AF": ((9.0, 9.0), (9.0, 28.0)),  # the dome, the middle of the left wall
    "AM": ((27.0, 45.0), (42.0, 45.0)),  # the right feeder, the water
    "JF": ((42.0, 8.0), (25.0, 25.0)),  # the top-right corner, the centre
    "JM": ((12.0, 45.0), (42.0, 28.0)),  # the left feeder, the middle of the right wall
}
"""Places (x, y) in cm that each class alone favours in :func:`planted_histograms` (at least
16 cm from any other class's place)."""


def planted_histograms(
    cages: int = 12,
    per_cage: int = 4,
    hours: int = 4,
    n_bins: int = 30,
    places: dict[str, Sequence[tuple[float, float]]] | None = None,
    stops_per_hour: float = 4.0,
    sd_cm: float = 2.0,
    background: float = 0.05,
    cage_effect: float = 0.3,
    seed: int = 0,
):
    """Hourly stop histograms (a :class:`~napari_mousestop.datasets.dataset.Dataset`) with planted
    places.

    A cohort laid out as the paper's: cages alternate female and male (female first), each
    cage's ``per_cage`` mice recorded as juveniles and as adults. Every animal stops at random
    (Poisson, ``background`` per bin and hour); in each hour it also stops about
    ``stops_per_hour`` times around each of its class's places (Gaussian, ``sd_cm``), times a
    log-normal factor per cage (sigma ``cage_effect``, shared by both recordings) and per mouse.
    No LMT file is involved: this tests the maps where the truth is known exactly.

    Parameters
    ----------
    cages, per_cage, hours, n_bins
        Cohort size, T and N.
    places
        Class name to its places (x, y) in cm; :data:`PLANTED_PLACES` by default. A class
        missing from the dict (or with no places) has none: the null for that class.
    stops_per_hour, sd_cm, background, cage_effect
        Strength and spread of the planted preference, random stops, cage-to-cage variation.
    seed
        Random seed.
    """
    from napari_mousestop.datasets.dataset import Dataset
    from napari_mousestop.io.cohort import CLASSES

    places = PLANTED_PLACES if places is None else places
    rng = np.random.default_rng(seed)
    w = 50.0 / n_bins
    X, labels, cage_ids, recs, animals = [], [], [], [], []
    for c in range(cages):
        sex = "F" if c % 2 == 0 else "M"
        cage_f = rng.lognormal(0.0, cage_effect, 2)  # one factor per place slot
        mouse_f = rng.lognormal(0.0, cage_effect / 2, (per_cage, 2))
        for age in ("J", "A"):
            label = age + sex
            for a in range(per_cage):
                x = rng.poisson(background, size=(hours, n_bins, n_bins)).astype(np.float32)
                for p, centre in enumerate(places.get(label, ())):
                    rate = stops_per_hour * cage_f[p % 2] * mouse_f[a, p % 2]
                    for t in range(hours):
                        xy = rng.normal(centre, sd_cm, size=(rng.poisson(rate), 2))
                        ix, iy = np.clip((xy // w).astype(int), 0, n_bins - 1).T
                        np.add.at(x[t], (iy, ix), 1.0)
                X.append(x)
                labels.append(CLASSES.index(label))
                cage_ids.append(f"cage{c + 1:02d}")
                recs.append(f"cage{c + 1:02d}_{'adult' if age == 'A' else 'juvenile'}.sqlite")
                animals.append(f"c{c + 1:02d}m{a}")
    return Dataset(
        X=np.stack(X),
        labels=np.array(labels),
        cages=np.array(cage_ids),
        recordings=np.array(recs),
        animals=np.array(animals),
        params={
            "histogram": {"interval_s": 3600, "n_intervals": hours, "n_bins": n_bins},
            "planted": {
                "places": {k: [list(p) for p in v] for k, v in places.items()},
                "stops_per_hour": stops_per_hour,
                "sd_cm": sd_cm,
                "background": background,
                "cage_effect": cage_effect,
                "seed": seed,
            },
        },
    )
