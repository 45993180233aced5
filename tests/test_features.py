"""Rolling, lag and delta features: exact values over HTTP and from the core."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Iterator, Sequence
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bufferkit.features import feature_names, latest_features
from tests.http import Api
from tests.servers import ServerProcess

FEATURES = "v1/ml/buffers/{}/features"


def features_of(api: Api, name: str) -> dict[str, Any]:
    """Return the features response of a buffer, checking it succeeded."""
    response = api.get(FEATURES.format(name))
    assert response.status == 200, response.body
    return response.json


def append_values(api: Api, name: str, values: Sequence[float]) -> None:
    """Append one row per value to a single-column buffer with column ``x``."""
    response = api.append(name, [{"x": value} for value in values])
    assert response.status == 200, response.body


def one_column(values: Sequence[float]) -> np.ndarray:
    """Return ``values`` as the ``(1, rows)`` array ``latest_features`` takes."""
    return np.array([values], dtype=np.float64)


def exact_mean(values: Sequence[float]) -> Fraction:
    """Return the exact mean of the floats ``values``."""
    return sum(map(Fraction, values), Fraction(0)) / len(values)


def exact_std(values: Sequence[float]) -> float:
    """Return the sample standard deviation of ``values``, rounded once at the end.

    Returns ``inf`` when the exact result is beyond the largest float64.
    """
    mean = exact_mean(values)
    variance = sum((Fraction(value) - mean) ** 2 for value in values) / (
        len(values) - 1
    )
    with localcontext() as context:
        context.prec = 60
        root = (Decimal(variance.numerator) / Decimal(variance.denominator)).sqrt()
    return float(root)


def wait_for_log(server: ServerProcess, text: str) -> str:
    """Wait until the server's log contains ``text`` and return the log."""
    deadline = time.monotonic() + 10
    while text not in server.log and time.monotonic() < deadline:
        time.sleep(0.02)
    return server.log


def check_close(actual: float | None, expected: float | Fraction) -> None:
    """Check ``actual`` is within 1e-9 relative of ``expected``, exactly 0.0 for 0.

    An ``expected`` beyond float64 means ``actual`` must be ``None``.
    """
    try:
        expected = float(expected)
    except OverflowError:
        expected = math.inf
    if math.isinf(expected):
        assert actual is None
    elif expected == 0:
        assert actual == 0.0
    else:
        assert actual is not None
        assert math.isclose(actual, expected, rel_tol=1e-9, abs_tol=0.0)


# Over HTTP: names, order, thresholds and exact values.


@pytest.fixture
def stepped(api: Api) -> Api:
    """A buffer ``steps`` with two columns, windows [3, 2] and lags [2, 1]."""
    api.create(
        "steps", ["cpu", "mem"], max_size=10, rolling_windows=[3, 2], lag_periods=[2, 1]
    )
    return api


def test_features_names_in_order(stepped: Api) -> None:
    stepped.append("steps", [{"cpu": 1, "mem": 10}])

    body = features_of(stepped, "steps")

    assert list(body["features"]) == [
        "cpu_rolling_mean_3",
        "cpu_rolling_std_3",
        "cpu_rolling_min_3",
        "cpu_rolling_max_3",
        "cpu_rolling_mean_2",
        "cpu_rolling_std_2",
        "cpu_rolling_min_2",
        "cpu_rolling_max_2",
        "cpu_lag_2",
        "cpu_delta_2",
        "cpu_lag_1",
        "cpu_delta_1",
        "mem_rolling_mean_3",
        "mem_rolling_std_3",
        "mem_rolling_min_3",
        "mem_rolling_max_3",
        "mem_rolling_mean_2",
        "mem_rolling_std_2",
        "mem_rolling_min_2",
        "mem_rolling_max_2",
        "mem_lag_2",
        "mem_delta_2",
        "mem_lag_1",
        "mem_delta_1",
    ]


def test_features_response_shape(stepped: Api) -> None:
    stepped.append("steps", [{"cpu": 1, "mem": 10}])

    body = features_of(stepped, "steps")

    assert list(body) == ["name", "row_count", "feature_count", "features"]
    assert body["name"] == "steps"
    assert body["row_count"] == 1
    assert body["feature_count"] == 24


def test_features_empty_buffer_all_null(stepped: Api) -> None:
    body = features_of(stepped, "steps")

    assert body["row_count"] == 0
    assert body["feature_count"] == 24
    assert set(body["features"].values()) == {None}


def test_features_one_row_all_null(stepped: Api) -> None:
    stepped.append("steps", [{"cpu": 1, "mem": 10}])

    features = features_of(stepped, "steps")["features"]

    assert set(features.values()) == {None}


def test_features_two_rows_exact(stepped: Api) -> None:
    stepped.append("steps", [{"cpu": 1, "mem": 10}, {"cpu": 2, "mem": 20}])

    features = features_of(stepped, "steps")["features"]

    assert features["cpu_rolling_mean_3"] is None
    assert features["cpu_rolling_std_3"] is None
    assert features["cpu_rolling_min_3"] is None
    assert features["cpu_rolling_max_3"] is None
    assert features["cpu_rolling_mean_2"] == 1.5
    assert features["cpu_rolling_std_2"] == math.sqrt(0.5)
    assert features["cpu_rolling_min_2"] == 1.0
    assert features["cpu_rolling_max_2"] == 2.0
    assert features["cpu_lag_2"] is None
    assert features["cpu_delta_2"] is None
    assert features["cpu_lag_1"] == 1.0
    assert features["cpu_delta_1"] == 1.0


def test_features_three_rows_exact(stepped: Api) -> None:
    stepped.append(
        "steps",
        [{"cpu": 1, "mem": 10}, {"cpu": 2, "mem": 20}, {"cpu": 3, "mem": 40}],
    )

    features = features_of(stepped, "steps")["features"]

    assert features["cpu_rolling_mean_3"] == 2.0
    assert features["cpu_rolling_std_3"] == 1.0
    assert features["cpu_rolling_min_3"] == 1.0
    assert features["cpu_rolling_max_3"] == 3.0
    assert features["cpu_rolling_mean_2"] == 2.5
    assert features["cpu_lag_2"] == 1.0
    assert features["cpu_delta_2"] == 2.0
    assert features["cpu_lag_1"] == 2.0
    assert features["cpu_delta_1"] == 1.0


def test_features_second_column_exact(stepped: Api) -> None:
    stepped.append(
        "steps",
        [{"cpu": 1, "mem": 10}, {"cpu": 2, "mem": 20}, {"cpu": 3, "mem": 40}],
    )

    features = features_of(stepped, "steps")["features"]

    assert features["mem_rolling_mean_3"] == float(Fraction(70, 3))
    check_close(features["mem_rolling_std_3"], statistics.stdev([10, 20, 40]))
    assert features["mem_rolling_min_3"] == 10.0
    assert features["mem_rolling_max_3"] == 40.0
    assert features["mem_rolling_mean_2"] == 30.0
    assert features["mem_rolling_std_2"] == math.sqrt(200)
    assert features["mem_lag_2"] == 10.0
    assert features["mem_delta_2"] == 30.0
    assert features["mem_lag_1"] == 20.0
    assert features["mem_delta_1"] == 20.0


def test_features_use_newest_rows(stepped: Api) -> None:
    rows = [{"cpu": value, "mem": -value} for value in (100, 1, 2, 3, 5, 9)]
    stepped.append("steps", rows)

    features = features_of(stepped, "steps")["features"]

    assert features["cpu_rolling_mean_3"] == float(Fraction(17, 3))
    check_close(features["cpu_rolling_std_3"], statistics.stdev([3, 5, 9]))
    assert features["cpu_rolling_min_3"] == 3.0
    assert features["cpu_rolling_max_3"] == 9.0
    assert features["mem_lag_2"] == -3.0
    assert features["mem_delta_2"] == -6.0


def test_features_after_eviction(api: Api) -> None:
    api.create("small", ["x"], max_size=3, rolling_windows=[3], lag_periods=[2])
    append_values(api, "small", [1e300, 1, 2, 3, 4])

    body = features_of(api, "small")

    assert body["row_count"] == 3
    assert body["features"] == {
        "x_rolling_mean_3": 3.0,
        "x_rolling_std_3": 1.0,
        "x_rolling_min_3": 2.0,
        "x_rolling_max_3": 4.0,
        "x_lag_2": 2.0,
        "x_delta_2": 2.0,
    }


def test_features_window_equals_max_size(api: Api) -> None:
    api.create("full", ["x"], max_size=4, rolling_windows=[4], lag_periods=[3])
    append_values(api, "full", [7, 1, 2, 3, 4])

    features = features_of(api, "full")["features"]

    assert features["x_rolling_mean_4"] == 2.5
    assert features["x_lag_3"] == 1.0


def test_features_no_windows_no_lags(api: Api) -> None:
    api.create("bare", ["x"])
    append_values(api, "bare", [1.0])

    body = features_of(api, "bare")

    assert body == {"name": "bare", "row_count": 1, "feature_count": 0, "features": {}}


def test_features_unknown_buffer_404(api: Api) -> None:
    response = api.get(FEATURES.format("nowhere"))

    assert response.status == 404
    assert response.json == {
        "error": {"code": "not_found", "message": "Buffer 'nowhere' not found"}
    }


# Over HTTP: the numerical rules.


def test_constant_tenths_std_zero(api: Api) -> None:
    api.create("tenths", ["x"], rolling_windows=[7])
    append_values(api, "tenths", [0.1] * 7)

    features = features_of(api, "tenths")["features"]

    assert features["x_rolling_mean_7"] == 0.1
    assert features["x_rolling_std_7"] == 0.0


def test_constant_huge_std_zero(api: Api) -> None:
    api.create("huge", ["x"], rolling_windows=[3])
    append_values(api, "huge", [1e308] * 3)

    features = features_of(api, "huge")["features"]

    assert features["x_rolling_mean_3"] == 1e308
    assert features["x_rolling_std_3"] == 0.0


def test_two_huge_mean_exact(api: Api) -> None:
    api.create("pair", ["x"], rolling_windows=[2], lag_periods=[1])
    append_values(api, "pair", [1e308, 1e308])

    features = features_of(api, "pair")["features"]

    assert features["x_rolling_mean_2"] == 1e308
    assert features["x_rolling_std_2"] == 0.0
    assert features["x_delta_1"] == 0.0


def test_near_billion_within_tolerance(api: Api) -> None:
    values = [1e9 + step * 1e-6 for step in (3, 1, 4, 1, 5, 9, 2, 6)]
    api.create("billion", ["x"], rolling_windows=[8])
    append_values(api, "billion", values)

    features = features_of(api, "billion")["features"]

    check_close(features["x_rolling_mean_8"], exact_mean(values))
    check_close(features["x_rolling_std_8"], exact_std(values))


def test_huge_value_leaves_no_trace(api: Api) -> None:
    api.create("trace", ["x"], rolling_windows=[3])
    append_values(api, "trace", [1e300, 0.1, 0.2, 0.3])

    features = features_of(api, "trace")["features"]

    check_close(features["x_rolling_mean_3"], exact_mean([0.1, 0.2, 0.3]))
    check_close(features["x_rolling_std_3"], exact_std([0.1, 0.2, 0.3]))


def test_opposite_extremes_std_null(api: Api) -> None:
    api.create("extremes", ["x"], rolling_windows=[2], lag_periods=[1])
    append_values(api, "extremes", [-1.7e308, 1.7e308])

    features = features_of(api, "extremes")["features"]

    assert features["x_rolling_std_2"] is None
    assert features["x_delta_1"] is None
    assert features["x_rolling_mean_2"] == 0.0
    assert features["x_lag_1"] == -1.7e308


@pytest.fixture
def standalone_api(standalone: ServerProcess) -> Iterator[Api]:
    """A client of the standalone server only, whose log the tests read."""
    api = Api(standalone.base_url, standalone.token)
    yield api
    for model in api.get("v1/ml/buffers").json["buffers"]:
        api.delete(f"v1/ml/buffers/{model['name']}")


def test_opposite_extremes_logged(
    standalone_api: Api, standalone: ServerProcess
) -> None:
    api = standalone_api
    api.create("logged", ["x"], rolling_windows=[2], lag_periods=[1])
    append_values(api, "logged", [-1.7e308, 1.7e308])

    features_of(api, "logged")

    log = wait_for_log(standalone, "x_delta_1 of buffer 'logged'")
    assert "x_rolling_std_2 of buffer 'logged' has no finite value" in log
    assert "x_delta_1 of buffer 'logged' has no finite value" in log


def test_no_nan_or_infinity_bytes(api: Api) -> None:
    api.create("raw", ["x", "y"], rolling_windows=[2, 3], lag_periods=[1, 2])
    rows = [
        {"x": -1.7e308, "y": 1e308},
        {"x": 1.7e308, "y": 1e308},
        {"x": -1.7e308, "y": -1e308},
    ]
    api.append("raw", rows)

    response = api.get(FEATURES.format("raw"))

    assert response.status == 200
    assert b"NaN" not in response.body
    assert b"Infinity" not in response.body


def test_cancelling_values_mean_exact(api: Api) -> None:
    api.create("cancel", ["x"], rolling_windows=[4])
    append_values(api, "cancel", [0.1, 0.2, 0.3, -0.6])

    features = features_of(api, "cancel")["features"]

    check_close(features["x_rolling_mean_4"], exact_mean([0.1, 0.2, 0.3, -0.6]))


# The core function, directly.


def test_names_match_feature_names() -> None:
    values = np.arange(12, dtype=np.float64).reshape(2, 6)

    features = latest_features(values, ["a", "b"], [5, 2], [3, 1])

    assert list(features) == feature_names(["a", "b"], [5, 2], [3, 1])


def test_window_threshold_null() -> None:
    features = latest_features(one_column([1.0, 2.0]), ["x"], [3], [])

    assert features == {
        "x_rolling_mean_3": None,
        "x_rolling_std_3": None,
        "x_rolling_min_3": None,
        "x_rolling_max_3": None,
    }


def test_window_at_threshold_present() -> None:
    features = latest_features(one_column([1.0, 2.0, 3.0]), ["x"], [3], [])

    assert features == {
        "x_rolling_mean_3": 2.0,
        "x_rolling_std_3": 1.0,
        "x_rolling_min_3": 1.0,
        "x_rolling_max_3": 3.0,
    }


def test_lag_at_threshold_null() -> None:
    features = latest_features(one_column([1.0, 2.0]), ["x"], [], [2])

    assert features == {"x_lag_2": None, "x_delta_2": None}


def test_lag_above_threshold_present() -> None:
    features = latest_features(one_column([1.0, 2.0, 4.5]), ["x"], [], [2])

    assert features == {"x_lag_2": 1.0, "x_delta_2": 3.5}


def test_every_window_every_lag() -> None:
    values = [float(value) for value in (4, 8, 15, 16, 23, 42)]
    windows = [2, 3, 4, 5, 6]
    lags = [1, 2, 3, 4, 5]

    features = latest_features(one_column(values), ["x"], windows, lags)

    for window in windows:
        window_values = values[-window:]
        check_close(features[f"x_rolling_mean_{window}"], exact_mean(window_values))
        check_close(features[f"x_rolling_std_{window}"], exact_std(window_values))
        assert features[f"x_rolling_min_{window}"] == min(window_values)
        assert features[f"x_rolling_max_{window}"] == max(window_values)
    for lag in lags:
        assert features[f"x_lag_{lag}"] == values[-1 - lag]
        assert features[f"x_delta_{lag}"] == values[-1] - values[-1 - lag]


@pytest.mark.parametrize("value", [0.1, 1e308, -1e308, 5e-324, 1e9 + 1e-6, -3.75])
def test_constant_window_std_zero(value: float) -> None:
    features = latest_features(one_column([value] * 5), ["x"], [5], [])

    assert features["x_rolling_std_5"] == 0.0


@pytest.mark.parametrize("value", [0.1, 1e308, -1e308, 5e-324, 1e9 + 1e-6, -3.75])
def test_constant_window_mean_exact(value: float) -> None:
    features = latest_features(one_column([value] * 5), ["x"], [5], [])

    assert features["x_rolling_mean_5"] == value


def test_huge_leaves_window_exact() -> None:
    values = [1e300, 1.0, 2.0, 3.0, 4.0]

    features = latest_features(one_column(values), ["x"], [4], [])

    assert features["x_rolling_mean_4"] == 2.5
    check_close(features["x_rolling_std_4"], exact_std(values[1:]))


def test_extremes_std_none_logged(caplog: pytest.LogCaptureFixture) -> None:
    values = one_column([-1.7e308, 1.7e308])

    features = latest_features(values, ["x"], [2], [1], buffer_name="edge")

    assert features["x_rolling_std_2"] is None
    assert features["x_delta_1"] is None
    assert [record.getMessage() for record in caplog.records] == [
        "Feature x_rolling_std_2 of buffer 'edge' has no finite value and is "
        "returned as null",
        "Feature x_delta_1 of buffer 'edge' has no finite value and is "
        "returned as null",
    ]


def test_cancelling_mean_within_tolerance() -> None:
    values = [1e200, -1e200, 3e-200]

    features = latest_features(one_column(values), ["x"], [3], [])

    check_close(features["x_rolling_mean_3"], exact_mean(values))


def test_signed_tiny_mean_within_tolerance() -> None:
    values = [1.0, 1e-20, -1.0]

    features = latest_features(one_column(values), ["x"], [3], [])

    check_close(features["x_rolling_mean_3"], exact_mean(values))


# Property tests against the exact reference.


def _not_subnormal_scale(value: float) -> bool:
    return value == 0 or abs(value) >= 1e-200


wide_floats = st.floats(min_value=-1e200, max_value=1e200).filter(_not_subnormal_scale)
near_billion = st.floats(min_value=1e9 - 1e-3, max_value=1e9 + 1e-3)
clustered = st.sampled_from([0.1, 0.2, 0.3, -0.6, 1e300, -1e300, 1.0, 1e-20])


@st.composite
def windows_and_values(
    draw: st.DrawFn, elements: st.SearchStrategy[float]
) -> tuple[list[float], list[int], list[int]]:
    values = draw(st.lists(elements, min_size=1, max_size=40))
    rows = len(values)
    windows = draw(st.lists(st.integers(2, max(2, rows + 2)), unique=True, max_size=4))
    lags = draw(st.lists(st.integers(1, rows + 2), unique=True, max_size=4))
    return values, windows, lags


def check_against_reference(
    values: list[float], windows: list[int], lags: list[int]
) -> None:
    """Compare ``latest_features`` on one column with the exact reference."""
    features = latest_features(one_column(values), ["x"], windows, lags)

    assert list(features) == feature_names(["x"], windows, lags)
    for window in windows:
        window_values = values[-window:]
        if window > len(values):
            assert features[f"x_rolling_mean_{window}"] is None
            assert features[f"x_rolling_std_{window}"] is None
            continue
        check_close(features[f"x_rolling_mean_{window}"], exact_mean(window_values))
        check_close(features[f"x_rolling_std_{window}"], exact_std(window_values))
        assert features[f"x_rolling_min_{window}"] == min(window_values)
        assert features[f"x_rolling_max_{window}"] == max(window_values)
    for lag in lags:
        if lag >= len(values):
            assert features[f"x_lag_{lag}"] is None
            assert features[f"x_delta_{lag}"] is None
            continue
        assert features[f"x_lag_{lag}"] == values[-1 - lag]
        check_close(
            features[f"x_delta_{lag}"],
            Fraction(values[-1]) - Fraction(values[-1 - lag]),
        )


@settings(max_examples=200, deadline=None)
@given(windows_and_values(st.one_of(wide_floats, near_billion, clustered)))
def test_features_match_exact_reference(
    case: tuple[list[float], list[int], list[int]],
) -> None:
    check_against_reference(*case)


@settings(max_examples=100, deadline=None)
@given(windows_and_values(st.sampled_from([1.7e308, -1.7e308, 1e308, 0.0, 1.0])))
def test_extremes_match_exact_reference(
    case: tuple[list[float], list[int], list[int]],
) -> None:
    check_against_reference(*case)
