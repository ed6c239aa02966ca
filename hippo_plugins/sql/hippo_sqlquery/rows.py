"""Database values as JSON: a row as an item's data, a filter value as the cursor."""

from __future__ import annotations

import base64
import json
import math
import uuid
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any


def json_value(value: Any) -> Any:
    """``value`` as something ``json.dumps`` writes without loss or surprise."""
    match value:
        case None | bool() | int() | str():
            return value
        case float():
            # NaN and infinities are not JSON numbers; strings keep them readable.
            return value if math.isfinite(value) else str(value)
        case Decimal():
            return format(value, "f")  # exact, and never in exponent notation
        case datetime() | date() | time():
            return value.isoformat()
        case timedelta():
            return str(value)
        case bytes() | bytearray() | memoryview():
            return base64.b64encode(bytes(value)).decode("ascii")
        case uuid.UUID():
            return str(value)
        case Mapping():
            return {str(key): json_value(item) for key, item in value.items()}
        case list() | tuple():
            return [json_value(item) for item in value]
        case _:
            return str(value)


def row_json(row: Mapping[Any, Any]) -> str:
    """One row as a compact JSON object, columns in the query's order."""
    return json.dumps(json_value(row), ensure_ascii=False, separators=(",", ":"))


def cursor_value(value: Any) -> Any:
    """The JSON cursor for a filter value; bound back as a parameter by the next poll.

    Numbers stay numbers (a whole ``Decimal`` becomes an integer), times become ISO 8601
    text, which PostgreSQL, MariaDB and SQLite all compare correctly with their
    date and time columns.
    """
    match value:
        case bool() | int() | str():
            return value
        case float() if math.isfinite(value):
            return value
        case Decimal() if value.is_finite():
            return int(value) if value == value.to_integral_value() else format(value, "f")
        case datetime() | date() | time():
            return value.isoformat()
        case uuid.UUID():
            return str(value)
    raise TypeError(f"a {type(value).__name__} value ({value!r}) cannot serve as a cursor")
