"""Input scaling of histogram stacks, fitted on training data only."""

from __future__ import annotations

import numpy as np


class InputScaler:
    """``log1p`` of the stop counts, divided by one scale fitted on the training samples.

    Counts per bin and hour are heavy-tailed (a resting place collects hundreds of stops, most
    bins none): ``log1p`` compresses them, and dividing by the root mean square of the
    training values brings the inputs to unit size so the paper's learning rate works for any
    interval length or grid. No centring: an empty bin stays exactly zero, so activation and
    evidence maps of empty places stay zero too. ``"none"`` leaves the data as it is.

    Parameters
    ----------
    method
        ``"log1p"`` or ``"none"``.
    scale
        The fitted divisor (1.0 before fitting).
    """

    METHODS = ("log1p", "none")

    def __init__(self, method: str = "log1p", scale: float = 1.0, n_fit: int = 0) -> None:
        if method not in self.METHODS:
            raise ValueError(f"scaling must be one of {self.METHODS} (got {method!r})")
        self.method = method
        self.scale = float(scale)
        self.n_fit = int(n_fit)

    def _base(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float32)
        if self.method == "log1p":
            if X.size and X.min() < 0:
                raise ValueError("scaling: log1p needs non-negative histogram values")
            return np.log1p(X)
        return X

    def fit(self, X: np.ndarray) -> InputScaler:
        """Fit the scale on training stacks ``X`` (n, T, N, N); returns self."""
        base = self._base(X)
        if self.method == "none":
            self.scale = 1.0
        else:
            rms = float(np.sqrt(np.mean(np.square(base, dtype=np.float64)))) if base.size else 0.0
            self.scale = rms if rms > 0 else 1.0
        self.n_fit = int(np.asarray(X).shape[0])
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Scaled float32 copy of ``X``."""
        return (self._base(X) / np.float32(self.scale)).astype(np.float32, copy=False)

    def to_dict(self) -> dict:
        """JSON-friendly dictionary."""
        return {"method": self.method, "scale": self.scale, "n_fit": self.n_fit}

    @classmethod
    def from_dict(cls, d: dict) -> InputScaler:
        """Inverse of :meth:`to_dict`."""
        return cls(d.get("method", "log1p"), d.get("scale", 1.0), d.get("n_fit", 0))

    def __repr__(self) -> str:
        return f"InputScaler(method={self.method!r}, scale={self.scale:.6g}, n_fit={self.n_fit})"
