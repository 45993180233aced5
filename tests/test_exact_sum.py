"""Exact window sums: ``window_fsums`` and ``fsum_rows`` against ``math.fsum``."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from bufferkit.exact_sum import fsum_rows, window_fsums
from bufferkit.features import latest_features, window_stats
from bufferkit.history import history_frame

FloatArray = np.ndarray


def reference(data: FloatArray, window: int) -> list[float]:
    """``math.fsum`` of every window, ``inf`` where it overflows."""
    sums = []
    for row in sliding_window_view(data, window).tolist():
        try:
            sums.append(math.fsum(row))
        except OverflowError:
            sums.append(math.inf)
    return sums


def bits(values: Iterable[float | None]) -> list[str | None]:
    return [None if value is None else float(value).hex() for value in values]


def columns() -> dict[str, FloatArray]:
    rng = np.random.default_rng(7)
    n = 1_500
    return {
        "two decimals": np.round(rng.uniform(0, 100, n), 2),
        "signed normal": rng.normal(0, 1, n) * 1e-4,
        "integers": rng.integers(-(10**15), 10**15, n).astype(np.float64),
        "powers of two": rng.integers(-5, 5, n) * 2.0 ** rng.integers(-55, 20, n),
        "exact ties": rng.choice([1.0, -1.0, 2.0**-53, 3 * 2.0**-53, 0.5, 0.0], n),
        "subnormals": rng.choice([5e-324, -5e-324, 1e-310, 2.2e-308, 0.0], n),
        "zeros": rng.choice([0.0, -0.0], n),
        "huge": rng.uniform(-1, 1, n) * 2.0**1000,
        "wide span": rng.uniform(-1, 1, n) * 2.0 ** rng.integers(-12, 12, n),
    }


@pytest.mark.parametrize("name", list(columns()))
@pytest.mark.parametrize("window", [1, 2, 10, 200, 1_500])
def test_window_fsums_equal_fsum(name: str, window: int) -> None:
    data = columns()[name]
    sums = window_fsums(data, window)

    assert sums is not None
    assert bits(sums) == bits(reference(data, window))


@pytest.mark.parametrize(
    "data",
    [
        np.array([1e-300, 1.0, 1e300]),  # more bits than two limbs hold
        np.array([1.7e308, 1.7e308, -1.7e308]),  # could sum past float64
    ],
)
def test_window_fsums_decline(data: FloatArray) -> None:
    assert window_fsums(data, 2) is None
    assert bits(fsum_rows(sliding_window_view(data, 2))) == bits(reference(data, 2))


def test_window_fsums_short_column() -> None:
    assert window_fsums(np.array([1.0, 2.0]), 3).shape == (0,)


@pytest.mark.parametrize("name", list(columns()))
def test_given_sums_give_same_stats(name: str) -> None:
    data = columns()[name]
    windows = sliding_window_view(data, 50)
    sums = window_fsums(data, 50)

    with_sums = window_stats(windows, sums)
    without = window_stats(windows)

    for given, computed in zip(with_sums, without, strict=True):
        assert bits(given) == bits(computed)


def test_history_from_window_sums_equals_latest_features() -> None:
    values = np.round(np.random.default_rng(8).uniform(-100, 100, (2, 600)), 2)
    frame = history_frame(values, ["a", "b"], [3, 50, 200], [1])

    for row in (2, 49, 199, 200, 431, 599):
        latest = latest_features(values[:, : row + 1], ["a", "b"], [3, 50, 200], [1])
        assert bits(frame.row(row)) == bits(latest.values())
