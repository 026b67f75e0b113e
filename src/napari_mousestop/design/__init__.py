"""The study's design: its experimental unit, the level each factor varies at, and the
relabellings its randomisation could have produced.

Every test of the package (the accuracy and factor permutation tests, the sign-flip
comparisons of classifiers, the retrained permutation test and the map tests) draws its
labellings from one :class:`StudyDesign`::

    design = StudyDesign.from_dataset(dataset)
    scheme = design.scheme_for("accuracy")     # or a factor name, or "paired"
    if scheme.valid:
        null = scheme.labellings(1000, rng)    # every labelling when they are few

See :mod:`napari_mousestop.design.study`.
"""

from napari_mousestop.design.study import (
    LEVELS,
    MAX_EXACT,
    FactorLevel,
    Scheme,
    StudyDesign,
    sign_flip_scheme,
)

__all__ = ["LEVELS", "MAX_EXACT", "FactorLevel", "Scheme", "StudyDesign", "sign_flip_scheme"]
