"""The explanation's parameters and their defaults, in one place.

``mousestop explain``, :func:`~napari_mousestop.explain.run.explain_run`, the class-map functions
(:func:`~napari_mousestop.explain.classmaps.class_maps`, the tests of
:mod:`~napari_mousestop.explain.stats`) and the Compare widget all read their defaults here.
This module imports nothing of the package (a leaf: every explain module may import it).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ExplainParams:
    """Defaults of an explanation (``mousestop explain`` and :func:`explain_run`).

    Attributes
    ----------
    n_permutations
        Cage-level labellings per comparison of a run's maps. 5000 lists every labelling of the
        paper's design (the largest, age over 12 cages, has 4096).
    map_permutations
        Labellings of the test of one family's class maps (the Compare widget, and the
        comparison functions of :mod:`~napari_mousestop.explain.stats` called directly):
        fewer, so that an interactive comparison returns in seconds.
    alpha
        Family-wise error rate of the significance marks.
    seed
        Seed of the permutations.
    statistic
        Test statistic: ``"t"`` (smoothed) or ``"diff"``.
    primary
        The map whose comparisons form the primary family (named in advance, Holm within it).
    patch, stride
        Side of the occluded square and step between squares (bins).
    by
        Class panels by ``"true"`` or (out-of-fold) ``"predicted"`` class.
    correct_only
        Average correctly classified animals only.
    """

    n_permutations: int = 5000
    map_permutations: int = 1000
    alpha: float = 0.05
    seed: int = 0
    statistic: str = "t"
    primary: str = "occlusion_space"
    patch: int = 3
    stride: int = 2
    by: str = "true"
    correct_only: bool = False


EXPLAIN = ExplainParams()
"""The defaults (read by every signature that has one of these parameters)."""
