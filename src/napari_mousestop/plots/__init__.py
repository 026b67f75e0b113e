"""Every figure of the package, drawn on :class:`matplotlib.figure.Figure` (never pyplot)."""
