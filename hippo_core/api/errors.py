"""Every error the API answers, in one JSON shape (``schemas/error.json``).

Domain errors know nothing of HTTP; they are mapped to statuses here, once.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import falcon

from hippo_core.api import untrusted
from hippo_core.errors import Conflict, FieldError, NotFound, StoreUnavailable, ValidationFailed
from hippo_core.records import NewerFormat

log = logging.getLogger(__name__)


class InvalidBody(falcon.HTTPBadRequest):
    """A 400 that lists the problems with their JSONPaths (the first 20, values clipped)."""

    def __init__(self, errors: list[FieldError], title: str = "Invalid request body") -> None:
        count = len(errors)
        shown, more = untrusted.listed(errors)
        found = f"{count} problem{'s' if count != 1 else ''} found; fix every listed field"
        super().__init__(
            title=title,
            description=f"{found} (and {more} more, not listed)." if more else f"{found}.",
        )
        self.errors = shown


def serialize_error(req: falcon.Request, resp: falcon.Response, exc: falcon.HTTPError) -> None:
    body: dict[str, Any] = {"status": exc.status_code, "title": exc.title or str(exc.status)}
    description = exc.description or _default_description(req, exc)
    if description:
        body["description"] = description
    errors = getattr(exc, "errors", None)
    if errors:
        body["errors"] = errors
    resp.content_type = falcon.MEDIA_JSON
    resp.text = json.dumps(body)


def _default_description(req: falcon.Request, exc: falcon.HTTPError) -> str | None:
    if exc.status_code == 404:
        return f"There is nothing at {untrusted.clip(req.path)}; GET /openapi.json lists every route."
    if exc.status_code == 405:
        allowed = dict(exc.headers or {}).get("Allow", "")
        return f"{req.method} is not allowed on {untrusted.clip(req.path)}; allowed: {allowed}."
    return None


def _validation_failed(
    req: falcon.Request, resp: falcon.Response, exc: ValidationFailed, params: Any
) -> None:
    # Messages never quote a secret (see hippo_core.documents), so they are safe to log;
    # only as many as the answer lists, clipped, so a hostile body makes no huge log line.
    shown, more = untrusted.listed(exc.errors)
    summary = "; ".join(f"{e['path']}: {e['message']}" for e in shown) + (
        f"; and {more} more" if more else ""
    )
    log.info("%s %s rejected: %s", req.method, untrusted.clip(req.path), summary)
    raise InvalidBody(exc.errors)


def _not_found(req: falcon.Request, resp: falcon.Response, exc: NotFound, params: Any) -> None:
    raise falcon.HTTPNotFound(title=f"Unknown {exc.kind}", description=untrusted.clip(str(exc), 400))


def _conflict(req: falcon.Request, resp: falcon.Response, exc: Conflict, params: Any) -> None:
    raise falcon.HTTPConflict(title="Conflict", description=str(exc))


def _redis_down(req: falcon.Request, resp: falcon.Response, exc: StoreUnavailable, params: Any) -> None:
    log.error("Redis failed during %s %s: %s", req.method, req.path, exc)
    raise falcon.HTTPServiceUnavailable(
        title="Redis unavailable",
        description=f"Hippo's {exc}. Check HIPPO_REDIS_URL and that Redis is running; then read "
        "the resource again before retrying a change.",
    )


def _newer_format(req: falcon.Request, resp: falcon.Response, exc: NewerFormat, params: Any) -> None:
    log.error("%s %s: %s", req.method, req.path, exc)
    raise falcon.HTTPInternalServerError(title="Stored by a newer Hippo", description=str(exc))


def _unexpected(req: falcon.Request, resp: falcon.Response, exc: Exception, params: Any) -> None:
    if isinstance(exc, falcon.HTTPError):
        raise exc
    # The traceback goes to the log; the client learns only that it was not its fault.
    log.error("%s %s failed", req.method, req.path, exc_info=exc)
    raise falcon.HTTPInternalServerError(
        title="Internal error",
        description="Hippo failed to handle the request; the server log has the details.",
    )


def install(app: falcon.App) -> None:
    app.set_error_serializer(serialize_error)
    app.add_error_handler(Exception, _unexpected)
    app.add_error_handler(ValidationFailed, _validation_failed)
    app.add_error_handler(NotFound, _not_found)
    app.add_error_handler(Conflict, _conflict)
    app.add_error_handler(NewerFormat, _newer_format)
    app.add_error_handler(StoreUnavailable, _redis_down)
