"""Feature history: the features of every row, each from that row's point of view.

Row ``i`` of the history contains the features of row ``i`` as if it were the newest,
over the rows given: the same names, definitions and null rules as ``/features``,
computed by the same ``window_stats`` on the same window values, so the newest row of
the history equals the latest features bit for bit. A window or lag that reaches back
before the first row given is null.

The windows of one column are rows of a ``sliding_window_view``, copied and reduced
a bounded chunk at a time, so memory stays near ``_CHUNK_VALUES`` values per chunk
whatever the number of rows and the window size. Where a column's values allow,
``window_fsums`` computes the exact sums of the means for the whole column at once,
in time that does not grow with the window. They equal the ``math.fsum`` that
``window_stats`` computes otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
from numpy.lib.stride_tricks import sliding_window_view

from bufferkit.exact_sum import window_fsums
from bufferkit.features import feature_names, log_no_finite, window_stats
from bufferkit.storage import FloatArray

#: Window values copied per chunk: 2 MiB of float64, about 20 MiB with temporaries.
_CHUNK_VALUES = 1 << 18


@dataclass(frozen=True)
class FeatureHistory:
    """A page of the feature history, taken under the buffer's lock.

    ``row_count`` is the buffer's size, ``offset`` the position of the page's first
    row among the rows held, as for a read of rows, and ``returned_rows`` the page's
    row count, which a frame without features cannot carry.
    """

    row_count: int
    offset: int
    returned_rows: int
    frame: pl.DataFrame


def history_frame(
    values: FloatArray,
    columns: Sequence[str],
    windows: Sequence[int],
    lags: Sequence[int],
    *,
    start: int = 0,
    buffer_name: str = "",
) -> pl.DataFrame:
    """Compute the features of rows ``start`` onwards of ``values`` (``(columns,
    rows)``), using the rows before ``start`` only as history.

    Returns one float64 column per feature, in ``feature_names`` order, with nulls
    where a feature is undefined or has no finite value (the latter logged).

    Examples
    --------
    >>> import numpy as np
    >>> values = np.array([[1.0, 2.0, 4.0]])
    >>> history_frame(values, ["x"], [2], [1]).to_dicts()[1:]
    [{'x_rolling_mean_2': 1.5, 'x_rolling_std_2': 0.7071067811865476, \
'x_rolling_min_2': 1.0, 'x_rolling_max_2': 2.0, 'x_lag_1': 1.0, 'x_delta_1': 1.0}, \
{'x_rolling_mean_2': 3.0, 'x_rolling_std_2': 1.4142135623730951, \
'x_rolling_min_2': 2.0, 'x_rolling_max_2': 4.0, 'x_lag_1': 2.0, 'x_delta_1': 2.0}]
    """
    series: list[pl.Series] = []
    names = iter(feature_names(columns, windows, lags))
    for index, column in enumerate(columns):
        data = values[index]
        for window in windows:
            stats, missing = _rolling(data, window, start)
            if missing:
                log_no_finite(buffer_name, f"{column}_rolling_std_{window}", missing)
            series.extend(_series(next(names), array) for array in stats)
        for lag in lags:
            lagged, delta = _lagged(data, lag, start)
            missing = int(np.isnan(delta).sum() - np.isnan(lagged).sum())
            if missing > 0:
                log_no_finite(buffer_name, f"{column}_delta_{lag}", missing)
            series.append(_series(next(names), lagged))
            series.append(_series(next(names), delta))
    return pl.DataFrame(series)


def _rolling(data: FloatArray, window: int, start: int) -> tuple[list[FloatArray], int]:
    """Return mean, std, min and max of the window ending at each row from ``start``.

    Values are NaN where the window reaches before row 0 or the std has no finite
    value. The count of rows whose std has no finite value comes second.
    """
    rows = data.shape[0]
    stats = [np.full(rows - start, np.nan) for _ in range(4)]
    first = max(start, window - 1)
    no_finite = 0
    if first >= rows:
        return stats, no_finite
    windows = sliding_window_view(data, window)
    # Sum j is over windows[j], the window ending at row first + j.
    sums = window_fsums(data[first - window + 1 :], window)
    step = max(1, _CHUNK_VALUES // window)
    for begin in range(first, rows, step):
        end = min(rows, begin + step)
        chunk = windows[begin - window + 1 : end - window + 1]
        chunk_sums = None if sums is None else sums[begin - first : end - first]
        results = window_stats(chunk, chunk_sums)
        no_finite += int(np.isnan(results.std).sum())
        for target, result in zip(stats, results, strict=True):
            target[begin - start : end - start] = result
    return stats, no_finite


def _lagged(data: FloatArray, lag: int, start: int) -> tuple[FloatArray, FloatArray]:
    """Return the value ``lag`` rows back and the change since, for rows from
    ``start``, with NaN where the lag reaches before row 0 or the change overflows."""
    rows = data.shape[0]
    lagged = np.full(rows - start, np.nan)
    delta = np.full(rows - start, np.nan)
    first = max(start, lag)
    if first < rows:
        lagged[first - start :] = data[first - lag : rows - lag]
        with np.errstate(over="ignore"):
            delta[first - start :] = data[first:] - lagged[first - start :]
        delta[~np.isfinite(delta)] = np.nan
    return lagged, delta


def _series(name: str, values: FloatArray) -> pl.Series:
    return pl.Series(name, values, dtype=pl.Float64, nan_to_null=True)
