"""From the ``conn_string`` a user gives to the SQLAlchemy URL the engine is built from.

Messages here never quote the connection string: it holds a password. Hippo masks only
the password before the host (``user:********@host``), so :func:`secrecy_problem` refuses
URLs that would put a secret anywhere else, and :func:`shown` is how a URL appears in a
message.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from hippo_core import secrets

# JDBC subprotocol -> SQLAlchemy dialect+driver installed with hippo-sqlquery.
JDBC_DRIVERS = {
    "mysql": "mysql+pymysql",
    "mariadb": "mariadb+pymysql",
    "postgresql": "postgresql+psycopg",
}
# A URL naming a database but no driver would get SQLAlchemy's default driver
# (mysqlclient, psycopg2), which is not installed; use the ones that are.
DEFAULT_DRIVERS = {
    "mysql": "mysql+pymysql",
    "mariadb": "mariadb+pymysql",
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
}
_IN_MEMORY = "an in-memory SQLite database holds no rows to poll; give a file: sqlite:////abs/path.db"
EXAMPLES = "postgresql+psycopg://user:password@host:5432/db or jdbc:mysql://user:password@host:3306/db"
# A query-string key holding one of these (any case) is taken for a secret: Hippo would
# show its value, since it masks only the password before the host.
SECRET_WORDS = ("pass", "pwd", "secret", "token", "key")
# Query-string keys that say where the database is (libpq, PyMySQL), not how to talk to it.
LOCATION_KEYS = ("host", "hostaddr", "port", "dbname", "service", "unix_socket", "db", "database")
DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306}
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_SHOWN_SECRET = "hidden"


def translate(conn_string: str) -> str:
    """The SQLAlchemy URL text for ``conn_string`` (JDBC or driverless URLs get our drivers)."""
    text = conn_string.strip()
    if text.startswith("jdbc:"):
        text = _from_jdbc(text[len("jdbc:") :])
    scheme, separator, rest = text.partition("://")
    if separator and scheme in DEFAULT_DRIVERS:
        text = f"{DEFAULT_DRIVERS[scheme]}://{rest}"
    return text


def _from_jdbc(text: str) -> str:
    if text.startswith("sqlite:"):
        path = text[len("sqlite:") :]
        if path in ("", ":memory:"):
            raise ValueError(_IN_MEMORY)
        return f"sqlite:///{path}"  # an absolute path keeps its slash: sqlite:////abs/x.db
    subprotocol, separator, rest = text.partition("://")
    if not separator or subprotocol not in JDBC_DRIVERS:
        known = ", ".join(f"jdbc:{name}" for name in [*JDBC_DRIVERS, "sqlite"])
        # Named only when it is a plain word: "jdbc:pw@host/db" must not echo "pw@host/db".
        name = subprotocol.partition(":")[0]
        named = f" (jdbc:{name})" if re.fullmatch(r"[a-z0-9]{1,32}", name) else ""
        raise ValueError(f"unsupported JDBC URL{named}; supported: {known}")
    if "?" in rest or ";" in rest:
        raise ValueError(
            "JDBC options (after '?' or ';') are not translated; put the user and password "
            "before the host (jdbc:mysql://user:password@host:3306/db) or give an "
            "SQLAlchemy URL with that driver's options"
        )
    return f"{JDBC_DRIVERS[subprotocol]}://{rest}"


def engine_url(conn_string: str) -> URL:
    """Parse and check ``conn_string`` without connecting; ``ValueError`` says what is wrong."""
    text = translate(conn_string)
    try:
        url = make_url(text)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise ValueError(f"not a database URL; expected e.g. {EXAMPLES}") from None
    if "password" in url.query:
        raise ValueError(
            "put the password before the host (user:password@host), where Hippo "
            "masks it, not in the query string"
        )
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        raise ValueError(_IN_MEMORY)
    try:
        dialect = url.get_dialect()
    except NoSuchModuleError:
        raise ValueError(f"unknown database kind {url.drivername!r}; expected e.g. {EXAMPLES}") from None
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        raise ValueError(
            f"the driver of {url.drivername!r} is not installed ({exc}); "
            f"install it or use postgresql+psycopg / mysql+pymysql"
        ) from None
    return url


def looks_secret(key: str) -> bool:
    lowered = key.lower()
    return any(word in lowered for word in SECRET_WORDS)


def secrecy_problem(conn_string: str, url: URL) -> str | None:
    """Why Hippo could not keep the secrets of ``conn_string`` (parsed as ``url``) hidden.

    ``None`` when its only secret is a password before the host that Hippo's mask finds.
    """
    if conn_string != conn_string.strip():
        return (
            "must not begin or end with whitespace (spaces, tabs, line breaks): Hippo "
            "would not find the password to mask it; remove the whitespace"
        )
    secret_keys = sorted(key for key in url.query if looks_secret(key))
    if secret_keys:
        named = ", ".join(repr(k) if _PLAIN_KEY.fullmatch(k) else "(a key)" for k in secret_keys)
        return (
            f"the query string holds {named}, which Hippo takes for a secret and could "
            "not mask (it masks only the password before the host); put the password "
            "there (user:password@host) and leave other secrets out of the URL"
        )
    if url.password:
        masked = secrets.url_password(conn_string)
        if masked is None or unquote(masked) != url.password:
            return (
                "Hippo cannot tell where the password ends to mask it; write it as "
                "user:password@host with any '@', ':', '/' or line break in the user "
                "name or password percent-encoded (%40, %3A, %2F, %0A)"
            )
    return None


def shown(url: URL) -> str:
    """``url`` as a message may show it: the password and secret-looking options hidden."""
    hidden = {key: _SHOWN_SECRET for key in url.query if looks_secret(key)}
    return url.update_query_dict(hidden).render_as_string(hide_password=True)


def secret_values(url: URL) -> list[str]:
    """The password and the values of secret-looking options: never to appear in a message."""
    values = [url.password] if url.password else []
    for key, value in url.query.items():
        if looks_secret(key):
            values.extend([value] if isinstance(value, str) else value)
    return [v for v in values if v]


def database_identity(conn_string: str) -> str:
    """Which database ``conn_string`` reaches, free of credentials, driver and options.

    ``postgresql://db.internal:5432/shop``; the same for ``jdbc:postgresql://app:pw@DB.internal/shop``.
    Options that say where the database is (``host``, ``port``, ``unix_socket``, ...) are kept.
    """
    try:
        url = make_url(translate(conn_string))
    except (ArgumentError, ValueError):
        raise ValueError(f"not a database URL; expected e.g. {EXAMPLES}") from None
    backend = url.get_backend_name()
    backend = "mysql" if backend == "mariadb" else backend  # one server, two dialect names
    if backend == "sqlite":
        return f"sqlite:///{url.database or ''}"
    port = url.port or DEFAULT_PORTS.get(backend)
    location = {key: url.query[key] for key in LOCATION_KEYS if key in url.query}
    where = f"{backend}://{(url.host or '').lower()}:{port or ''}/{url.database or ''}"
    if location:
        where += "?" + "&".join(f"{key}={value}" for key, value in location.items())
    return where


def endpoint(conn_string: str) -> tuple[str | None, int | None, str | None]:
    """Where ``conn_string`` reaches: ``(host, port, None)`` for a server, ``(None, None, path)``
    for a SQLite file; ``ValueError`` when it is not a database URL."""
    try:
        url = make_url(translate(conn_string))
    except (ArgumentError, ValueError):
        raise ValueError(f"not a database URL; expected e.g. {EXAMPLES}") from None
    backend = url.get_backend_name()
    if backend == "sqlite":
        return None, None, url.database or ""
    backend = "mysql" if backend == "mariadb" else backend
    host = url.query.get("host") if url.host is None else url.host
    host = host if isinstance(host, str) else None
    return host or "localhost", url.port or DEFAULT_PORTS.get(backend), None
