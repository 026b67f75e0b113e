"""Class labels of the cohort: adult/juvenile x male/female."""

from __future__ import annotations

CLASSES: tuple[str, ...] = ("AM", "JM", "AF", "JF")
"""Class names in the order used everywhere (confusion matrices, model outputs, figures)."""
