"""Validated configuration of a buffer: its name, columns, size and features."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bufferkit.errors import InvalidRequestError

MAX_SIZE_LIMIT = 10_000_000
DEFAULT_MAX_SIZE = 10_000
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}")
#: Characters no column name may contain: C0 controls and DEL.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
#: Lone UTF-16 surrogates: JSON text of them cannot be encoded as UTF-8.
SURROGATES = re.compile("[\ud800-\udfff]")
_FIELDS = ("name", "columns", "max_size", "rolling_windows", "lag_periods")


@dataclass(frozen=True)
class BufferConfig:
    """Configuration of one buffer, validated on construction.

    Examples
    --------
    >>> BufferConfig("metrics", ("cpu",), max_size=100, rolling_windows=(10,))
    BufferConfig(name='metrics', columns=('cpu',), max_size=100, \
rolling_windows=(10,), lag_periods=())
    >>> BufferConfig("metrics", ("cpu",), max_size=5, rolling_windows=(10,))
    Traceback (most recent call last):
    ...
    bufferkit.errors.InvalidRequestError: rolling_windows value 10 is out of range: \
use an integer from 2 to max_size (5)
    """

    name: str
    columns: tuple[str, ...]
    max_size: int = DEFAULT_MAX_SIZE
    rolling_windows: tuple[int, ...] = field(default=())
    lag_periods: tuple[int, ...] = field(default=())

    def __post_init__(self) -> None:
        _check_name(self.name)
        _check_columns(self.columns)
        _check_integer("max_size", self.max_size, 1, MAX_SIZE_LIMIT)
        _check_integers(
            "rolling_windows", self.rolling_windows, 2, self.max_size, "max_size"
        )
        _check_integers(
            "lag_periods", self.lag_periods, 1, self.max_size - 1, "max_size - 1"
        )

    @property
    def feature_depth(self) -> int:
        """Number of newest rows the features of one row read, that row included."""
        return max(
            (*self.rolling_windows, *(lag + 1 for lag in self.lag_periods)), default=1
        )

    @classmethod
    def from_json(cls, body: object) -> BufferConfig:
        """Validate a decoded create request body and build the configuration.

        ``null`` for an optional field means its default; an unknown field is an
        error, so a typo is never silently ignored.
        """
        if not isinstance(body, Mapping):
            raise InvalidRequestError(
                "Request body must be a JSON object with 'name' and 'columns'"
            )
        unknown = [key for key in body if key not in _FIELDS]
        if unknown:
            msg = f"Unknown field {unknown[0]!r}: valid fields are " + ", ".join(
                repr(name) for name in _FIELDS
            )
            raise InvalidRequestError(msg)
        for required in ("name", "columns"):
            if body.get(required) is None:
                raise InvalidRequestError(f"Missing required field {required!r}")
        max_size = body.get("max_size")
        return cls(
            name=body["name"],
            columns=_as_tuple("columns", body["columns"]),
            max_size=DEFAULT_MAX_SIZE if max_size is None else max_size,
            rolling_windows=_as_tuple("rolling_windows", body.get("rolling_windows")),
            lag_periods=_as_tuple("lag_periods", body.get("lag_periods")),
        )


def _as_tuple(field_name: str, value: Any) -> tuple[Any, ...]:
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        msg = f"{field_name} must be an array, got {_describe(value)}"
        raise InvalidRequestError(msg)
    return tuple(value)


def _check_name(name: object) -> None:
    if not isinstance(name, str):
        msg = f"name must be a string, got {_describe(name)}"
        raise InvalidRequestError(msg)
    if not NAME_PATTERN.fullmatch(name):
        msg = (
            f"Invalid buffer name {name!r}: use 1-128 characters of A-Z a-z 0-9 _ . -"
            " starting with a letter or digit"
        )
        raise InvalidRequestError(msg)


def _check_columns(columns: Sequence[object]) -> None:
    if not columns:
        raise InvalidRequestError("columns must contain at least one column name")
    seen: set[str] = set()
    for column in columns:
        if not isinstance(column, str) or not column:
            msg = f"Column names must be non-empty strings, got {_describe(column)}"
            raise InvalidRequestError(msg)
        if CONTROL_CHARACTERS.search(column):
            msg = (
                f"Invalid column name {column!r}: column names must not contain "
                "control characters (U+0000 to U+001F, U+007F)"
            )
            raise InvalidRequestError(msg)
        if SURROGATES.search(column):
            msg = (
                f"Invalid column name {column!r}: column names must be valid Unicode "
                "text, without lone UTF-16 surrogates (U+D800 to U+DFFF)"
            )
            raise InvalidRequestError(msg)
        if column in seen:
            msg = f"Duplicate column name {column!r}: column names must be unique"
            raise InvalidRequestError(msg)
        seen.add(column)


def _check_integer(field_name: str, value: object, low: int, high: int) -> None:
    # bool is a subclass of int, and JSON true is not an integer.
    if type(value) is not int:
        msg = f"{field_name} must be an integer, got {_describe(value)}"
        raise InvalidRequestError(msg)
    if not low <= value <= high:
        msg = f"{field_name} must be from {low} to {high}, got {value}"
        raise InvalidRequestError(msg)


def _check_integers(
    field_name: str, values: Sequence[object], low: int, high: int, high_name: str
) -> None:
    seen: set[object] = set()
    for value in values:
        if type(value) is not int:
            msg = f"{field_name} must contain integers, got {_describe(value)}"
            raise InvalidRequestError(msg)
        if not low <= value <= high:
            msg = (
                f"{field_name} value {value} is out of range: use an integer from "
                f"{low} to {high_name} ({high})"
            )
            raise InvalidRequestError(msg)
        if value in seen:
            msg = f"Duplicate {field_name} value {value}: list each value once"
            raise InvalidRequestError(msg)
        seen.add(value)


def _describe(value: object) -> str:
    """Name a JSON value for an error message: its JSON type and its text."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"string {value!r}"
    if isinstance(value, int | float):
        return f"{value!r}"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__
