"""From the ``conn_string`` a user gives to the SQLAlchemy URL the engine is built from.

Messages here never quote the connection string: it holds a password.
"""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

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


def translate(conn_string: str) -> str:
    """The SQLAlchemy URL text for ``conn_string`` (JDBC or driverless URLs get our drivers)."""
    text = conn_string.strip()
    if text.startswith("jdbc:"):
        text = _from_jdbc(text[len("jdbc:"):])
    scheme, separator, rest = text.partition("://")
    if separator and scheme in DEFAULT_DRIVERS:
        text = f"{DEFAULT_DRIVERS[scheme]}://{rest}"
    return text


def _from_jdbc(text: str) -> str:
    if text.startswith("sqlite:"):
        path = text[len("sqlite:"):]
        if path in ("", ":memory:"):
            raise ValueError(_IN_MEMORY)
        return f"sqlite:///{path}"  # an absolute path keeps its slash: sqlite:////abs/x.db
    subprotocol, separator, rest = text.partition("://")
    if not separator or subprotocol not in JDBC_DRIVERS:
        known = ", ".join(f"jdbc:{name}" for name in [*JDBC_DRIVERS, "sqlite"])
        raise ValueError(f"unsupported JDBC URL (jdbc:{subprotocol.partition(':')[0]}); "
                         f"supported: {known}")
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
        raise ValueError("put the password before the host (user:password@host), where Hippo "
                         "masks it, not in the query string")
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        raise ValueError(_IN_MEMORY)
    try:
        dialect = url.get_dialect()
    except NoSuchModuleError:
        raise ValueError(f"unknown database kind {url.drivername!r}; expected e.g. {EXAMPLES}") \
            from None
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        raise ValueError(f"the driver of {url.drivername!r} is not installed ({exc}); "
                         f"install it or use postgresql+psycopg / mysql+pymysql") from None
    return url
