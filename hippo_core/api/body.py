"""Request bodies: JSON only, bounded in size, parsed once before the responder runs.

A responder that takes a body finds it in ``req.context.body`` (``None`` when the
request had none). Wrong content type: 415; too large: 413; not JSON: 400.
"""

from __future__ import annotations

import json
from typing import Any

import falcon

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


class JSONBody:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes

    def _read(self, req: falcon.Request) -> bytes:
        length = req.content_length
        if length is not None and length > self.max_bytes:
            raise falcon.HTTPContentTooLarge(
                title="Body too large",
                description=f"The body is {length} bytes; the limit is {self.max_bytes} "
                "(setting max_body_bytes).",
            )
        data = req.bounded_stream.read(self.max_bytes + 1)
        if len(data) > self.max_bytes:
            raise falcon.HTTPContentTooLarge(
                title="Body too large",
                description=f"The body exceeds the limit of {self.max_bytes} bytes "
                "(setting max_body_bytes).",
            )
        return data

    def process_resource(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, params: dict[str, Any]
    ) -> None:
        req.context.body = None
        if req.method not in BODY_METHODS:
            return
        has_body = (req.content_length or 0) > 0 or "chunked" in (
            req.get_header("Transfer-Encoding") or ""
        ).lower()
        if not has_body:
            return
        if not _is_json(req.content_type):
            raise falcon.HTTPUnsupportedMediaType(
                title="Unsupported media type",
                description=f"Send JSON with Content-Type: application/json (got {req.content_type!r}).",
            )
        data = self._read(req)
        if not data.strip():
            return
        try:
            req.context.body = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise falcon.HTTPBadRequest(
                title="Malformed JSON", description=f"The body is not valid JSON: {exc}"
            ) from exc


def require_body(req: falcon.Request) -> Any:
    """The parsed body, or a 400 saying one is needed."""
    if req.context.body is None:
        raise falcon.HTTPBadRequest(
            title="Missing body",
            description="This request needs a JSON body (Content-Type: application/json).",
        )
    return req.context.body
