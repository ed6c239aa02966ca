"""How Hippo's HTTP server (waitress) runs the API: the same options for ``hippo api`` and ``hippo up``.

- Bodies: waitress refuses a body over ``max_body_bytes`` while it arrives (a declared
  ``Content-Length`` over it at once, a chunked body as soon as it passes it), before
  anything is spooled to disk; the app's own check (413 in the API's error shape)
  covers what reaches it.
- Connections: ``api_connection_limit`` connections at once, each closed after
  ``api_channel_timeout`` idle seconds, so idle clients cannot take every slot for long.
- Every request is marked as having come over the network, so the API checks its
  ``Host`` header (:mod:`hippo_core.api.auth`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from hippo_core.api.auth import NETWORK_KEY
from hippo_core.config import Config

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def networked(app: WSGIApp) -> WSGIApp:
    """``app`` with each request marked as one that came over the network."""

    def serve(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        environ[NETWORK_KEY] = True
        return app(environ, start_response)

    return serve


def waitress_options(config: Config) -> dict[str, Any]:
    """Keyword arguments of ``waitress.serve`` / ``create_server`` for ``config``."""
    return {
        "host": config.host,
        "port": config.port,
        "threads": config.api_threads,
        "ident": "hippo",
        # waitress refuses a body of this size or more: one byte over the limit.
        "max_request_body_size": config.max_body_bytes + 1,
        "connection_limit": config.api_connection_limit,
        "channel_timeout": config.api_channel_timeout,
        # How often idle channels are looked for: well within the timeout.
        "cleanup_interval": max(1, min(30, int(config.api_channel_timeout // 2) or 1)),
    }
