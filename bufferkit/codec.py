"""JSON encoding of responses and decoding of request bodies."""

from __future__ import annotations

import json
import math
from typing import Any, NoReturn

import orjson

from bufferkit.buffer import Snapshot
from bufferkit.errors import InvalidRequestError

#: Most digits of an integer in a request body, Python's default limit of integer
#: conversion: any more and the number is far beyond float64 anyway.
MAX_INTEGER_DIGITS = 4300


def dumps(value: Any) -> bytes:
    """Encode ``value`` as compact UTF-8 JSON."""
    return orjson.dumps(value)


class OverflowNumber(float):
    """A JSON number too large for float64: infinite, but shown as it was sent.

    Examples
    --------
    >>> number = loads(b"[-1e400]")[0]
    >>> number, math.isinf(number)
    (-1e400, True)
    """

    text: str

    def __new__(cls, text: str) -> OverflowNumber:
        number = super().__new__(cls, text)
        number.text = text
        return number

    def __repr__(self) -> str:
        return self.text


def loads(body: bytes) -> Any:
    """Decode a JSON request body, rejecting ``NaN``, ``Infinity`` and duplicate keys.

    Integers of up to ``MAX_INTEGER_DIGITS`` digits stay exact ``int`` objects, and
    ``1e400`` decodes to an infinite ``OverflowNumber`` whose ``repr`` is the text
    sent, so that callers can name the offending value in their message. A longer
    integer is rejected whatever the interpreter's limit of integer conversion.

    Examples
    --------
    >>> loads(b'{"x": 1, "x": 2}')
    Traceback (most recent call last):
    ...
    bufferkit.errors.InvalidRequestError: Duplicate key 'x' in a JSON object of the \
request body: send each key once
    """
    try:
        return json.loads(
            body,
            parse_constant=_reject_constant,
            parse_float=_parse_float,
            parse_int=_parse_int,
            object_pairs_hook=_unique_keys,
        )
    except InvalidRequestError:
        raise
    except (ValueError, RecursionError) as error:
        msg = f"Request body is not valid JSON: {error}"
        raise InvalidRequestError(msg) from None


def only_keys_once(body: bytes, keys: int) -> bool:
    """Return whether a JSON text whose only strings are object keys has ``keys`` keys.

    A cheap check for bodies a typed decoder accepted, which keeps the last value of
    a repeated key: more quotes than ``keys`` keys need means some key came twice.
    Any backslash makes the count uncertain, and the answer is ``False``.

    Examples
    --------
    >>> only_keys_once(b'{"data": [{"x": 1}]}', 2)
    True
    >>> only_keys_once(b'{"data": [{"x": 1, "x": 2}]}', 2)
    False
    """
    return b"\\" not in body and body.count(b'"') == 2 * keys


def _parse_float(text: str) -> float:
    number = float(text)
    return OverflowNumber(text) if math.isinf(number) else number


def _parse_int(text: str) -> int:
    digits = len(text) - text.startswith("-")
    if digits > MAX_INTEGER_DIGITS:
        msg = (
            f"Request body has a number with {digits} digits, which is too long: "
            f"send numbers of at most {MAX_INTEGER_DIGITS} digits; values are stored "
            "as float64, finite and below 1.8e308 in magnitude"
        )
        raise InvalidRequestError(msg)
    return int(text)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) < len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                msg = (
                    f"Duplicate key {key!r} in a JSON object of the request body: "
                    "send each key once"
                )
                raise InvalidRequestError(msg)
            seen.add(key)
    return document


def _reject_constant(token: str) -> NoReturn:
    msg = (
        f"Request body is not valid JSON: {token} is not a JSON number; "
        "send finite numbers only"
    )
    raise InvalidRequestError(msg)


def rows_json(snapshot: Snapshot) -> bytes:
    """Encode the snapshot's rows as a JSON array of row objects, oldest first."""
    if snapshot.values.shape[1] == 0:
        return b"[]"
    return snapshot.to_polars().write_json().encode()
