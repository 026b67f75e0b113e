"""Plain JSON values from numpy, pandas and result dataclass values (one function for every
file the package writes: dataset parameters, reports, map attributes)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def jsonable(obj: Any) -> Any:
    """``obj`` with numpy scalars and arrays, pandas timestamps and missing values turned into
    plain Python (dict keys become strings, tuples lists); None, str, int, float and bool are
    kept, anything else becomes its ``str``."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, pd.Timestamp):
        return obj.isoformat()
    if obj is pd.NA or obj is pd.NaT:
        return None
    if obj is None or isinstance(obj, str | int | float | bool):
        return obj
    return str(obj)


__all__ = ["jsonable"]
