"""JSON encoding of responses and decoding of request bodies."""

from __future__ import annotations

import json
from typing import Any, NoReturn

import orjson

from bufferkit.buffer import Snapshot
from bufferkit.errors import InvalidRequestError


def dumps(value: Any) -> bytes:
    """Encode ``value`` as compact UTF-8 JSON."""
    return orjson.dumps(value)


def loads(body: bytes) -> Any:
    """Decode a JSON request body, rejecting ``NaN`` and ``Infinity`` tokens.

    Integers of any size stay exact ``int`` objects and ``1e400`` decodes to
    ``inf``, so that callers can name the offending value in their message.
    """
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except InvalidRequestError:
        raise
    except (ValueError, RecursionError) as error:
        msg = f"Request body is not valid JSON: {error}"
        raise InvalidRequestError(msg) from None


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
