"""How much of a value Hippo's messages may repeat: a hostile value is never echoed whole."""

from __future__ import annotations

from typing import Any

ECHO_LIMIT = 200


def clip(text: str, limit: int = ECHO_LIMIT) -> str:
    """``text``, cut to ``limit`` characters (saying how long it was) when longer."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def short_repr(value: Any) -> str:
    """``repr(value)`` cut to :data:`ECHO_LIMIT` characters."""
    return clip(repr(value))


def quoting_briefly(message: str, value: Any) -> str:
    """``message`` with the ``repr`` of ``value`` in it cut short (validators quote whole values)."""
    full = repr(value)
    if len(full) <= ECHO_LIMIT:
        return message
    return message.replace(full, short_repr(value))
