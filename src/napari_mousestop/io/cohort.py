"""Class labels of the cohort (adult/juvenile x male/female) and the cohort CSV.

The cohort CSV has one row per animal-recording::

    database,animal,cage,sex,age
    cage01_juvenile.sqlite,000012345678,cage01,female,P40
    cage01_adult.sqlite,000012345678,cage01,F,6mo

``database`` is relative to the CSV's folder (or absolute); ``animal`` is the animal's RFID or
NAME in that database; ``sex`` and ``age`` may be left empty, the ANIMAL table's SEX and AGE
columns are then used. Free text is mapped tolerantly (see :func:`parse_sex`, :func:`parse_age`).

Recordings of other trackers (read through movement, see :mod:`napari_mousestop.io.trackers`)
may be listed in the same file, with five more columns (:data:`TRACKER_COLUMNS`)::

    database,animal,cage,sex,age,source_software,individual,fps,calibration,start_time
    cage07_adult.h5,c7A,cage07,M,adult,DeepLabCut,individual_0,30,cal.toml,2024-03-01 19:00

``source_software`` (DeepLabCut, SLEAP, LightningPose, Anipose, NWB, VIA-tracks) marks the row's
file as such a recording (empty: an LMT database); ``individual`` is movement's name of the
animal in the file (empty: the ``animal`` cell); ``fps``, ``calibration`` (a layout file with a
``[video]`` section, relative to the CSV's folder) and ``start_time`` (clock time of the video's
time 0) may be left empty when the dataset's options or the calibration give them. Their sex and
age must be in the cohort (such files have no ANIMAL table).

An optional ``time_base`` column (``timestamp`` or ``frames``; empty: the dataset's
``--time-base``) times one LMT recording's stops by frame number when its clock is broken,
without forcing frame timing on the whole cohort.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

from napari_mousestop.errors import CohortError, TrackerError
from napari_mousestop.io.trackers import TrackerParams, source_software_name, with_file_settings

CLASSES: tuple[str, ...] = ("AM", "JM", "AF", "JF")
"""Class names in the order used everywhere (confusion matrices, model outputs, figures)."""

AGE_THRESHOLD_DAYS: float = 56.0
"""Ages below this many days (8 weeks) are juvenile, the others adult (paper: ~40 d vs ~6 mo)."""

COHORT_COLUMNS: tuple[str, ...] = ("database", "animal", "cage", "sex", "age")
TRACKER_COLUMNS: tuple[str, ...] = ("source_software", "individual", "fps", "calibration",
                                    "start_time")  # fmt: skip
"""Optional columns of rows that name another tracker's file (see the module docstring)."""
_FILE_SETTINGS = ("source_software", "fps", "calibration", "start_time")

_SEX = {
    "f": "F", "female": "F", "fem": "F", "femelle": "F", "♀": "F", "w": "F",
    "m": "M", "male": "M", "mâle": "M", "♂": "M",
}  # fmt: skip
_AGE_WORDS = {
    "a": "A", "adult": "A", "adults": "A", "ad": "A", "adulte": "A",
    "j": "J", "juv": "J", "juvenile": "J", "juveniles": "J", "young": "J", "adolescent": "J",
    "juvénile": "J",
}  # fmt: skip
_DAYS_PER = {
    "d": 1.0, "day": 1.0, "days": 1.0, "j": 1.0, "jours": 1.0,
    "w": 7.0, "wk": 7.0, "wks": 7.0, "week": 7.0, "weeks": 7.0,
    "m": 30.4375, "mo": 30.4375, "mos": 30.4375, "mon": 30.4375, "month": 30.4375,
    "months": 30.4375, "y": 365.25, "yr": 365.25, "yrs": 365.25, "year": 365.25, "years": 365.25,
}  # fmt: skip
_AGE_NUM = re.compile(r"^(\d+(?:[.,]\d+)?)\s*([a-zé]*)\.?$")
_POSTNATAL = re.compile(r"^p\s*(\d+(?:\.\d+)?)$")


def _blank(value) -> bool:
    return (
        value is None
        or (isinstance(value, float) and value != value)
        or str(value).strip()
        in (
            "",
            "nan",
            "None",
            "NA",
            "<NA>",
        )
    )


def parse_sex(value) -> str | None:
    """Map free text to ``"M"`` or ``"F"``; ``None`` when missing or not understood.

    Accepted (any case): ``F, f, female, fem, Female, ♀`` and ``M, m, male, Male, ♂``.
    """
    if _blank(value):
        return None
    return _SEX.get(str(value).strip().lower())


def age_in_days(value) -> float | None:
    """Age text to days: ``"40d"``, ``"P40"``, ``"26w"``, ``"6mo"``, ``"6 months"``, ``"1y"``.

    Units: d/day(s); w/wk/week(s) = 7 d; m/mo/month(s) = 30.44 d; y/yr/year(s) = 365.25 d;
    ``P<n>`` is postnatal day n. A bare number has no unit and is refused (None): "6" could be
    days, weeks or months.
    """
    if _blank(value):
        return None
    text = str(value).strip().lower()
    match = _POSTNATAL.match(text)
    if match:
        return float(match.group(1))
    match = _AGE_NUM.match(text)
    if not match or match.group(2) not in _DAYS_PER:
        return None
    return float(match.group(1).replace(",", ".")) * _DAYS_PER[match.group(2)]


def parse_age(value, threshold_days: float = AGE_THRESHOLD_DAYS) -> str | None:
    """Map free text to ``"A"`` (adult) or ``"J"`` (juvenile); ``None`` when not understood.

    Words: ``adult, A, ad`` and ``juvenile, juv, J, young, adolescent`` (any case). Ages with a
    unit (see :func:`age_in_days`) are juvenile below ``threshold_days`` (default 56 d = 8
    weeks), adult from it on.
    """
    if _blank(value):
        return None
    word = _AGE_WORDS.get(str(value).strip().lower())
    if word:
        return word
    days = age_in_days(value)
    if days is None:
        return None
    return "J" if days < threshold_days else "A"


def class_label(sex, age, threshold_days: float = AGE_THRESHOLD_DAYS) -> str:
    """The class (one of :data:`CLASSES`) of an animal from free-text sex and age.

    Raises
    ------
    ValueError
        If sex or age is missing or not understood.
    """
    s, a = parse_sex(sex), parse_age(age, threshold_days)
    problems = []
    if s is None:
        problems.append("sex is missing" if _blank(sex) else f"sex {sex!r} is not understood")
    if a is None:
        problems.append("age is missing" if _blank(age) else f"age {age!r} is not understood")
    if problems:
        raise ValueError("; ".join(problems))
    return f"{a}{s}"


def read_cohort(path: str | os.PathLike) -> pd.DataFrame:
    """Read a cohort CSV.

    Returns
    -------
    DataFrame
        Columns ``database`` (absolute path), ``database_name`` (as written), ``animal``,
        ``cage``, ``sex``, ``age``, the :data:`TRACKER_COLUMNS` (str, ``""`` where empty;
        ``source_software`` in movement's spelling, ``individual`` filled from ``animal``,
        ``calibration`` an absolute path) and ``row`` (1-based line number in the file, header
        = line 1), in file order; ``time_base`` (``timestamp``, ``frames`` or ``""`` for the
        dataset's option): how the recording's stops are timed.

    Raises
    ------
    CohortError
        If the file is missing, lacks columns, or has rows without database, animal or cage,
        duplicated (database, animal) or (database, individual) pairs, an unknown source
        software, a bad fps or start time, tracker settings on an LMT row, or one file listed
        with different settings. The message lists the offending rows.
    """
    path = Path(path)
    if not path.is_file():
        raise CohortError(f"{path}: no such cohort file")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except Exception as exc:
        raise CohortError(f"{path}: cannot read cohort CSV ({exc})") from None
    df.columns = [str(c).strip().lower() for c in df.columns]
    missing = [c for c in ("database", "animal", "cage") if c not in df.columns]
    if missing:
        raise CohortError(
            f"{path}: cohort CSV lacks columns {missing} (expected {', '.join(COHORT_COLUMNS)})"
        )
    for col in ("sex", "age", *TRACKER_COLUMNS, "time_base"):
        if col not in df.columns:
            df[col] = ""
    df = df[[*COHORT_COLUMNS, *TRACKER_COLUMNS, "time_base"]].apply(
        lambda s: s.astype(str).str.strip()
    )
    df["time_base"] = df["time_base"].str.lower()
    df["row"] = range(2, len(df) + 2)
    if df.empty:
        raise CohortError(f"{path}: cohort CSV has no rows")
    bad = [
        f"line {r.row}: empty {c}"
        for r in df.itertuples()
        for c in ("database", "animal", "cage")
        if not getattr(r, c)
    ]
    bad += _tracker_cells(df, path)
    bad += [
        f"line {r.row}: time_base {r.time_base!r} is not timestamp or frames"
        for r in df.itertuples()
        if r.time_base not in ("", "timestamp", "frames")
    ]
    dup = df.duplicated(["database", "animal"], keep=False)
    bad += [f"line {r.row}: {r.animal} listed twice for {r.database}" for r in df[dup].itertuples()]
    tracked = df[df["source_software"] != ""]
    dup = tracked.duplicated(["database", "individual"], keep=False)
    bad += [
        f"line {r.row}: individual {r.individual} listed twice for {r.database}"
        for r in tracked[dup].itertuples()
    ]
    for db, rows in df.groupby("database", sort=False):
        if len(rows[[*_FILE_SETTINGS, "time_base"]].drop_duplicates()) > 1:
            lines = ", ".join(str(r) for r in rows["row"])
            bad.append(
                f"lines {lines}: {db} is listed with different source_software, fps, "
                "calibration, start_time or time_base"
            )
    if bad:
        raise CohortError(f"{path}: bad cohort rows:\n  " + "\n  ".join(bad))
    df["database_name"] = df["database"]
    df["database"] = [str((path.parent / d).resolve()) for d in df["database"]]
    return df.reset_index(drop=True)


def _tracker_cells(df: pd.DataFrame, path: Path) -> list[str]:
    """Check and normalise the tracker columns in place; the problems, one per line."""
    bad = []
    for i, r in zip(df.index, df.itertuples(), strict=True):
        if not r.source_software:
            given = [c for c in TRACKER_COLUMNS[1:] if getattr(r, c)]
            if given:
                bad.append(
                    f"line {r.row}: {', '.join(given)} given but no source_software (an LMT "
                    "database needs none)"
                )
            continue
        try:
            df.at[i, "source_software"] = source_software_name(r.source_software)
            TrackerParams(r.source_software, fps=r.fps or None, start_time=r.start_time or None)
        except TrackerError as exc:
            bad.append(f"line {r.row}: {exc}")
        if not r.individual:
            df.at[i, "individual"] = r.animal
        if r.calibration:
            df.at[i, "calibration"] = str((path.parent / r.calibration).resolve())
    return bad


def cohort_trackers(
    cohort: pd.DataFrame, defaults: TrackerParams | None = None
) -> dict[str, TrackerParams | None]:
    """How to read each recording of a cohort: None for an LMT database, else its tracker
    parameters (``defaults`` with the row's source software, fps, calibration and start time).

    Keys are the ``database`` column (absolute paths) of :func:`read_cohort`'s table.
    """
    defaults = defaults or TrackerParams()
    out: dict[str, TrackerParams | None] = {}
    for r in cohort.drop_duplicates("database").itertuples():
        software = getattr(r, "source_software", "")
        out[r.database] = (
            with_file_settings(
                defaults,
                source_software=software,
                fps=r.fps,
                calibration=r.calibration,
                start_time=r.start_time,
            )
            if software
            else None
        )
    return out


def assign_labels(
    cohort: pd.DataFrame,
    threshold_days: float = AGE_THRESHOLD_DAYS,
    where: str = "cohort",
) -> pd.DataFrame:
    """Add ``label`` (class name) and ``label_index`` (into :data:`CLASSES`) to a cohort table.

    Raises
    ------
    CohortError
        Listing every row whose sex or age is missing or not understood.
    """
    labels, bad = [], []
    for r in cohort.itertuples():
        try:
            labels.append(class_label(r.sex, r.age, threshold_days))
        except ValueError as exc:
            row = getattr(r, "row", f"row {r.Index}")
            row = f"line {row}" if isinstance(row, int) else str(row)
            bad.append(f"{row} ({Path(str(r.database)).name}, animal {r.animal}): {exc}")
            labels.append(None)
    if bad:
        raise CohortError(
            f"{where}: unknown or missing labels (use sex F/M, age as adult/juvenile or "
            f"e.g. 40d, P40, 26w, 6mo):\n  " + "\n  ".join(bad)
        )
    out = cohort.copy()
    out["label"] = labels
    out["label_index"] = [CLASSES.index(x) for x in labels]
    return out


def labels_from_animals(
    animals: pd.DataFrame, threshold_days: float = AGE_THRESHOLD_DAYS, where: str = "ANIMAL"
) -> pd.DataFrame:
    """Labels from an ANIMAL table as read by :func:`napari_mousestop.io.lmt.read_animals`.

    Returns a copy with ``label`` and ``label_index`` columns; raises :class:`CohortError`
    listing the animals whose SEX or AGE is missing or not understood.
    """
    table = animals.copy()
    table["database"] = where
    n = len(table)
    ids = list(table["animal_id"]) if "animal_id" in table else list(range(n))
    rfids = list(table["rfid"]) if "rfid" in table else [None] * n
    names = list(table["name"]) if "name" in table else [None] * n
    table["animal"] = [
        str(r) if not _blank(r) else str(nm) if not _blank(nm) else str(i)
        for r, nm, i in zip(rfids, names, ids, strict=True)
    ]
    table["row"] = [f"animal_id {i}" for i in ids]
    out = assign_labels(table, threshold_days, where=where)
    out = out.drop(columns=["database", "row"])
    out["animal"] = table["animal"]
    return out
