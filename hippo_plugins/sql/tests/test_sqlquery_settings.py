"""The sqlquery settings: the contract suite, defaults, checks, validate() and conn_string translation."""

from __future__ import annotations

import json
import re
from typing import ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hippo_core.errors import ValidationFailed
from hippo_core.testing.suites import QueueTypeSuite
from hippo_core.validation import validate as validate_schema
from hippo_sqlquery import SqlQueryQueueType
from hippo_sqlquery.queuetype import query_problem
from hippo_sqlquery.urls import engine_url, translate

REQUIRED = {
    "conn_string": "postgresql+psycopg://app:s3cret@db:5432/shop",
    "query": "SELECT id FROM orders",
    "filter_field": "id",
}
DEFAULTS = {**REQUIRED, "filter_val": "", "connect_timeout": 10, "query_timeout_seconds": 60}


class TestSqlQueryContract(QueueTypeSuite):
    queue_type = SqlQueryQueueType
    required: ClassVar[list[str]] = ["conn_string", "query", "filter_field"]
    secrets: ClassVar[set[str]] = {"conn_string"}


def test_the_schema_masks_the_url_password_alone():
    assert SqlQueryQueueType.schema["properties"]["conn_string"]["x-hippo-secret"] == "url-password"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        # the three required settings; filter_val starts from the beginning
        (REQUIRED, DEFAULTS),
        # a numeric filter_val keeps its JSON type
        ({**REQUIRED, "filter_val": 100}, {**DEFAULTS, "filter_val": 100}),
        ({**REQUIRED, "filter_val": "2024-05-01"}, {**DEFAULTS, "filter_val": "2024-05-01"}),
        # the 64-bit extremes still bind
        ({**REQUIRED, "filter_val": 2**63 - 1}, {**DEFAULTS, "filter_val": 2**63 - 1}),
        ({**REQUIRED, "filter_val": -(2**63)}, {**DEFAULTS, "filter_val": -(2**63)}),
        ({**REQUIRED, "query_timeout_seconds": 3600}, {**DEFAULTS, "query_timeout_seconds": 3600}),
    ],
)
def test_schema_fills_defaults(given, expected):
    assert validate_schema(SqlQueryQueueType.schema, given) == expected


@pytest.mark.parametrize(
    ("given", "path"),
    [
        ({**REQUIRED, "conn_string": ""}, "$.conn_string"),  # no database at all
        ({"query": "SELECT 1", "filter_field": "id"}, "$.conn_string"),  # required
        ({**REQUIRED, "filter_field": "id; DROP TABLE x"}, "$.filter_field"),  # not a name
        ({**REQUIRED, "filter_val": True}, "$.filter_val"),  # booleans are no cursor
        ({**REQUIRED, "connect_timeout": 0}, "$.connect_timeout"),  # at least a second
        ({**REQUIRED, "query_timeout_seconds": 0}, "$.query_timeout_seconds"),  # at least a second
        ({**REQUIRED, "query_timeout_seconds": 3601}, "$.query_timeout_seconds"),  # an hour at most
        # numbers SQLite cannot bind would fail every poll
        ({**REQUIRED, "filter_val": 2**63}, "$.filter_val"),
        ({**REQUIRED, "filter_val": -(2**63) - 1}, "$.filter_val"),
        ({**REQUIRED, "table": "orders"}, "$.table"),  # unknown fields are refused
    ],
)
def test_schema_refuses(given, path):
    with pytest.raises(ValidationFailed) as caught:
        validate_schema(SqlQueryQueueType.schema, given)
    assert path in [error.path for error in caught.value.errors]


@pytest.mark.parametrize(
    ("overrides", "path", "reason"),
    [
        ({}, None, None),  # the required settings are enough
        ({"query": "  -- orders\n/* new */ select id from orders"}, None, None),  # comments first
        ({"query": "WITH o AS (SELECT id FROM orders) SELECT id FROM o"}, None, None),
        ({"query": "(SELECT id FROM a) UNION (SELECT id FROM b)"}, None, None),
        ({"filter_field": "_created_at2"}, None, None),
        ({"conn_string": "jdbc:mysql://app:s3cret@db:3306/shop"}, None, None),
        ({"conn_string": "sqlite:////var/lib/app/app.db"}, None, None),
        # the identifier is a plain name: anything else could smuggle SQL in
        ({"filter_field": "id; DROP TABLE x"}, "$.filter_field", "plain column name"),
        ({"filter_field": "orders.id"}, "$.filter_field", "plain column name"),
        ({"filter_field": "1st"}, "$.filter_field", "plain column name"),
        ({"filter_field": 'id"'}, "$.filter_field", "plain column name"),
        # the source must be a query, not a change
        ({"query": "DELETE FROM orders"}, "$.query", "must be a SELECT"),
        ({"query": "-- SELECT\nUPDATE orders SET x = 1"}, "$.query", "must be a SELECT"),
        # connection strings that cannot work
        ({"conn_string": "db.internal:5432"}, "$.conn_string", "not a database URL"),
        ({"conn_string": "postgresql://app:s3cret@db:port/shop"}, "$.conn_string", "not a database URL"),
        ({"conn_string": "nosuchdb://app:s3cret@db/shop"}, "$.conn_string", "unknown database kind"),
        ({"conn_string": "mssql+pyodbc://app:s3cret@db/shop"}, "$.conn_string", "not installed"),
        (
            {"conn_string": "jdbc:oracle:thin:app/s3cret@db:1521:shop"},
            "$.conn_string",
            "unsupported JDBC URL (jdbc:oracle)",
        ),
        (
            {"conn_string": "jdbc:mysql://db:3306/shop?user=app&password=s3cret"},
            "$.conn_string",
            "JDBC options",
        ),
        (
            {"conn_string": "postgresql://db/shop?user=app&password=s3cret"},
            "$.conn_string",
            "put the password before the host",
        ),
        ({"conn_string": "sqlite://"}, "$.conn_string", "in-memory SQLite"),
        ({"conn_string": "jdbc:sqlite::memory:"}, "$.conn_string", "in-memory SQLite"),
        # a JDBC kind that is no plain word is not echoed (it may hold the password)
        ({"conn_string": "jdbc:s3cret@db/shop"}, "$.conn_string", "unsupported JDBC URL; supported"),
        # options that are no secret are fine
        (
            {"conn_string": "postgresql://app:s3cret@db/shop?sslmode=require&application_name=hippo"},
            None,
            None,
        ),
        ({"conn_string": "mysql+pymysql://app:s3cret@db/shop?charset=utf8mb4"}, None, None),
        # Hippo's mask is anchored at both ends: surrounding whitespace hides the password from it
        ({"conn_string": " postgresql://app:s3cret@db/shop"}, "$.conn_string", "whitespace"),
        ({"conn_string": "postgresql://app:s3cret@db/shop\n"}, "$.conn_string", "whitespace"),
        ({"conn_string": "\tjdbc:mysql://app:s3cret@db:3306/shop "}, "$.conn_string", "whitespace"),
        # secrets in the query string are shown unmasked, whatever their key
        ({"conn_string": "mysql+pymysql://app@db/shop?passwd=s3cret"}, "$.conn_string", "'passwd'"),
        (
            {"conn_string": "mysql+pymysql://app@db/shop?ssl_key_password=s3cret"},
            "$.conn_string",
            "'ssl_key_password'",
        ),
        ({"conn_string": "postgresql://app@db/shop?sslpassword=s3cret"}, "$.conn_string", "'sslpassword'"),
        ({"conn_string": "postgresql://app@db/shop?PassFile=/s3cret"}, "$.conn_string", "'PassFile'"),
        ({"conn_string": "postgresql://app@db/shop?api_token=s3cret&x=1"}, "$.conn_string", "'api_token'"),
        (
            {"conn_string": "postgresql://app@db/shop?client_secret=s3cret"},
            "$.conn_string",
            "'client_secret'",
        ),
        ({"conn_string": "postgresql://app@db/shop?sslkey=/etc/s3cret.key"}, "$.conn_string", "'sslkey'"),
        ({"conn_string": "postgresql://app@db/shop?PWD=s3cret"}, "$.conn_string", "'PWD'"),
        # a key that is itself odd text is not echoed
        ({"conn_string": "postgresql://app@db/shop?pass%3Ds3cret=1"}, "$.conn_string", "(a key)"),
        # a password Hippo's mask would not find, or only part of
        (
            {"conn_string": "postgresql://app@corp:s3cret@db/shop"},
            "$.conn_string",
            "cannot tell where the password ends",
        ),
        (
            {"conn_string": "postgresql://app:s3cret\nx@db/shop"},
            "$.conn_string",
            "cannot tell where the password ends",
        ),
        (
            {"conn_string": "postgresql://app:s3cret@db/shop?application_name=a@b"},
            "$.conn_string",
            "cannot tell where the password ends",
        ),
    ],
)
def test_validate(overrides, path, reason):
    errors = SqlQueryQueueType.validate({**DEFAULTS, **overrides})
    if path is None:
        assert errors == []
    else:
        assert len(errors) == 1, errors
        assert errors[0][0] == path
        assert reason in errors[0][1]
        assert "s3cret" not in errors[0][1], "a message must never show the password"


def test_validate_reports_every_problem_at_once():
    errors = SqlQueryQueueType.validate(
        {**DEFAULTS, "conn_string": "nope", "query": "DROP TABLE x", "filter_field": "a b"}
    )
    assert [path for path, _ in errors] == ["$.conn_string", "$.query", "$.filter_field"]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        # the seed's JDBC form
        ("jdbc:mysql://app:pw@db:3306/shop", "mysql+pymysql://app:pw@db:3306/shop"),
        ("jdbc:mariadb://app:pw@db/shop", "mariadb+pymysql://app:pw@db/shop"),
        ("jdbc:postgresql://app:pw@db:5432/shop", "postgresql+psycopg://app:pw@db:5432/shop"),
        ("jdbc:sqlite:/var/lib/app.db", "sqlite:////var/lib/app.db"),
        ("jdbc:sqlite:app.db", "sqlite:///app.db"),
        # URLs without a driver get the installed one
        ("mysql://app:pw@db/shop", "mysql+pymysql://app:pw@db/shop"),
        ("mariadb://app:pw@db/shop", "mariadb+pymysql://app:pw@db/shop"),
        ("postgresql://app:pw@db/shop", "postgresql+psycopg://app:pw@db/shop"),
        ("postgres://app:pw@db/shop", "postgresql+psycopg://app:pw@db/shop"),
        # URLs naming a driver are left alone
        ("postgresql+psycopg://app:pw@db/shop", "postgresql+psycopg://app:pw@db/shop"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
    ],
)
def test_translate(given, expected):
    assert translate(given) == expected


def test_a_password_with_special_characters_survives_percent_encoding():
    url = engine_url("jdbc:mysql://app:p%40ss%3Aw@db:3306/shop")
    assert url.password == "p@ss:w"
    assert url.drivername == "mysql+pymysql"


@pytest.mark.parametrize(
    ("filter_val", "cursor"),
    [("", None), ("0", "0"), (0, 0), (12.5, 12.5), ("2024-05-01T00:00:00", "2024-05-01T00:00:00")],
)
def test_initial_cursor_is_filter_val_with_its_type(filter_val, cursor):
    assert SqlQueryQueueType.initial_cursor({**DEFAULTS, "filter_val": filter_val}) == cursor


IDENTITY = {**DEFAULTS, "conn_string": "postgresql+psycopg://app:s3cret@db.internal:5432/shop"}


@pytest.mark.parametrize(
    ("overrides", "same"),
    [
        # credentials and the way of talking to the same database keep the cursor
        ({"conn_string": "postgresql+psycopg://app:n3w-s3cret@db.internal:5432/shop"}, True),
        ({"conn_string": "postgresql+psycopg://reader:s3cret@db.internal:5432/shop"}, True),
        ({"conn_string": "jdbc:postgresql://app:s3cret@db.internal/shop"}, True),
        ({"conn_string": "postgres://app:s3cret@DB.internal:5432/shop?sslmode=require"}, True),
        ({"connect_timeout": 30, "query_timeout_seconds": 5}, True),
        # reformatting the query is no new query
        ({"query": "  SELECT id\n  FROM orders ;"}, True),
        # another database, or other rows of it, is another source
        ({"conn_string": "postgresql+psycopg://app:s3cret@db2.internal:5432/shop"}, False),
        ({"conn_string": "postgresql+psycopg://app:s3cret@db.internal:5433/shop"}, False),
        ({"conn_string": "postgresql+psycopg://app:s3cret@db.internal:5432/shop2"}, False),
        ({"conn_string": "mysql+pymysql://app:s3cret@db.internal:5432/shop"}, False),
        ({"conn_string": "postgresql+psycopg://app:s3cret@/shop?host=/run/postgresql"}, False),
        ({"query": "SELECT id FROM orders WHERE paid"}, False),
        ({"filter_field": "created"}, False),
    ],
)
def test_source_identity_names_the_rows_a_cursor_points_into(overrides, same):
    before = SqlQueryQueueType.source_identity(IDENTITY)
    after = SqlQueryQueueType.source_identity({**IDENTITY, **overrides})
    assert (before == after) is same, (before, after)
    assert "s3cret" not in json.dumps([before, after]), "the identity is stored: no secrets"


def test_source_identity_is_json_and_without_credentials():
    identity = SqlQueryQueueType.source_identity(
        {**IDENTITY, "conn_string": "jdbc:mysql://app:s3cret@db:3306/shop"}
    )
    assert json.loads(json.dumps(identity)) == identity
    assert identity == {
        "database": "mysql://db:3306/shop",
        "query": "SELECT id FROM orders",
        "filter_field": "id",
    }
    sqlite = SqlQueryQueueType.source_identity({**IDENTITY, "conn_string": "jdbc:sqlite:/var/a.db"})
    assert sqlite["database"] == "sqlite:////var/a.db"


QUERY_PATTERN = SqlQueryQueueType.schema["properties"]["query"]["pattern"]


@pytest.mark.parametrize(
    ("query", "accepted"),
    [
        ("SELECT id FROM jobs", True),
        ("select\n1", True),
        ("  ((select 1))", True),
        ("-- new jobs\nSELECT 1", True),
        ("/* a */ /* b **/ WITH x AS (SELECT 1) SELECT * FROM x", True),
        ("(\x0b  select 1)", True),
        ("SELECT", True),
        ("/* select */", False),
        ("-- select", False),
        ("/* a */ DROP TABLE jobs", False),
        ("selects 1", False),
        ("select(1)", False),
        ("(\x0b(select 1))", False),
        ("(\xa0", False),
        ("", False),
    ],
)
def test_the_schemas_query_pattern_is_what_validate_checks(query: str, accepted: bool) -> None:
    """The pattern /openapi.json shows for query, and the check validate() makes, agree."""
    assert bool(re.search(QUERY_PATTERN, query)) is accepted
    assert (query_problem(query) is None) is accepted


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=" \t\n(*/-selctwihSELCTWIHx\x0b\xa0", max_size=24))
def test_the_query_pattern_and_validate_agree_on_any_text(query: str) -> None:
    assert bool(re.search(QUERY_PATTERN, query)) == (query_problem(query) is None)
