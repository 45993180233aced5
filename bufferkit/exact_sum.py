"""Correctly rounded sums of the rows of a 2-D float64 array.

``math.fsum`` returns the exact sum of its values rounded once to float64, but it
loops in Python, at about 5 ns per value on a 2-core test machine. That is too slow
for the windows of a long feature history. ``fsum_rows`` returns the same float64
as ``math.fsum`` for every row, bit for bit.

Large arrays take a vectorised path. It keeps each row's sum as an unevaluated pair
``s + c``, where ``c`` collects the exact error of every addition (the TwoSum
identity). A bound on the rounding error of ``c`` then proves, row by row, that
``s + c`` rounds to the exact sum. Rows it cannot prove, such as exact ties, fall
back to ``math.fsum``.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from bufferkit.storage import FloatArray

#: Below this many rows, ``math.fsum`` per row is faster than the vectorised path.
_VECTOR_MIN_ROWS = 64
#: Rows whose values could sum past this in magnitude go to ``math.fsum``, which
#: raises ``OverflowError`` where an intermediate sum overflows.
_SAFE_MAGNITUDE = 2.0**1020


def fsum_rows(rows: FloatArray) -> FloatArray:
    """Return ``math.fsum`` of each row of the finite ``(k, n)`` array ``rows``.

    A row whose ``math.fsum`` raises ``OverflowError`` gets ``inf``.

    Examples
    --------
    >>> import numpy as np
    >>> values = np.array([[0.1, 0.2, 0.3, -0.6], [1e20, 1.0, -1e20, 0.0]])
    >>> fsum_rows(values).tolist()
    [2.7755575615628914e-17, 1.0]
    >>> sum([0.1, 0.2, 0.3, -0.6])
    1.1102230246251565e-16
    """
    count, width = rows.shape
    if count < _VECTOR_MIN_ROWS:
        return np.array([_fsum(row) for row in rows.tolist()], dtype=np.float64)
    sums, proven = _paired_sums(rows)
    with np.errstate(over="ignore"):
        proven &= np.abs(rows).max(axis=1) * width < _SAFE_MAGNITUDE
    for index in np.flatnonzero(~proven).tolist():
        sums[index] = _fsum(rows[index].tolist())
    return sums


def _fsum(values: list[float]) -> float:
    try:
        return math.fsum(values)
    except OverflowError:
        return math.inf


def _paired_sums(rows: FloatArray) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """Return each row's sum rounded once and whether that rounding is proven."""
    count = rows.shape[0]
    level = rows
    low = np.zeros(count)
    magnitude = np.zeros(count)
    terms = 0
    with np.errstate(over="ignore", invalid="ignore"):
        # Tree of additions: each level adds its second half to its first half and
        # keeps the exact error of every addition (Knuth's TwoSum), so the row's
        # exact sum is the last level's value plus the sum of every error.
        while level.shape[1] > 1:
            half = level.shape[1] // 2
            total, error = _two_sum(level[:, :half], level[:, half : 2 * half])
            if level.shape[1] % 2:
                total = np.concatenate([total, level[:, 2 * half :]], axis=1)
            low += error.sum(axis=1)
            magnitude += np.abs(error).sum(axis=1)
            terms += half
            level = total
        high = level[:, 0]
        # Summing m terms in any order is off by at most (m - 1) * u / (1 - (m - 1)
        # * u) times the sum of their magnitudes (u = 2**-53); m * 2**-51 is more
        # than twice that, which also covers the rounding of this bound itself, and
        # 2**-1073 covers a product that underflows.
        bound = magnitude * (max(terms, 1) * 2.0**-51) + 2.0**-1073
        rounded, residual = _two_sum(high, low)
        # The exact sum is rounded + residual + (an error below bound). It rounds to
        # ``rounded`` when that stays under half the gap to the neighbouring float,
        # the smaller gap (below) where ``rounded`` is a power of two. A gap that
        # underflows to 0 proves nothing, and neither does an exact tie, so such
        # rows take the slow path.
        size = np.abs(rounded)
        gap = np.spacing(size)
        mantissa, _ = np.frexp(size)
        half_gap = np.where(mantissa == 0.5, gap / 4, gap / 2)
        proven = np.isfinite(rounded) & (np.abs(residual) + bound < half_gap)
    return rounded, proven


def _two_sum(first: FloatArray, second: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Return ``first + second`` rounded, and the exact error of that rounding."""
    total = first + second
    second_part = total - first
    error = (first - (total - second_part)) + (second - second_part)
    return total, error
