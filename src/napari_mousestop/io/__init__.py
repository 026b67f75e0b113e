"""Recordings and their context: the LMT reader (page and SQL sources), cohort tables,
cage layout and geometry, atomic file writes.
"""
