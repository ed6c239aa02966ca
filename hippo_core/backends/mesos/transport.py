"""HTTP plumbing for the v1 scheduler endpoint: master addresses, redirects, POSTs.

A non-leading master answers ``307 Temporary Redirect`` with the leader in
``Location``. Real masters write it without a scheme (``//host:5050/master/...``) and
the Mesos docs even show a bare ``host:5050``; both are resolved here. Redirects are
followed by hand rather than by ``requests`` so that the body, the
``Mesos-Stream-Id`` header and the credentials go along to the new host.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests

from hippo_core.backends.mesos.errors import MesosCallError, MesosConnectionError

SCHEDULER_PATH = "/api/v1/scheduler"
DEFAULT_PORT = 5050
MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_HAS_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_DETAIL_LIMIT = 500


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
