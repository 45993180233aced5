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

``window_fsums`` returns the same sums for every window of consecutive values of a
column, in time that does not grow with the window. It writes each value exactly as
two integers, a high and a low limb of at most ``_LIMB_BITS`` bits each, in a fixed
point shared by the whole column. Each window's sum of each limb is then an exact
difference of int64 prefix sums. Both limb sums convert to float64 exactly, so
their one float64 addition is the correctly rounded exact sum, which is what
``math.fsum`` returns. Columns whose values span more bits than two limbs hold,
such as ``1e-300`` beside ``1e300``, are left to ``fsum_rows``.
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
#: Bits of each limb in ``window_fsums``.
_LIMB_BITS = 44


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


def window_fsums(data: FloatArray, window: int) -> FloatArray | None:
    """Return ``math.fsum`` of every ``window`` consecutive values of ``data``.

    ``data`` is a finite 1-D array; sum ``j`` is over ``data[j : j + window]``.
    Returns ``None`` when the values span too many bits for two limbs, or could sum
    near the float64 limit, for the caller to use ``fsum_rows`` instead.

    Examples
    --------
    >>> import numpy as np
    >>> window_fsums(np.array([0.1, 0.2, 0.3, -0.6, 1e6]), 4).tolist()
    [2.7755575615628914e-17, 999999.9]
    >>> window_fsums(np.array([1e-300, 1e300]), 2) is None
    True
    """
    rows = data.shape[0]
    if window < 1 or rows < window:
        return np.zeros(max(0, rows - window + 1))
    nonzero = data[data != 0.0]
    if nonzero.size == 0:
        return np.zeros(rows - window + 1)
    largest = float(np.abs(nonzero).max())
    if largest * window >= _SAFE_MAGNITUDE:
        return None
    # Each value is mantissa * 2**exponent with an integer mantissa below 2**53;
    # its lowest set bit is 2**(exponent - 53 + trailing zeros of the mantissa).
    fraction, exponent = np.frexp(nonzero)
    mantissa = np.ldexp(fraction, 53).astype(np.int64)
    _, lowest = np.frexp((mantissa & -mantissa).astype(np.float64))
    point = int((exponent - 54 + lowest).min())
    span = int(exponent.max()) - point  # every |value| < 2**(point + span)
    # Limb sums must stay below 2**53 over a window and below 2**63 over the
    # column's prefix sums, with a bit to spare for the sign.
    bits = min(_LIMB_BITS, 52 - window.bit_length(), 62 - rows.bit_length())
    if span > 2 * bits - 1:
        return None
    # Scaling by a power of two, flooring, and the fraction below the floor are
    # exact: the result of each is representable.
    shift = point + bits
    scaled = np.ldexp(data, -shift)
    high = np.floor(scaled)
    low = np.ldexp(scaled - high, bits)
    totals = []
    for limb, exponent_of_one in ((high, shift), (low, point)):
        prefix = np.zeros(rows + 1, dtype=np.int64)
        np.cumsum(limb.astype(np.int64), out=prefix[1:])
        sums = prefix[window:] - prefix[: rows - window + 1]
        totals.append(np.ldexp(sums.astype(np.float64), exponent_of_one))
    result: FloatArray = totals[0] + totals[1]
    return result


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
