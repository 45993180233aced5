"""Rows appended per second, from two successive reads of a buffer's newest rows.

The buffer model has ``current_size`` but no count of rows ever appended. While the
buffer is not full, the growth of ``current_size`` is that count. Once it is full,
the size stays at ``max_size``, so the count comes from aligning the two reads. The
newest row of the earlier read is looked up in the later one. The shift at which the
overlapping rows match is the number of rows appended in between.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

RowArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Appended:
    """Rows appended between two reads; ``exact`` is false for a lower bound."""

    rows: int
    exact: bool


def rows_appended(
    before: RowArray, size_before: int, after: RowArray, size_after: int, max_size: int
) -> Appended:
    """Count the rows appended between two reads of a buffer's newest rows.

    ``before`` and ``after`` are ``(rows, columns)`` arrays of the newest rows, oldest
    first, read when the buffer held ``size_before`` and ``size_after`` rows. When
    the buffer is full, the count is the smallest shift that lines the two reads up,
    so data that repeats itself with a short period can give too small a count.
    When no row of ``before`` is left in ``after``, the count is a lower bound.

    Examples
    --------
    >>> before = np.array([[1.0], [2.0], [3.0]])
    >>> rows_appended(before, 3, np.array([[1.0], [2.0], [3.0], [4.0]]), 4, 10)
    Appended(rows=1, exact=True)
    >>> rows_appended(before, 3, np.array([[3.0], [4.0], [5.0]]), 3, 3)
    Appended(rows=2, exact=True)
    >>> rows_appended(before, 3, np.array([[7.0], [8.0], [9.0]]), 3, 3)
    Appended(rows=3, exact=False)
    """
    growth = max(size_after - size_before, 0)
    if size_after < max_size or len(before) == 0:
        return Appended(growth, True)
    newest = before[-1]
    # Positions in ``after`` holding the row that was newest in ``before``, newest
    # first, so that the smallest shift is tried first.
    matches = np.flatnonzero((after == newest).all(axis=1))[::-1]
    for position in matches.tolist():
        shift = len(after) - 1 - position
        if shift < growth:
            continue
        overlap = min(len(before), position + 1)
        if np.array_equal(
            before[len(before) - overlap :],
            after[position + 1 - overlap : position + 1],
        ):
            return Appended(shift, True)
    return Appended(max(len(after), growth), False)
