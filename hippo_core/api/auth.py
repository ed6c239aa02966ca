"""Who may call the API: bearer tokens with two roles, Host names, and cross-site requests.

The ``[auth]`` table:

- ``admin_tokens`` (``HIPPO_ADMIN_TOKEN``) may do everything; ``read_tokens``
  (``HIPPO_READ_TOKEN``) may call every GET that changes nothing. Several tokens are
  comma-separated in a variable. A request names its token as ``Authorization: Bearer
  <token>``; tokens are compared in constant time and never logged.
- ``allowed_hosts``: the ``Host`` names the API answers to (``hippo.example.com``, or
  ``.example.com`` for it and its subdomains); empty means any while tokens are set.
- ``insecure``: allows listening on a non-loopback address without tokens.

Open to everyone: ``/``, ``/ui/...``, ``/healthz``, ``/readyz`` and ``/openapi.json``.
Everything else needs a valid token once any is configured (401 otherwise), and a read
token on a route that changes something gets 403; both carry ``WWW-Authenticate``.

Without tokens the API is for this machine only: it listens on a loopback address
unless told ``insecure``; it answers only requests whose ``Host`` is a loopback name
(or in ``allowed_hosts``), 421 otherwise, so a web page cannot reach it through DNS
rebinding; and it refuses requests a browser marks as cross-site. A GET that changes
state (``/queues/{id}/toggle/``, ``/tasks/{id}/kill/``) needs a bearer token in any
mode: a page can make a browser send a GET anywhere, never an ``Authorization`` header.
"""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlsplit

import falcon

from hippo_core.settings import Settings, setting

ADMIN = "admin"
READ = "read"
REALM = 'Bearer realm="hippo"'
# Shorter tokens can be guessed; generated ones (``hippo up``) are 43 characters.
MIN_TOKEN_LENGTH = 16
# Paths anyone may read, without a token (with or without a trailing slash).
OPEN_PATHS = frozenset({"/", "/healthz", "/readyz", "/openapi.json"})
OPEN_PREFIXES = ("/ui/",)
# The last segment of a route whose GET changes state (the seed's GET toggle and kill).
STATE_CHANGING_GETS = frozenset({"toggle", "kill"})
# Routes only an admin may read (webhooks hold their targets' URLs and secrets).
ADMIN_ONLY_PREFIXES = ("/webhooks",)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOOPBACK_NAMES = ("localhost", ".localhost")
# Set in the WSGI environ by Hippo's HTTP server (hippo_core.api.server): the request came
# over the network, so its Host header is checked. In-process test clients make up a Host.
NETWORK_KEY = "hippo.network"
# How much of a Host header an error message repeats.
ECHO_LIMIT = 200


@dataclass(frozen=True)
class AuthSettings(Settings):
    table: ClassVar[str] = "auth"

    admin_tokens: tuple[str, ...] = setting(
        (),
        "Bearer tokens that may do everything (comma-separated in the variable).",
        env="HIPPO_ADMIN_TOKEN",
        secret=True,
    )
    read_tokens: tuple[str, ...] = setting(
        (),
        "Bearer tokens that may call every GET that changes nothing.",
        env="HIPPO_READ_TOKEN",
        secret=True,
    )
    allowed_hosts: tuple[str, ...] = setting(
        (),
        "Host names the API answers to (`.example.com` for a domain and its subdomains); empty: any "
        "while tokens are set, loopback names only without tokens.",
    )
    insecure: bool = setting(
        False, "Allow listening on a non-loopback address without tokens (`--insecure`)."
    )

    @property
    def has_tokens(self) -> bool:
        return bool(self.admin_tokens or self.read_tokens)


def token_problems(settings: AuthSettings) -> list[str]:
    """What is wrong with the configured tokens (too short, or one in both roles)."""
    problems = []
    for name, tokens in (("admin_tokens", settings.admin_tokens), ("read_tokens", settings.read_tokens)):
        for n, token in enumerate(tokens, 1):
            if len(token) < MIN_TOKEN_LENGTH:
                # The token itself is never repeated, not even in an error.
                problems.append(
                    f"[auth] {name}: token {n} has {len(token)} characters; use at least "
                    f"{MIN_TOKEN_LENGTH} (e.g. python -c 'import secrets; print(secrets.token_urlsafe())')"
                )
    if set(settings.admin_tokens) & set(settings.read_tokens):
        problems.append("[auth]: a token is both an admin token and a read token; give each role its own")
    return problems


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address, without port) means this machine's loopback."""
    host = host.strip().lower().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind_problem(settings: AuthSettings, host: str) -> str | None:
    """Why the API must not listen on ``host`` with these settings, or ``None``."""
    if settings.has_tokens or settings.insecure or is_loopback(host):
        return None
    return (
        f"refusing to listen on {host} without tokens: anyone who can reach it could run "
        "containers on your machines. Set HIPPO_ADMIN_TOKEN (and HIPPO_READ_TOKEN), listen on "
        "127.0.0.1, or pass --insecure if something in front of Hippo does the authentication"
    )


def host_name(header: str) -> str:
    """The name part of a ``Host`` header (``[::1]:8080`` -> ``::1``), lower case."""
    try:
        name = urlsplit(f"//{header}").hostname
    except ValueError:
        name = None
    return (name or "").lower().rstrip(".")


def _matches(name: str, allowed: tuple[str, ...]) -> bool:
    for entry in allowed:
        entry = entry.lower().rstrip(".")
        if entry == "*" or name == entry or (entry.startswith(".") and name.endswith(entry)):
            return True
        if entry.startswith(".") and name == entry[1:]:
            return True
    return False


def _clip(text: str) -> str:
    return text if len(text) <= ECHO_LIMIT else text[:ECHO_LIMIT] + "…"


def bearer_token(req: falcon.Request) -> str | None:
    """The token of ``Authorization: Bearer <token>``, or ``None``."""
    header = req.get_header("Authorization") or ""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _is_open(path: str) -> bool:
    return (path.rstrip("/") or "/") in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


class Guard:
    """Middleware: checks ``Host``, the bearer token and its role before any responder runs."""

    def __init__(self, settings: AuthSettings) -> None:
        problems = token_problems(settings)
        if problems:
            raise ValueError("invalid settings: " + "; ".join(problems))
        self.settings = settings
        self._tokens = [(t.encode(), ADMIN) for t in settings.admin_tokens] + [
            (t.encode(), READ) for t in settings.read_tokens
        ]

    def role_of(self, token: str) -> str | None:
        """The role of ``token``; every configured token is compared, each in constant time."""
        given = token.encode("utf-8", "surrogateescape")
        role = None
        for known, known_role in self._tokens:
            if hmac.compare_digest(given, known):
                role = known_role
        return role

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        if req.env.get(NETWORK_KEY):
            self._check_host(req.get_header("Host"))
        token = bearer_token(req)
        req.context.role = self.role_of(token) if token is not None and self._tokens else None
        req.context.bearer = req.context.role is not None
        if _is_open(req.path):
            return
        if self.settings.has_tokens:
            if req.context.role is None:
                raise _unauthorized(invalid=token is not None)
        else:
            self._refuse_cross_site(req)

    def process_resource(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, params: Any
    ) -> None:
        if _is_open(req.path):
            return
        template = req.uri_template or req.path
        changes = req.method not in SAFE_METHODS or template.rstrip("/").rsplit("/", 1)[-1] in (
            STATE_CHANGING_GETS
        )
        if req.method in SAFE_METHODS and changes and not req.context.bearer:
            raise _forbidden(
                f"GET {template} changes state, so it needs a bearer token (a web page can make a "
                "browser send a GET, never an Authorization header); use POST instead",
                scope=True,
            )
        if not self.settings.has_tokens:
            return
        admin_only = changes or req.path.startswith(ADMIN_ONLY_PREFIXES)
        if admin_only and req.context.role != ADMIN:
            raise _forbidden(
                f"{req.method} {template} needs an admin token; this one may only read", scope=True
            )

    def _check_host(self, header: str | None) -> None:
        if header is None:
            return  # HTTP/1.0 without Host: no browser sends that
        name = host_name(header)
        allowed = self.settings.allowed_hosts
        if self.settings.has_tokens:
            ok = not allowed or _matches(name, allowed)
        else:
            ok = is_loopback(name) or _matches(name, allowed)
        if not ok:
            raise falcon.HTTPError(
                falcon.HTTP_421,
                title="Misdirected request",
                description=f"This Hippo does not answer to the host {_clip(header)!r}. "
                + (
                    "Without tokens it answers only to loopback names (localhost, 127.0.0.1, [::1]); "
                    "configure tokens (HIPPO_ADMIN_TOKEN) or "
                    if not self.settings.has_tokens
                    else ""
                )
                + "add the name to [auth] allowed_hosts (HIPPO_AUTH_ALLOWED_HOSTS).",
            )

    def _refuse_cross_site(self, req: falcon.Request) -> None:
        origin = req.get_header("Origin")
        origin_host = host_name(urlsplit(origin).netloc) if origin and origin != "null" else None
        foreign_origin = origin == "null" or (
            origin_host is not None
            and not is_loopback(origin_host)
            and not _matches(origin_host, self.settings.allowed_hosts)
        )
        if foreign_origin or (req.get_header("Sec-Fetch-Site") or "").lower() == "cross-site":
            raise _forbidden(
                "a page of another site sent this request; without tokens Hippo answers only "
                "programs on this machine and its own pages",
                scope=False,
            )


def _unauthorized(invalid: bool) -> falcon.HTTPUnauthorized:
    challenge = f'{REALM}, error="invalid_token"' if invalid else REALM
    return falcon.HTTPUnauthorized(
        title="Authentication required",
        description=("That token is not valid here. " if invalid else "This route needs a token. ")
        + "Send Authorization: Bearer <token> with an admin token (HIPPO_ADMIN_TOKEN) or a read "
        "token (HIPPO_READ_TOKEN); `hippo up` prints where its admin token is.",
        challenges=[challenge],
    )


def _forbidden(description: str, scope: bool) -> falcon.HTTPForbidden:
    challenge = f'{REALM}, error="insufficient_scope"' if scope else REALM
    return falcon.HTTPForbidden(
        title="Forbidden", description=description, headers={"WWW-Authenticate": challenge}
    )


# -- the OpenAPI document -------------------------------------------------------------------

SCHEME = "bearer"


def document(spec: dict[str, Any]) -> dict[str, Any]:
    """``spec`` with the bearer scheme declared and the auth answers of each operation."""
    error = {"$ref": "#/components/schemas/Error"}

    def answer(description: str) -> dict[str, Any]:
        return {"description": description, "content": {"application/json": {"schema": error}}}

    spec.setdefault("components", {})["securitySchemes"] = {
        SCHEME: {
            "type": "http",
            "scheme": "bearer",
            "description": "An admin token (HIPPO_ADMIN_TOKEN) may do everything, a read token "
            "(HIPPO_READ_TOKEN) every GET that changes nothing. Without tokens configured, Hippo "
            "answers requests from this machine only and needs none (but a GET that changes "
            "state always needs one).",
        }
    }
    spec["security"] = [{SCHEME: []}]
    for path, operations in spec["paths"].items():
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            responses.setdefault("421", answer("The Host header names a host this Hippo does not answer to"))
            if _is_open(path):
                operation["security"] = []
                continue
            responses.setdefault("401", answer("No valid bearer token (see WWW-Authenticate)"))
            responses.setdefault(
                "403", answer("The token's role may not do this, or a state-changing GET came without one")
            )
    return spec
