"""Untrusted JSON: what is checked before anything deep touches a body, and what answers may echo.

A parsed body is walked once, iteratively (it may be nested deeper than Python may
recurse), before validation copies it: deeper than :data:`MAX_DEPTH` levels is refused,
and so is any string or name that is not Unicode text (a lone surrogate such as
``"\\ud800"`` parses, but can be neither stored as UTF-8 nor answered). Answers never
echo more than :data:`ECHO_LIMIT` characters of a value, list at most
:data:`MAX_LISTED` problems, and a record that somehow holds a lone surrogate is
answered with U+FFFD in its place rather than failing the whole listing.
"""

from __future__ import annotations

import json
from typing import Any

import falcon.media
import orjson

from hippo_core.echo import ECHO_LIMIT, clip
from hippo_core.errors import FieldError

__all__ = ["ECHO_LIMIT", "MAX_DEPTH", "MAX_LISTED", "check_body", "clip", "dumps", "install", "listed"]

MAX_DEPTH = 32
MAX_LISTED = 20
# Longest message or path of a listed problem.
MESSAGE_LIMIT = 600


def _bad_text(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _step(path: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    name = str(key)
    if name.isidentifier():
        return f"{path}.{name}"
    return f"{path}[{json.dumps(clip(name, 60))}]"


def problems(doc: Any) -> tuple[list[FieldError], int]:
    """Text that is not Unicode in ``doc``, and how deep ``doc`` nests (walked without recursion).

    Stops descending past :data:`MAX_DEPTH`: the depth returned is then ``MAX_DEPTH + 1``.
    """
    found: list[FieldError] = []
    deepest = 0
    stack: list[tuple[Any, str, int]] = [(doc, "$", 0)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, str):
            if _bad_text(value):
                found.append(
                    FieldError(path, "is not Unicode text (it holds a lone surrogate such as \\ud800)")
                )
            continue
        if not isinstance(value, dict | list):
            continue
        deepest = max(deepest, depth + 1)
        if depth + 1 > MAX_DEPTH:
            continue
        if isinstance(value, dict):
            for key, item in value.items():
                step = _step(path, key)
                if _bad_text(key):
                    found.append(
                        FieldError(step, "this name is not Unicode text (it holds a lone surrogate)")
                    )
                stack.append((item, step, depth + 1))
        else:
            stack.extend((item, _step(path, n), depth + 1) for n, item in enumerate(value))
    found.sort(key=lambda e: e.path)
    return found, deepest


def check_body(doc: Any) -> list[FieldError]:
    """Why ``doc`` (a parsed body) must be refused before validation, or nothing."""
    found, depth = problems(doc)
    if depth > MAX_DEPTH:
        return [FieldError("$", f"nests deeper than {MAX_DEPTH} levels; no Hippo document needs more")]
    return found


def listed(errors: list[FieldError]) -> tuple[list[dict[str, str]], int]:
    """The first :data:`MAX_LISTED` problems as the API lists them (clipped), and how many more."""
    shown = [
        {"path": clip(e.path, MESSAGE_LIMIT), "message": clip(e.message, MESSAGE_LIMIT)}
        for e in errors[:MAX_LISTED]
    ]
    return shown, max(0, len(errors) - MAX_LISTED)


# -- answers ---------------------------------------------------------------------------------


def _as_text(text: str) -> str:
    # Through UTF-16, which can carry a lone surrogate and then replaces it with U+FFFD.
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _replaced(value: Any) -> Any:
    if isinstance(value, str):
        return _as_text(value)
    if isinstance(value, dict):
        return {_as_text(str(k)): _replaced(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_replaced(v) for v in value]
    return value


def dumps(value: Any) -> str | bytes:
    """JSON of ``value`` that always encodes as UTF-8 (lone surrogates become U+FFFD)."""
    try:
        # orjson refuses what is not UTF-8 text (and integers beyond 64 bits): then below.
        return orjson.dumps(value)
    except TypeError:
        pass
    text = json.dumps(value, ensure_ascii=False)
    if not _bad_text(text):
        return text
    return json.dumps(_replaced(value), ensure_ascii=False)


def install(app: falcon.App) -> None:
    """Answer JSON through :func:`dumps`."""
    handler = falcon.media.JSONHandler(dumps=dumps)
    app.resp_options.media_handlers[falcon.MEDIA_JSON] = handler
