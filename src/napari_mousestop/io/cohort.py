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
from collections.abc import Mapping, Sequence
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
        dataset's option): how the recording's stops are timed; then every other column of the
        file (lower-cased names, stripped text), kept for :func:`label_animals` (a class
        column, or a covariate).

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
    fixed = (*COHORT_COLUMNS, *TRACKER_COLUMNS, "time_base")
    extra = [c for c in df.columns if c not in fixed]
    df = df[[*fixed, *extra]].apply(lambda s: s.astype(str).str.strip())
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


PAPER_FACTORS: tuple[str, ...] = ("sex", "age")
"""The default class columns: sex x age gives the paper's :data:`CLASSES`."""

ANIMAL_FIELDS: tuple[str, ...] = ("sex", "age", "genotype", "strain", "setup", "treatment")
"""Fields of LMT's ANIMAL table (read by name) a class or covariate may come from where the
cohort leaves the cell empty (or has no such column)."""

RECORDING_COLUMNS: tuple[str, ...] = (
    "database", "database_name", "animal", "cage", "row", *TRACKER_COLUMNS, "time_base",
)  # fmt: skip
"""Columns of :func:`read_cohort`'s table that say which animal of which file a row is: never
a class, never a covariate."""

_LEVEL_ORDER = {"sex": ("M", "F"), "age": ("A", "J")}


def parse_classes(columns: str | Sequence[str] | None) -> tuple[str, ...]:
    """The class columns of ``--classes``: ``"genotype"``, ``"genotype,sex"`` or a sequence.

    None or empty gives :data:`PAPER_FACTORS`. Names are lower-cased and stripped, as
    :func:`read_cohort` does with the CSV's header.

    Raises
    ------
    CohortError
        A column named twice, or one that says which file or animal a row is (``database``,
        ``animal``, ``cage``...): those cannot be classes.
    """
    if columns is None:
        return PAPER_FACTORS
    parts = columns.split(",") if isinstance(columns, str) else list(columns)
    names = tuple(str(c).strip().lower() for c in parts if str(c).strip())
    if not names:
        return PAPER_FACTORS
    twice = sorted({c for c in names if names.count(c) > 1})
    if twice:
        raise CohortError(f"--classes: column(s) {twice} named twice")
    structural = [c for c in names if c in RECORDING_COLUMNS]
    if structural:
        raise CohortError(
            f"--classes: {structural} say which animal of which file a row is, not a class "
            "(use a column such as sex, age, genotype, strain or one of your own)"
        )
    return names


def class_value(column: str, value, threshold_days: float = AGE_THRESHOLD_DAYS) -> str | None:
    """A cell's value as a class factor: ``sex`` -> M/F (:func:`parse_sex`), ``age`` -> A/J
    (:func:`parse_age` with ``threshold_days``), any other column its stripped text; None when
    missing or (sex, age) not understood."""
    if _blank(value):
        return None
    if column == "sex":
        return parse_sex(value)
    if column == "age":
        return parse_age(value, threshold_days)
    return str(value).strip()


def class_name(columns: Sequence[str], values: Sequence[str]) -> str:
    """The class of an animal from its factor values (in ``columns`` order).

    Sex and age together give the paper's names (``AM``, ``JF``...); one column gives its value
    (``KO``); several others their values joined by ``-`` (``KO-F``).
    """
    columns = tuple(columns)
    if sorted(columns) == ["age", "sex"]:
        by = dict(zip(columns, values, strict=True))
        return f"{by['age']}{by['sex']}"
    return "-".join(str(v) for v in values)


def class_order(columns: Sequence[str], combos) -> tuple[str, ...]:
    """Class names of the factor-value tuples ``combos`` (those present), in a fixed order.

    The paper's four come in :data:`CLASSES` order (AM, JM, AF, JF); otherwise by each
    column's values in turn: sex M then F, age A then J, any other column sorted.
    """
    columns = tuple(columns)
    combos = set(map(tuple, combos))

    def key(combo):
        return tuple(
            (_LEVEL_ORDER[c].index(v), v) if v in _LEVEL_ORDER.get(c, ()) else (len(v) + 9, v)
            for c, v in zip(columns, combo, strict=True)
        )

    names = [class_name(columns, combo) for combo in sorted(combos, key=key)]
    if sorted(columns) == ["age", "sex"]:
        return tuple(c for c in CLASSES if c in names)
    return tuple(dict.fromkeys(names))


def animal_key(animal: dict) -> str:
    """How an animal is shown: its RFID, else its name, else its database id."""
    for key in ("rfid", "name", "animal_id"):
        value = animal.get(key)
        if value is not None and not (isinstance(value, float) and value != value):
            return str(value)
    return "?"


def match_animal(animals: Sequence[dict], animal: str) -> int | None:
    """Index of the record in ``animals`` (ANIMAL rows, or a tracker's individuals) whose RFID,
    else NAME, is ``animal``; None when none is."""
    for key in ("rfid", "name"):
        for i, a in enumerate(animals):
            if a.get(key) is not None and str(a[key]).strip() == str(animal).strip():
                return i
    return None


def label_animals(
    rows: pd.DataFrame,
    animals: Mapping[str, Sequence[dict]] | None = None,
    columns: str | Sequence[str] | None = None,
    threshold_days: float = AGE_THRESHOLD_DAYS,
    where: str = "cohort",
    strict: bool = True,
) -> pd.DataFrame:
    """The one labelling of animals (CLI, batch and every widget): the class of each row.

    Each class column's value is the row's cohort cell, or where that is empty (or the cohort
    has no such column) the field of the same name of the animal's ANIMAL record (see
    :data:`ANIMAL_FIELDS`; a tracker's file has none), normalised by :func:`class_value`.

    Parameters
    ----------
    rows
        Cohort rows as :func:`read_cohort` gives them (``database``, ``animal``; ``row``,
        ``database_name``, ``individual``, ``source_software`` and any other column used when
        present).
    animals
        The ANIMAL records (:func:`napari_mousestop.io.lmt.read_animals` as dicts, or a
        :class:`~napari_mousestop.histograms.RecordingStacks`' ``animals``) of each
        ``database``; a row's record is found by RFID, else NAME.
    columns
        The class columns (:func:`parse_classes`); default sex, age: the paper's AM/JM/AF/JF.
    threshold_days
        Ages below it are juvenile.
    where
        Named in error messages (the cohort file).
    strict
        Raise on an unknown column or a row without a value; False labels such rows None.

    Returns
    -------
    DataFrame
        A copy of ``rows`` whose class columns hold the normalised values (None where missing),
        with ``label`` (class name, None where a value is missing) and, for every other column
        that is not a :data:`RECORDING_COLUMNS` one (the covariates), its value (sex and age
        normalised where understood, the ANIMAL record's value where the cell is empty).
        ``attrs["classes"]`` holds the class columns, ``attrs["covariates"]`` the others.

    Raises
    ------
    CohortError
        ``strict`` and a class column neither in the cohort nor an ANIMAL field, or rows
        without a value or with a sex/age not understood (every such row listed).
    """
    columns = parse_classes(columns)
    animals = animals or {}
    unknown = [c for c in columns if c not in rows.columns and c not in ANIMAL_FIELDS]
    if unknown and strict:
        have = [c for c in rows.columns if c not in RECORDING_COLUMNS]
        raise CohortError(
            f"{where}: no column {', '.join(map(repr, unknown))} for the classes (cohort "
            f"columns: {', '.join(have) or 'none'}; LMT's ANIMAL table gives "
            f"{', '.join(ANIMAL_FIELDS)})"
        )
    covariates = [
        c for c in rows.columns if c not in RECORDING_COLUMNS and c not in columns and c != "label"
    ]
    out = rows.copy()
    values: dict[str, list] = {c: [] for c in (*columns, *covariates)}
    labels, bad = [], []
    for r in rows.to_dict("records"):
        software = r.get("source_software") or ""
        records = animals.get(r.get("database"), ())
        i = match_animal(records, r.get("individual") or r["animal"] if software else r["animal"])
        record = records[i] if i is not None else {}
        problems, combo = [], []
        for c in (*columns, *covariates):
            raw = r.get(c)
            if _blank(raw) and c in ANIMAL_FIELDS:
                raw = record.get(c)
            value = class_value(c, raw, threshold_days)
            if c not in columns:
                values[c].append(value if value is not None else ("" if _blank(raw) else raw))
                continue
            values[c].append(value)
            combo.append(value)
            if value is None:
                problems.append(
                    f"{c} is missing" if _blank(raw) else f"{c} {raw!r} is not understood"
                )
        labels.append(None if problems else class_name(columns, combo))
        if problems:
            row = r.get("row", "?")
            row = f"line {row}" if isinstance(row, int) else str(row)
            name = Path(str(r.get("database_name") or r.get("database"))).name
            bad.append(f"{row} ({name}, animal {r['animal']}): {'; '.join(problems)}")
    if bad and strict:
        hint = (
            " (use sex F/M, age as adult/juvenile or e.g. 40d, P40, 26w, 6mo)"
            if {"sex", "age"} & set(columns)
            else ""
        )
        raise CohortError(
            f"{where}: rows without a class ({', '.join(columns)}){hint}:\n  " + "\n  ".join(bad)
        )
    for c, v in values.items():
        out[c] = pd.Series(v, index=out.index, dtype=object)
    out["label"] = pd.Series(labels, index=out.index, dtype=object)
    out.attrs = {"classes": columns, "covariates": covariates}
    return out


def recording_labels(
    db: str | os.PathLike,
    animals: Sequence[dict],
    rows: pd.DataFrame | None = None,
    columns: str | Sequence[str] | None = None,
    threshold_days: float = AGE_THRESHOLD_DAYS,
) -> tuple[str, dict[str, str | None], dict[str, dict[str, str]]]:
    """Cage id, class and column values per animal of one recording, for the widgets and the
    reader.

    With cohort ``rows`` (those listing ``db``), the cage and each listed animal's class come
    from them (:func:`label_animals`, ANIMAL fields where cells are empty); animals the rows do
    not list get None. Without, the cage is the file's stem and the class comes from the
    ANIMAL record. Keys are :func:`~napari_mousestop.histograms.animal_key`; a class is None
    where a value is missing or not understood. The values of a labelled animal are those of
    the class columns and of every other cohort column (the covariates), as
    :func:`label_animals` gives them.
    """
    db = str(db)
    # an animal without RFID or name is found by the key it is shown with
    animals = [{**a, "rfid": animal_key(a)} for a in animals]
    if rows is None:
        rows = pd.DataFrame(
            {"database": db, "animal": [animal_key(a) for a in animals], "source_software": ""}
        )
        cage = Path(db).stem
    else:
        rows = rows.assign(database=db)
        cage = str(rows["cage"].iloc[0])
    table = label_animals(rows, {db: animals}, columns, threshold_days, strict=False)
    labels: dict[str, str | None] = {animal_key(a): None for a in animals}
    factors: dict[str, dict[str, str]] = {}
    for r in table.to_dict("records"):
        software = r.get("source_software") or ""
        i = match_animal(animals, r.get("individual") or r["animal"] if software else r["animal"])
        if i is not None:
            key = animal_key(animals[i])
            labels[key] = r["label"] if isinstance(r["label"], str) else None
            if labels[key] is not None:
                kept = (*table.attrs["classes"], *table.attrs["covariates"])
                factors[key] = {c: str(r[c]) for c in kept}
    return cage, labels, factors
