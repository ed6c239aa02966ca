"""HTTP plumbing for the v1 scheduler endpoint: master addresses, redirects, POSTs, calls.

A non-leading master answers ``307 Temporary Redirect`` with the leader in
``Location``. Real masters write it without a scheme (``//host:5050/master/...``) and
the Mesos docs even show a bare ``host:5050``; both are resolved here. Redirects are
followed by hand rather than by ``requests`` so that the body, the
``Mesos-Stream-Id`` header and the credentials go along to the new host.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import threading
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import orjson
import requests

from hippo_core.backends.mesos.errors import MesosCallError, MesosConnectionError

SCHEDULER_PATH = "/api/v1/scheduler"
DEFAULT_PORT = 5050
MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_HAS_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_DETAIL_LIMIT = 500
STREAM_ID = "Mesos-Stream-Id"
# What a kept-alive connection the other end closed while idle fails with on reuse.
_STALE_ERRORS = (
    http.client.RemoteDisconnected,
    ConnectionResetError,
    BrokenPipeError,
    http.client.BadStatusLine,
)


def scheduler_url(master: str) -> str:
    """The scheduler endpoint of a master given as ``host[:port]`` or an ``http(s)`` URL."""
    text = master.strip()
    if not text:
        raise ValueError("empty Mesos master address")
    if text.startswith("zk://"):
        raise ValueError(
            f"Mesos master {master!r}: ZooKeeper detection is not supported; "
            "list the masters' HTTP addresses (host:5050) instead, Hippo finds the leader"
        )
    bare = not _HAS_SCHEME.match(text)
    parts = urlsplit("http://" + text if bare else text)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"Mesos master {master!r}: scheme must be http or https")
    if not parts.hostname:
        raise ValueError(f"Mesos master {master!r} has no host")
    # A bare host means a master on its usual port; a URL means what it says.
    netloc = f"{parts.netloc}:{DEFAULT_PORT}" if bare and not parts.port else parts.netloc
    return urlunsplit((parts.scheme, netloc, _with_scheduler_path(parts.path), "", ""))


def resolve_redirect(current_url: str, location: str) -> str:
    """Where a ``Location`` header sent from ``current_url`` points to."""
    location = location.strip()
    scheme = urlsplit(current_url).scheme
    if location.startswith("//"):
        target = f"{scheme}:{location}"
    elif _HAS_SCHEME.match(location):
        target = location
    elif location.startswith("/"):
        target = urljoin(current_url, location)
    else:
        target = f"{scheme}://{location}"
    parts = urlsplit(target)
    return urlunsplit((parts.scheme, parts.netloc, _with_scheduler_path(parts.path), "", ""))


def _with_scheduler_path(path: str) -> str:
    path = path.rstrip("/")
    # A leader may name its endpoint /master/api/v1/scheduler: keep any such path.
    return path if path.endswith(SCHEDULER_PATH) else path + SCHEDULER_PATH


def post(
    session: requests.Session,
    url: str,
    body: dict[str, Any],
    *,
    call_type: str,
    timeout: tuple[float, float],
    headers: dict[str, str] | None = None,
    auth: requests.auth.AuthBase | None = None,
    stream: bool = False,
) -> tuple[requests.Response, str]:
    """POST ``body`` as JSON, following redirects to the leader.

    Returns the final response (any status but a redirect) and the URL that gave it.
    Raises :class:`MesosConnectionError` when the master cannot be reached.
    """
    data = json.dumps(body).encode()
    all_headers = {"Content-Type": "application/json", "Accept": "application/json"}
    all_headers.update(headers or {})
    for _ in range(MAX_REDIRECTS + 1):
        try:
            response = session.post(
                url,
                data=data,
                headers=all_headers,
                auth=auth,
                timeout=timeout,
                stream=stream,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise MesosConnectionError(f"{call_type} to {url} failed: {exc}") from exc
        if response.status_code not in REDIRECT_STATUSES:
            return response, url
        location = response.headers.get("Location")
        response.close()
        if not location:
            raise MesosCallError(call_type, response.status_code, "redirect without a Location header", url)
        url = resolve_redirect(url, location)
    raise MesosConnectionError(f"{call_type}: more than {MAX_REDIRECTS} redirects, last to {url}")


def failure_detail(response: requests.Response) -> str:
    """The master's error message from a failed response, kept short."""
    try:
        text = response.text.strip()
    except requests.RequestException as exc:
        text = f"(could not read the response body: {exc})"
    finally:
        response.close()
    return (text or response.reason or "no message")[:_DETAIL_LIMIT]


class Calls:
    """Calls (ACCEPT, ACKNOWLEDGE, ...) over persistent ``http.client`` connections, one per thread.

    A call is a small POST answered by an empty 202: ``requests`` spends far more time on
    its machinery than on the call, so calls skip it (the SUBSCRIBE stream keeps it).
    Redirects to the leader are followed as by :func:`post`; a kept-alive connection the
    master closed meanwhile is reopened once, as the call never reached it.
    """

    def __init__(
        self,
        connect_timeout: float,
        call_timeout: float,
        principal: str | None = None,
        secret: str | None = None,
    ) -> None:
        self._connect_timeout = connect_timeout
        self._call_timeout = call_timeout
        self._auth = (
            "Basic " + base64.b64encode(f"{principal}:{secret}".encode()).decode()
            if principal and secret
            else None
        )
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open: list[http.client.HTTPConnection] = []

    def post(self, url: str, body: dict[str, Any], *, call_type: str, stream_id: str) -> str:
        """POST ``body`` as JSON to ``url`` (following redirects); the URL that answered.

        Raises :class:`MesosConnectionError` when the master cannot be reached and
        :class:`MesosCallError` when it refuses the call (any status but 200 and 202).
        """
        data = orjson.dumps(body)
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            STREAM_ID: stream_id,
        }
        if self._auth is not None:
            headers["Authorization"] = self._auth
        for _ in range(MAX_REDIRECTS + 1):
            status, reason, location, text = self._send(url, data, headers, call_type)
            if status in (200, 202):
                return url
            if status not in REDIRECT_STATUSES:
                detail = (text.strip() or reason or "no message")[:_DETAIL_LIMIT]
                raise MesosCallError(call_type, status, detail, url)
            if not location:
                raise MesosCallError(call_type, status, "redirect without a Location header", url)
            url = resolve_redirect(url, location)
        raise MesosConnectionError(f"{call_type}: more than {MAX_REDIRECTS} redirects, last to {url}")

    def _send(
        self, url: str, data: bytes, headers: dict[str, str], call_type: str
    ) -> tuple[int, str, str | None, str]:
        parts = urlsplit(url)
        target = parts.path or "/"
        for attempt in (1, 2):
            conn, reused = self._connection(parts.scheme, parts.hostname or "", parts.port)
            try:
                conn.request("POST", target, body=data, headers=headers)
                response = conn.getresponse()
                text = response.read().decode("utf-8", "replace")
            except (OSError, http.client.HTTPException) as exc:
                self._drop(parts.scheme, parts.hostname or "", parts.port)
                if reused and attempt == 1 and isinstance(exc, _STALE_ERRORS):
                    continue  # the master closed the idle connection: the call never arrived
                raise MesosConnectionError(f"{call_type} to {url} failed: {exc}") from exc
            if response.will_close:
                self._drop(parts.scheme, parts.hostname or "", parts.port)
            return response.status, response.reason, response.getheader("Location"), text
        raise AssertionError("unreachable")

    def _connection(
        self, scheme: str, host: str, port: int | None
    ) -> tuple[http.client.HTTPConnection, bool]:
        key = (scheme, host, port)
        cache: dict[tuple[str, str, int | None], http.client.HTTPConnection] = (
            self._local.__dict__.setdefault("connections", {})
        )
        conn = cache.get(key)
        if conn is not None:
            return conn, True
        cls = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
        conn = cls(host, port, timeout=self._connect_timeout)
        conn.connect()
        assert conn.sock is not None
        conn.sock.settimeout(self._call_timeout)
        cache[key] = conn
        with self._lock:
            self._open.append(conn)
        return conn, False

    def _drop(self, scheme: str, host: str, port: int | None) -> None:
        cache = self._local.__dict__.get("connections", {})
        conn = cache.pop((scheme, host, port), None)
        if conn is not None:
            conn.close()

    def close(self) -> None:
        """Close every connection (of every thread)."""
        with self._lock:
            conns, self._open = self._open, []
        for conn in conns:
            conn.close()
