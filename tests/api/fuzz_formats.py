"""Values for the string formats of Hippo's OpenAPI document that JSON Schema cannot check.

schemathesis loads this file (``SCHEMATHESIS_HOOKS``) in ``test_fuzz.py``. Three settings
of queue types are checked by what reads them, not by a pattern: a cron expression
(croniter, and it must match some date), an IANA time zone (the zoneinfo database of the
server), and a database URL (SQLAlchemy, an installed driver, a password Hippo can mask).
Their schemas name these as ``format``, which a validator treats as a note; here each
format gets a strategy that draws valid values of many shapes, so the data schemathesis
calls valid is valid, and the server's answer to it is still checked like any other.
Invalid values of these settings are still sent (schemathesis' negative cases, and
strings in the other phases) and must get a 400, never a 5xx.
"""

from __future__ import annotations

import zoneinfo

import schemathesis
from hypothesis import strategies as st


def _field(low: int, high: int) -> st.SearchStrategy[str]:
    """One cron field over ``low..high``: a value, a range, a list, a step, or ``*``."""
    value = st.integers(low, high)
    bounds = st.tuples(value, value).map(sorted)
    return st.one_of(
        st.just("*"),
        value.map(str),
        bounds.map(lambda b: f"{b[0]}-{b[1]}"),
        st.lists(value, min_size=1, max_size=4, unique=True).map(lambda v: ",".join(map(str, sorted(v)))),
        st.integers(1, high - low).map(lambda step: f"*/{step}"),
    )


CRON_MACROS = ("@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly", "@annually")

cron_expressions = st.one_of(
    st.sampled_from(CRON_MACROS),
    # Days of the month up to 28 only: "30 of February" never matches, and is refused.
    st.tuples(_field(0, 59), _field(0, 23), _field(1, 28), _field(1, 12), _field(0, 6)).map(" ".join),
)

time_zones = st.sampled_from(sorted(zoneinfo.available_timezones()))

_word = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12)
_host = st.lists(_word, min_size=1, max_size=3).map(".".join)
# Ordinary database ports; the [policy] refuses Docker's (2375, 2376) by default.
_port = st.sampled_from((3306, 5432, 13306, 15432, 33060))
_scheme = st.sampled_from(
    (
        "postgresql",
        "postgres",
        "postgresql+psycopg",
        "mysql",
        "mysql+pymysql",
        "mariadb",
        "mariadb+pymysql",
        "jdbc:postgresql",
        "jdbc:mysql",
        "jdbc:mariadb",
    )
)
database_urls = st.builds(
    lambda scheme, user, password, host, port, db: f"{scheme}://{user}:{password}@{host}:{port}/{db}",
    _scheme,
    _word,
    _word,
    _host,
    _port,
    _word,
)

schemathesis.openapi.format("cron-expression", cron_expressions)
schemathesis.openapi.format("iana-time-zone", time_zones)
schemathesis.openapi.format("database-url", database_urls)
