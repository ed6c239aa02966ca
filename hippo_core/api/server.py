"""How Hippo's HTTP server (waitress) runs the API: the same options for ``hippo api`` and ``hippo up``.

- Bodies: waitress refuses a body over ``max_body_bytes`` (plus a quarter, at least 64
  KiB, of headroom for chunk framing) while it arrives: a declared ``Content-Length``
  at once, a chunked body as soon as it passes it, before anything is spooled to disk.
  The app refuses what reaches it over ``max_body_bytes`` (413 in the API's error shape).
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

# Bytes of chunk framing allowed beyond max_body_bytes before waitress itself refuses a body.
FRAMING_HEADROOM = 64 * 1024

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
        # waitress counts a chunked body's framing too: the headroom lets a body of exactly
        # max_body_bytes through to the app (which refuses one byte more with a 413 in the
        # API's error shape); anything far over is refused by waitress as it arrives.
        "max_request_body_size": config.max_body_bytes + max(FRAMING_HEADROOM, config.max_body_bytes // 4),
        "connection_limit": config.api_connection_limit,
        "channel_timeout": config.api_channel_timeout,
        # How often idle channels are looked for: well within the timeout.
        "cleanup_interval": max(1, min(30, int(config.api_channel_timeout // 2) or 1)),
    }
