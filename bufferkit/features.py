"""Rolling, lag and delta features from the newest row's point of view.

Every window is computed afresh from the values it holds, never from running sums, so a
huge value that has left the window leaves no trace. The statistics follow these
numerical rules:

- a window of equal values has exactly its value as mean and exactly ``0.0`` as
  standard deviation;
- the mean is rounded from the exact sum (``math.fsum``), so values that cancel
  out keep an accurate mean, and the mean of ``[1e308, 1e308]`` is ``1e308``;
- the sample standard deviation (ddof = 1) uses the corrected two-pass algorithm on
  values scaled by a power of two, which is exact, so that nothing overflows in
  between;
- a result with no finite value (the standard deviation of ``[-1.7e308, 1.7e308]``)
  is ``None`` and is logged, so no response ever carries ``NaN`` or ``Infinity``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from bufferkit.exact_sum import fsum_rows
from bufferkit.storage import FloatArray

log = logging.getLogger("bufferkit")

Features = dict[str, float | None]


def feature_names(
    columns: Sequence[str], windows: Sequence[int], lags: Sequence[int]
) -> list[str]:
    """Return the feature names in response order.

    Examples
    --------
    >>> feature_names(["cpu"], [10], [1])
    ['cpu_rolling_mean_10', 'cpu_rolling_std_10', 'cpu_rolling_min_10', \
'cpu_rolling_max_10', 'cpu_lag_1', 'cpu_delta_1']
    """
    names = []
    for column in columns:
        for window in windows:
            for stat in ("mean", "std", "min", "max"):
                names.append(f"{column}_rolling_{stat}_{window}")
        for lag in lags:
            names.append(f"{column}_lag_{lag}")
            names.append(f"{column}_delta_{lag}")
    return names


def latest_features(
    values: FloatArray,
    columns: Sequence[str],
    windows: Sequence[int],
    lags: Sequence[int],
    *,
    buffer_name: str = "",
) -> Features:
    """Compute every feature of the newest row of ``values`` (``(columns, rows)``).

    Examples
    --------
    >>> import numpy as np
    >>> values = np.array([[1.0, 2.0, 4.0]])
    >>> latest_features(values, ["x"], [3], [2])
    {'x_rolling_mean_3': 2.3333333333333335, 'x_rolling_std_3': 1.5275252316519465, \
'x_rolling_min_3': 1.0, 'x_rolling_max_3': 4.0, 'x_lag_2': 1.0, 'x_delta_2': 3.0}
    """
    rows = values.shape[1]
    stats = {
        window: window_stats(values[:, rows - window :])
        for window in windows
        if window <= rows
    }
    features: Features = {}
    for index, column in enumerate(columns):
        for window in windows:
            mean = std = low = high = None
            if window in stats:
                mean, std, low, high = (float(array[index]) for array in stats[window])
                if not math.isfinite(std):
                    log_no_finite(buffer_name, f"{column}_rolling_std_{window}")
                    std = None
            features[f"{column}_rolling_mean_{window}"] = mean
            features[f"{column}_rolling_std_{window}"] = std
            features[f"{column}_rolling_min_{window}"] = low
            features[f"{column}_rolling_max_{window}"] = high
        for lag in lags:
            lagged = float(values[index, rows - 1 - lag]) if lag < rows else None
            delta = None
            if lagged is not None:
                # Python and numpy subtract float64 the same way, so the history's
                # vectorised deltas match these bit for bit.
                delta = float(values[index, rows - 1]) - lagged
                if not math.isfinite(delta):
                    log_no_finite(buffer_name, f"{column}_delta_{lag}")
                    delta = None
            features[f"{column}_lag_{lag}"] = lagged
            features[f"{column}_delta_{lag}"] = delta
    return features


class WindowStats(NamedTuple):
    """Statistics of each row of a 2-D array of windows; ``std`` is NaN where no
    finite value exists."""

    mean: FloatArray
    std: FloatArray
    min: FloatArray
    max: FloatArray


def window_stats(windows: FloatArray, sums: FloatArray | None = None) -> WindowStats:
    """Compute the mean, sample standard deviation, min and max of each row.

    ``windows`` is ``(k, W)`` with ``W >= 2``, one window per row; ``sums``, when
    given, contains ``math.fsum`` of each row, computed by the caller. Each row's
    results depend on that row's values alone, never on ``k`` or on the other rows.
    The array is made C-contiguous and every reduction runs along its last axis,
    where numpy sums each row the same way whatever the array's shape. The latest
    features and the feature history both call this, so they agree bit for bit.

    Examples
    --------
    >>> import numpy as np
    >>> stats = window_stats(np.array([[1.0, 2.0, 4.0], [0.1, 0.1, 0.1]]))
    >>> stats.mean.tolist(), stats.std.tolist()
    ([2.3333333333333335, 0.1], [1.5275252316519465, 0.0])
    """
    window = np.ascontiguousarray(windows, dtype=np.float64)
    size = window.shape[1]
    low = window.min(axis=1)
    high = window.max(axis=1)
    # Dividing by a power of two is exact and brings every value into [-2, 2];
    # 2**(exponent - 1) stays finite even for the largest float64.
    _, exponent = np.frexp(np.maximum(np.abs(low), np.abs(high)))
    scale = np.ldexp(1.0, exponent - 1)
    scaled = window / scale[:, None]
    exact_means = _exact_means(window, scaled, scale, sums)
    scaled_mean = exact_means / scale
    # The deviations, then their squares, overwrite ``scaled``: one temporary
    # array instead of three, the same values.
    deviations = np.subtract(scaled, scaled_mean[:, None], out=scaled)
    # Corrected two-pass: the second term removes the rounding error of the mean.
    correction = deviations.sum(axis=1)
    squares = np.multiply(deviations, deviations, out=deviations).sum(axis=1)
    variance = np.maximum((squares - correction * correction / size) / (size - 1), 0.0)
    with np.errstate(over="ignore"):
        means = np.clip(exact_means, low, high)
        stds = np.sqrt(variance) * scale
    constant = low == high
    means[constant] = low[constant]
    stds[constant] = 0.0
    stds[~np.isfinite(stds)] = np.nan
    return WindowStats(means, stds, low, high)


def _exact_means(
    window: FloatArray,
    scaled: FloatArray,
    scale: FloatArray,
    sums: FloatArray | None = None,
) -> FloatArray:
    """Return each row's mean, rounded from its exact sum (``math.fsum``), which
    ``sums`` holds when given."""
    size = window.shape[1]
    if sums is None:
        sums = fsum_rows(window)
    means: FloatArray = sums / size
    overflow = ~np.isfinite(sums)
    if overflow.any():
        # The sum is beyond float64; the values divided by ``scale`` sum to a finite
        # number, and dividing or multiplying by a power of two is exact.
        means[overflow] = fsum_rows(scaled[overflow]) / size * scale[overflow]
    return means


def log_no_finite(buffer_name: str, feature: str, rows: int = 1) -> None:
    """Log that ``feature`` has no finite value in ``rows`` rows and is null there."""
    if rows == 1:
        log.warning(
            "Feature %s of buffer %r has no finite value and is returned as null",
            feature,
            buffer_name,
        )
    else:
        log.warning(
            "Feature %s of buffer %r has no finite value in %d rows, returned as nulls",
            feature,
            buffer_name,
            rows,
        )
