"""One design object for every test: unit, factor levels and exchangeability blocks.

A sample is one animal in one recording of one cage. From the samples' cage, recording and
animal ids and the values of the factors the classes were made from, :class:`StudyDesign`
finds for each factor the level it varies at:

* ``"cage"``: constant within each cage, different between cages (sex of single-sex cages,
  a treatment given to whole cages);
* ``"recording"``: constant within each recording of a cage, different between the recordings
  of a cage (age when each cage was recorded as juveniles and again as adults);
* ``"animal"``: different between the animals of one recording, and a fixed trait of each
  animal (the same in all its recordings: genotype, sex in mixed-sex cages).

The relabellings the study's randomisation could have produced are multi-level
exchangeability blocks (Winkler et al. 2015, *Multi-level block permutation*, NeuroImage
121: 51-70): the values of a factor are permuted among the units of its level (cages, the
recordings of a cage, the animals of a cage: an animal carries its value into all its
recordings), and only among units of the same structure: units whose samples hold the same
combinations of the other factors. So no relabelling ever holds a combination of factor
values (a class) the data lack, and an animal keeps its own value of a fixed trait.

Each test gets a :class:`Scheme` (:meth:`StudyDesign.scheme_for`): its unit, a sentence for
the report, the number of distinct labellings, whether they are all listed (when there are at
most :data:`MAX_EXACT`) or drawn at random, and the smallest p-value the design allows. Where no
relabelling is possible the scheme is invalid and says why in one line (``reason``): the test
is left out, never replaced by a coarser one.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from napari_mousestop.errors import DatasetError

if TYPE_CHECKING:  # pragma: no cover
    from napari_mousestop.datasets.dataset import Dataset

LEVELS: tuple[str, ...] = ("cage", "recording", "animal")
"""The levels a factor can vary at, coarsest first."""

MAX_EXACT = 100_000
"""Up to this many distinct labellings, a test lists them all (an exact test)."""

_UNIT_WORDS = {"cage": "cage", "recording": "recording within cage", "animal": "animal within cage"}
_LEVEL_WORDS = {
    "cage": "between cages",
    "recording": "within a cage, across recordings",
    "animal": "within a recording, across animals",
    "constant": "does not vary",
    "none": "within animals and within recordings (no unit carries it)",
}
_TIE = 1e-12


@dataclass(frozen=True)
class FactorLevel:
    """A factor of the classes and the level it varies at.

    Attributes
    ----------
    name
        The cohort column (``"sex"``, ``"genotype"``...).
    values
        Its values present in the data, sorted.
    level
        ``"cage"``, ``"recording"``, ``"animal"`` (see the module), ``"constant"`` (one value)
        or ``"none"`` (it changes within animals and within recordings: no unit carries it).
    """

    name: str
    values: tuple[str, ...]
    level: str

    @property
    def varies(self) -> bool:
        """Whether the factor varies at a level a test can relabel."""
        return self.level in LEVELS

    @property
    def where(self) -> str:
        """The level in words (``"between cages"``...)."""
        return _LEVEL_WORDS[self.level]

    def to_dict(self) -> dict:
        """JSON-friendly dictionary."""
        return {"name": self.name, "values": list(self.values), "level": self.level,
                "where": self.where}  # fmt: skip


def _codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct values and each item's index among them."""
    uniq, inv = np.unique(np.asarray(values, dtype=str), return_inverse=True)
    return uniq, inv.astype(np.int64)


def _constant_within(codes: np.ndarray, units: np.ndarray) -> bool:
    first = np.full(units.max() + 1, -1)
    first[units] = codes  # any one value per unit
    return bool(np.all(first[units] == codes))


def _multinomial(values: np.ndarray) -> int:
    counts = np.unique(values, return_counts=True)[1]
    out = math.factorial(int(counts.sum()))
    for c in counts:
        out //= math.factorial(int(c))
    return out


def _arrangements(values: np.ndarray) -> np.ndarray:
    """Every distinct ordering of the multiset ``values``, shape (k, len(values))."""
    vals, counts = np.unique(values, return_counts=True)
    m = len(values)
    rows: list[np.ndarray] = []

    def place(i: int, free: tuple[int, ...], row: np.ndarray) -> None:
        if i == len(vals) - 1:
            row[list(free)] = vals[i]
            rows.append(row.copy())
            return
        for chosen in itertools.combinations(free, int(counts[i])):
            row[list(chosen)] = vals[i]
            rest = tuple(p for p in free if p not in chosen)
            place(i + 1, rest, row)

    place(0, tuple(range(m)), np.empty(m, dtype=values.dtype))
    return np.stack(rows)


def _shuffle_within(blocks: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, m) indices; each row a random permutation of ``range(m)`` that moves items only
    within their block."""
    m = len(blocks)
    keys = rng.random((n, m))
    order = np.lexsort((keys, np.broadcast_to(blocks, (n, m))), axis=-1)
    out = np.empty((n, m), dtype=np.intp)
    out[:, np.argsort(blocks, kind="stable")] = order
    return out


@dataclass(frozen=True)
class _Move:
    """Values permuted together: per sample its unit, per unit its part of the combination
    code and its exchangeability block."""

    level: str
    units: np.ndarray
    parts: np.ndarray
    blocks: np.ndarray


class Scheme:
    """How one test relabels the data, how many labellings exist and the smallest p.

    Attributes
    ----------
    test
        What is tested: ``"accuracy"`` (the classes), a factor's name, or ``"paired"``
        (sign flips of per-cage differences).
    unit
        The unit relabelled (``"cage"``, ``"recording within cage"``, ``"animal within
        cage"``, or several joined by ``" + "``).
    description
        One sentence for the report; for an invalid scheme, the reason.
    n_labellings
        Distinct labellings (sign patterns for ``"paired"``), the observed one included.
    exact
        Whether :meth:`labellings` lists them all (at most :data:`MAX_EXACT`).
    min_p
        The smallest p-value the design allows: ``1 / n_labellings`` for a one-sided test of
        labels, ``2 / n_labellings`` for the two-sided sign-flip test.
    reason
        Empty for a valid scheme; else why no test is possible, in one line.
    observed
        The observed labels (class indices for ``"accuracy"``, the factor's value indices for
        a factor, ones for ``"paired"``).
    """

    def __init__(
        self,
        test: str,
        unit: str,
        description: str,
        observed: np.ndarray,
        moves: Sequence[_Move] = (),
        fixed: np.ndarray | None = None,
        target: np.ndarray | None = None,
        reason: str = "",
        max_exact: int = MAX_EXACT,
        n_signs: int = 0,
    ) -> None:
        self.test, self.unit, self.reason = test, unit, reason
        self.description = reason or description
        self.observed = np.asarray(observed)
        self._moves, self._fixed, self._target = list(moves), fixed, target
        self._signs = n_signs
        self._listed: np.ndarray | None = None
        if reason:
            self.n_labellings, self.exact = 1, True
        elif n_signs:
            self.n_labellings = 2**n_signs
            self.exact = self.n_labellings <= max_exact
        else:
            count = 1
            for mv in self._moves:
                for b in np.unique(mv.blocks):
                    count *= _multinomial(mv.parts[mv.blocks == b])
            self.n_labellings, self.exact = count, count <= max_exact
            if self.exact:  # list them, keeping only those without a combination the data lack
                self._listed = self._enumerate()
                self.n_labellings = len(self._listed)
        if not reason and self.n_labellings < 2:
            self.reason = self.description = (
                f"{test}: only the observed labelling is possible ({description})"
            )
            self.n_labellings, self.exact = 1, True

    @property
    def valid(self) -> bool:
        """Whether the test can be run."""
        return not self.reason

    @property
    def min_p(self) -> float:
        """The smallest p-value this design allows (see the class)."""
        return min(1.0, (2.0 if self._signs else 1.0) / self.n_labellings)

    # --- drawing -------------------------------------------------------------------------

    def _enumerate(self) -> np.ndarray:
        combos = self._fixed[None, :].astype(np.int64)
        for mv in self._moves:
            for b in np.unique(mv.blocks):
                members = np.flatnonzero(mv.blocks == b)
                arr = _arrangements(mv.parts[members])  # (a, len(members))
                position = np.full(len(mv.parts), -1)
                position[members] = np.arange(len(members))
                hit = position[mv.units] >= 0
                contrib = np.zeros((len(arr), len(mv.units)), dtype=np.int64)
                contrib[:, hit] = arr[:, position[mv.units[hit]]]
                combos = (combos[:, None, :] + contrib[None, :, :]).reshape(-1, len(mv.units))
        out = self._target[combos]
        return out[np.all(out >= 0, axis=1)]

    def _draw(self, n: int, rng: np.random.Generator) -> np.ndarray:
        combos = np.broadcast_to(self._fixed, (n, len(self._fixed))).astype(np.int64)
        for mv in self._moves:
            perm = _shuffle_within(mv.blocks, n, rng)
            combos = combos + mv.parts[perm][:, mv.units]
        return self._target[combos]

    def labellings(self, n: int, rng: np.random.Generator | int | None = None) -> np.ndarray:
        """Relabellings, one per row.

        Parameters
        ----------
        n
            How many to draw when they are not listed (ignored when :attr:`exact`: then every
            distinct labelling is returned, the observed one included).
        rng
            Random generator (or seed) of the draws.

        Returns
        -------
        numpy.ndarray
            (k, n_samples) labels of the kind of :attr:`observed`; for ``"paired"``, (k,
            n_cages) signs +-1.
        """
        if not self.valid:
            raise ValueError(f"no test: {self.reason}")
        rng = np.random.default_rng(rng)
        if self._signs:
            if self.exact:
                return np.array(list(itertools.product((1, -1), repeat=self._signs)))
            return rng.choice((1, -1), size=(n, self._signs))
        if self.exact:
            return self._listed.copy()
        out = np.empty((0, len(self._fixed)), dtype=self._target.dtype)
        for _ in range(100):  # reject the rare draws with a combination the data lack
            draw = self._draw(max(n - len(out), 1), rng)
            out = np.concatenate([out, draw[np.all(draw >= 0, axis=1)]])
            if len(out) >= n:
                return out[:n]
        raise RuntimeError(f"{self.test}: too few valid labellings drawn")  # pragma: no cover

    def p_value(self, null: np.ndarray, observed: float) -> float:
        """One-sided p of ``observed`` against the statistic under :meth:`labellings`.

        Exact (``null`` holds every labelling: :attr:`exact` and ``n_labellings`` values):
        the share of all labellings with a statistic at least ``observed``; else, random
        labellings: ``(1 + #{null >= observed}) / (1 + len(null))``. Never below
        :attr:`min_p`.
        """
        null = np.asarray(null, dtype=float)
        hits = int(np.sum(null >= observed - _TIE))
        listed = self.exact and len(null) == self.n_labellings
        p = hits / len(null) if listed else (1 + hits) / (1 + len(null))
        return float(max(p, self.min_p))

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly summary (for reports and maps.nc)."""
        return {
            "test": self.test,
            "valid": self.valid,
            "unit": self.unit,
            "description": self.description,
            "n_labellings": int(self.n_labellings),
            "exact": bool(self.exact),
            "min_p": float(self.min_p),
            "reason": self.reason,
        }

    def __repr__(self) -> str:
        return f"Scheme({self.to_dict()!r})"


def sign_flip_scheme(n_units: int, unit: str = "cage", max_exact: int = MAX_EXACT) -> Scheme:
    """Sign flips of one paired difference per unit (two-sided; invalid with fewer than 2)."""
    observed = np.ones(n_units, dtype=np.int64)
    if n_units < 2:
        return Scheme("paired", unit, "", observed,
                      reason=f"paired: {n_units} {unit}, need at least 2")  # fmt: skip
    return Scheme(
        "paired",
        unit,
        f"two-sided sign flips of the {n_units} per-{unit} differences",
        observed,
        max_exact=max_exact,
        n_signs=n_units,
    )


class StudyDesign:
    """The design of a study: its samples' cages, recordings, animals, classes and factors.

    Parameters
    ----------
    labels
        Class index of each sample (an animal in one recording).
    cages, recordings, animals
        Ids of each sample's cage, recording and animal (animals are told apart within their
        cage).
    factors
        The columns the classes were made from: name -> each sample's value (in order). Each
        class must be one combination of factor values.
    classes
        Class names, in label order.

    Attributes
    ----------
    unit
        The experimental unit of the study: ``"cage"`` (cage-mates share a cage and a history,
        so intervals and sign-flip tests treat the cage as the independent unit).
    factors
        A :class:`FactorLevel` per factor, in order.
    """

    unit = "cage"

    def __init__(
        self,
        labels: np.ndarray,
        cages: np.ndarray,
        recordings: np.ndarray,
        animals: np.ndarray,
        factors: Mapping[str, np.ndarray],
        classes: Sequence[str],
    ) -> None:
        self.labels = np.asarray(labels, dtype=np.int64)
        self.cages = np.asarray(cages, dtype=str)
        self.recordings = np.asarray(recordings, dtype=str)
        self.animals = np.asarray(animals, dtype=str)
        self.classes = tuple(str(c) for c in classes)
        n = len(self.labels)
        if not factors:
            factors = {"class": np.asarray(self.classes, dtype=object)[self.labels].astype(str)}
        for name, arr in (("cages", self.cages), ("recordings", self.recordings),
                          ("animals", self.animals), *factors.items()):  # fmt: skip
            if len(arr) != n:
                raise DatasetError(f"dataset: {name}: {len(arr)} values for {n} samples")
        _, self._cage = _codes(self.cages)
        _, self._rec = _codes(np.char.add(np.char.add(self.cages, "\x00"), self.recordings))
        _, self._animal = _codes(np.char.add(np.char.add(self.cages, "\x00"), self.animals))
        self._unit_of = {"cage": self._cage, "recording": self._rec, "animal": self._animal}
        self._schemes: dict[tuple[str, int], Scheme] = {}
        self.factor_values: dict[str, np.ndarray] = {
            str(k): np.asarray(v, dtype=str) for k, v in factors.items()
        }
        self.factors: list[FactorLevel] = []
        codes, sizes = [], []
        for name, values in self.factor_values.items():
            uniq, code = _codes(values)
            codes.append(code)
            sizes.append(len(uniq))
            self.factors.append(FactorLevel(name, tuple(str(u) for u in uniq), self._level(code)))
        self._codes = np.stack(codes, axis=1) if codes else np.zeros((n, 0), np.int64)
        self._radix = np.cumprod([1, *sizes[:-1]]).astype(np.int64) if sizes else np.ones(0)
        self._n_combos = int(np.prod(sizes)) if sizes else 1
        self._combo = self._codes @ self._radix if n else np.zeros(0, np.int64)
        self._class_of_combo = np.full(self._n_combos, -1, dtype=np.int64)
        self._class_of_combo[self._combo] = self.labels
        if n and np.any(self._class_of_combo[self._combo] != self.labels):
            bad = np.flatnonzero(self._class_of_combo[self._combo] != self.labels)[:5]
            raise DatasetError(
                f"dataset: the classes are not combinations of the factors "
                f"{list(self.factor_values)}: samples {bad.tolist()} share their factor values "
                "with samples of another class"
            )

    # --- construction ------------------------------------------------------------------------

    @classmethod
    def from_dataset(cls, dataset: Dataset) -> StudyDesign:
        """The design of a :class:`~napari_mousestop.datasets.dataset.Dataset` (its factors)."""
        return cls(
            dataset.labels,
            dataset.cages,
            dataset.recordings,
            dataset.animals,
            dataset.factors or {},
            dataset.classes,
        )

    @classmethod
    def from_arrays(
        cls,
        labels: np.ndarray,
        cages: np.ndarray,
        recordings: np.ndarray,
        animals: np.ndarray | None = None,
        factors: Mapping[str, np.ndarray] | None = None,
        classes: Sequence[str] | None = None,
    ) -> StudyDesign:
        """A design from plain arrays.

        ``animals`` defaults to one animal per sample position within its cage-recording
        (the k-th sample of each cage-recording is the same animal in every recording);
        ``classes`` to ``"0", "1", ...``; ``factors`` to the paper's sex and age when the
        class names are of the ``AM, JM, AF, JF`` form, else one factor ``"class"``.
        """
        labels = np.asarray(labels, dtype=np.int64)
        if classes is None:
            classes = tuple(str(i) for i in range(int(labels.max()) + 1 if len(labels) else 0))
        if animals is None:
            key = np.char.add(np.char.add(np.asarray(cages, str), "\x00"),
                              np.asarray(recordings, str))  # fmt: skip
            animals = np.empty(len(labels), dtype=object)
            for k in np.unique(key):
                idx = np.flatnonzero(key == k)
                animals[idx] = [str(i) for i in range(len(idx))]
            animals = animals.astype(str)
        if factors is None:
            from napari_mousestop.datasets.dataset import factors_from_classes

            factors = factors_from_classes(tuple(classes), labels)
        return cls(labels, cages, recordings, animals, factors, classes)

    def subset(self, mask: np.ndarray) -> StudyDesign:
        """The design of some samples only (e.g. the animals of two classes)."""
        idx = np.flatnonzero(np.asarray(mask)) if np.asarray(mask).dtype == bool else mask
        return StudyDesign(
            self.labels[idx],
            self.cages[idx],
            self.recordings[idx],
            self.animals[idx],
            {k: v[idx] for k, v in self.factor_values.items()},
            self.classes,
        )

    # --- what the design is --------------------------------------------------------------

    def _level(self, code: np.ndarray) -> str:
        if len(np.unique(code)) < 2:
            return "constant"
        for level in LEVELS:
            if _constant_within(code, self._unit_of[level]):
                return level
        return "none"

    def units_at(self, level: str) -> np.ndarray:
        """Each sample's unit at ``level`` (``"cage"``, ``"recording"``: a cage-recording,
        ``"animal"``: an animal of a cage), numbered from 0."""
        return self._unit_of[level]

    def factor(self, name: str) -> FactorLevel:
        """The :class:`FactorLevel` of ``name``."""
        for f in self.factors:
            if f.name == name:
                return f
        raise KeyError(f"no factor {name!r}; factors are {[f.name for f in self.factors]}")

    @property
    def varying(self) -> list[FactorLevel]:
        """The factors that vary (constant ones are not tested)."""
        return [f for f in self.factors if f.level != "constant"]

    def class_values(self, cls: str) -> dict[str, str]:
        """The factor values of class ``cls`` (``{"sex": "F", "age": "A"}`` for ``AF``)."""
        k = self.classes.index(cls)
        sel = self.labels == k
        if not sel.any():
            raise ValueError(f"no sample of class {cls!r}")
        i = int(np.flatnonzero(sel)[0])
        return {name: str(v[i]) for name, v in self.factor_values.items()}

    def counts(self) -> dict[str, dict[str, int]]:
        """Per class present: samples, cages and animals (animals told apart by cage)."""
        out = {}
        for k, cls in enumerate(self.classes):
            sel = self.labels == k
            if sel.any():
                out[cls] = {
                    "samples": int(sel.sum()),
                    "cages": len(np.unique(self._cage[sel])),
                    "animals": len(np.unique(self._animal[sel])),
                }
        return out

    def to_dict(self) -> dict[str, Any]:
        """The design table (experimental unit, factors and levels, sizes per class)."""
        return {
            "experimental_unit": self.unit,
            "n_cages": len(np.unique(self._cage)),
            "n_animals": len(np.unique(self._animal)),
            "n_recordings": len(np.unique(self._rec)),
            "n_samples": len(self.labels),
            "factors": [f.to_dict() for f in self.factors],
            "per_class": self.counts(),
        }

    # --- schemes -------------------------------------------------------------------------

    def _move(self, cols: list[int], level: str) -> _Move:
        """Permute the factors ``cols`` among the units of ``level``, within blocks of units of
        the same parent (the cage, except for cages) and the same combinations of the other
        factors."""
        units = self._unit_of[level]
        n_units = int(units.max()) + 1
        moved = self._codes[:, cols] @ self._radix[cols]
        rest = self._combo - moved
        parts = np.zeros(n_units, dtype=np.int64)
        parts[units] = moved
        parent = np.zeros(n_units, dtype=np.int64)
        if level != "cage":
            parent[units] = self._cage
        keys: dict[tuple, int] = {}
        blocks = np.empty(n_units, dtype=np.int64)
        for u in range(n_units):
            sel = units == u
            key = (int(parent[u]), tuple(sorted(set(rest[sel].tolist()))))
            blocks[u] = keys.setdefault(key, len(keys))
        return _Move(level, units, parts, blocks)

    def _invalid(self, test: str, reason: str, observed: np.ndarray) -> Scheme:
        return Scheme(test, "", "", observed, reason=reason)

    def scheme_for(self, test: str = "accuracy", max_exact: int = MAX_EXACT) -> Scheme:
        """The relabelling scheme of a test.

        Parameters
        ----------
        test
            ``"accuracy"``: the classes, every varying factor relabelled at its level at once
            (the accuracy permutation tests); a factor's name: that factor alone, the others
            kept (its factor test); ``"paired"``: sign flips of one difference per cage (the
            comparison of two classifiers on the same cages).
        max_exact
            List every labelling up to this many.

        Returns
        -------
        Scheme
            Invalid, with its one-line reason, where no relabelling is possible.
        """
        key = (test, max_exact)
        if key not in self._schemes:
            self._schemes[key] = self._scheme(test, max_exact)
        return self._schemes[key]

    def _scheme(self, test: str, max_exact: int) -> Scheme:
        if test == "paired":
            return sign_flip_scheme(len(np.unique(self._cage)), "cage", max_exact)
        if test == "accuracy":
            observed, target = self.labels, self._class_of_combo
            factors = self.varying
            if not factors:
                return self._invalid(test, "accuracy: every sample has the same class", observed)
        else:
            f = self.factor(test)
            col = [g.name for g in self.factors].index(test)
            observed = self._codes[:, col]
            target = np.full(self._n_combos, -1, dtype=np.int64)
            present = self._class_of_combo >= 0
            target[present] = (np.flatnonzero(present) // self._radix[col]) % len(f.values)
            factors = [f]
            if f.level == "constant":
                return self._invalid(test, f"{test}: does not vary ({f.values[0]} only)", observed)
        broken = [f for f in factors if f.level == "none"]
        if broken:
            names = ", ".join(f.name for f in broken)
            return self._invalid(
                test,
                f"{test}: {names} changes within animals and within recordings, so no cage, "
                "recording or animal carries it and no relabelling follows the design",
                observed,
            )
        names = [g.name for g in self.factors]
        moves, parts = [], []
        for level in LEVELS:
            at = [f for f in factors if f.level == level]
            if not at:
                continue
            mv = self._move([names.index(f.name) for f in at], level)
            moves.append(mv)
            what = ", ".join(f.name for f in at)
            mobile = any(len(np.unique(mv.parts[mv.blocks == b])) > 1 for b in np.unique(mv.blocks))
            if not mobile:
                parts.append(f"{what} not relabelled: no two {_UNIT_WORDS[level]}s with "
                             f"different {what} have the same other factors")  # fmt: skip
            elif level == "cage":
                n_blocks = len(np.unique(mv.blocks))
                parts.append(f"{what} of each cage permuted across cages" + (
                    f" of the same structure ({n_blocks} sets of cages with the same other "
                    "factors)" if n_blocks > 1 else ""))  # fmt: skip
            elif level == "recording":
                parts.append(f"{what} of each cage's recordings permuted within the cage")
            else:
                parts.append(f"{what} of each cage's animals permuted within the cage, each "
                             "animal keeping its value in all its recordings")  # fmt: skip
        fixed = self._combo - sum(mv.parts[mv.units] for mv in moves)
        unit = " + ".join(_UNIT_WORDS[mv.level] for mv in moves)
        description = "; ".join(parts)
        scheme = Scheme(test, unit, description, observed, moves, fixed, target,
                        max_exact=max_exact)  # fmt: skip
        if not scheme.valid and len(factors) == 1:
            f = factors[0]
            scheme = self._invalid(
                test,
                f"{test} varies {f.where}, but units with different {test} differ in the "
                "other factors: relabelling them would make classes the data lack",
                observed,
            )
        return scheme
