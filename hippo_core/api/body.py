"""Request bodies: JSON only, bounded in size, parsed before the responder runs.

:class:`BodyLimit` (middleware) refuses a declared ``Content-Length`` over the limit on
any route, before routing. :func:`json_body` (a ``falcon.before`` hook on responders
that take a body) checks the content type, reads at most the limit, also from a
chunked body without ``Content-Length``, and parses it into ``req.context.body``
(``None`` when there was none). Being a hook, it runs only when the method is allowed,
so a wrong method gets its 405 whatever the body. Wrong content type: 415; too large:
413; not JSON: 400; nested too deeply or holding text that is not Unicode: 400
(:mod:`hippo_core.api.untrusted`).
"""

from __future__ import annotations

import json
from typing import Any

import falcon

from hippo_core.api import untrusted
from hippo_core.api.errors import InvalidBody

DEFAULT_MAX_BYTES = 1024 * 1024


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def _too_large(max_bytes: int, detail: str) -> falcon.HTTPContentTooLarge:
    return falcon.HTTPContentTooLarge(
        title="Body too large",
        description=f"{detail}; the limit is {max_bytes} bytes (setting max_body_bytes, "
        "env HIPPO_MAX_BODY_BYTES).",
    )


class BodyLimit:
    """Middleware: refuse a declared body over ``max_bytes`` early, and tell the hook the limit."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.max_body_bytes = self.max_bytes
        req.context.body = None
        length = req.content_length
        if length is not None and length > self.max_bytes:
            raise _too_large(self.max_bytes, f"The body is {length} bytes")


def _chunked(req: falcon.Request) -> bool:
    return "chunked" in (req.get_header("Transfer-Encoding") or "").lower()


def _read(req: falcon.Request, max_bytes: int) -> bytes:
    if req.content_length is not None:
        stream: Any = req.bounded_stream
    elif req.env.get("wsgi.input_terminated"):
        # The server de-chunks the body and marks the stream's end: read until then.
        stream = req.stream
    else:
        # Reading past an unannounced end would block on the connection.
        raise falcon.HTTPLengthRequired(
            title="Length required",
            description="This server cannot read a chunked body; send Content-Length.",
        )
    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise _too_large(max_bytes, "The body is larger")
    return data


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def json_body(req: falcon.Request, resp: falcon.Response, resource: Any, params: dict[str, Any]) -> None:
    """Hook: parse the JSON body into ``req.context.body`` (``None`` when there is none)."""
    req.context.body = None
    if not ((req.content_length or 0) > 0 or _chunked(req)):
        return
    if not _is_json(req.content_type):
        raise falcon.HTTPUnsupportedMediaType(
            title="Unsupported media type",
            description=f"Send JSON with Content-Type: application/json (got {req.content_type!r}).",
        )
    data = _read(req, getattr(req.context, "max_body_bytes", DEFAULT_MAX_BYTES))
    if not data.strip():
        return
    try:
        req.context.body = json.loads(data, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        raise falcon.HTTPBadRequest(
            title="Malformed JSON", description=f"The body is not valid JSON: {exc}"
        ) from exc
    except RecursionError as exc:
        raise falcon.HTTPBadRequest(
            title="Malformed JSON", description="The body nests too deeply to be parsed."
        ) from exc
    problems = untrusted.check_body(req.context.body)
    if problems:
        req.context.body = None
        raise InvalidBody(problems)


def require_body(req: falcon.Request) -> Any:
    """The parsed body, or a 400 saying one is needed."""
    if req.context.body is None:
        raise falcon.HTTPBadRequest(
            title="Missing body",
            description="This request needs a JSON body (Content-Type: application/json).",
        )
    return req.context.body
