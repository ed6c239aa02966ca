"""Schema, validate(), conn_string translation and registration of the sqlquery queue type."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest
from hippo_sqlquery import SqlQueryQueueType
from hippo_sqlquery.urls import engine_url, translate
from jsonschema import Draft202012Validator

from hippo_core.errors import ValidationFailed
from hippo_core.validation import validate as validate_schema

REQUIRED = {
    "conn_string": "postgresql+psycopg://app:s3cret@db:5432/shop",
    "query": "SELECT id FROM orders",
    "filter_field": "id",
}
DEFAULTS = {**REQUIRED, "filter_val": "", "connect_timeout": 10}


def test_registered_under_the_name_sqlquery():
    (entry,) = entry_points(group="hippo.queuetypes", name="sqlquery")
    assert entry.load() is SqlQueryQueueType
    assert SqlQueryQueueType.name == "sqlquery"


def test_schema_is_valid_and_masks_the_url_password():
    schema = SqlQueryQueueType.schema
    Draft202012Validator.check_schema(schema)
    assert schema["properties"]["conn_string"]["x-hippo-secret"] == "url-password"
    optional = set(schema["properties"]) - set(schema["required"])
    assert all("default" in schema["properties"][name] for name in optional)
    assert all("description" in prop for prop in schema["properties"].values())


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        # the three required settings; filter_val starts from the beginning
        (REQUIRED, DEFAULTS),
        # a numeric filter_val keeps its JSON type
        ({**REQUIRED, "filter_val": 100}, {**DEFAULTS, "filter_val": 100}),
        ({**REQUIRED, "filter_val": "2024-05-01"}, {**DEFAULTS, "filter_val": "2024-05-01"}),
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
        ({"conn_string": "postgresql://app:s3cret@db:port/shop"}, "$.conn_string",
         "not a database URL"),
        ({"conn_string": "nosuchdb://app:s3cret@db/shop"}, "$.conn_string",
         "unknown database kind"),
        ({"conn_string": "mssql+pyodbc://app:s3cret@db/shop"}, "$.conn_string",
         "not installed"),
        ({"conn_string": "jdbc:oracle:thin:app/s3cret@db:1521:shop"}, "$.conn_string",
         "unsupported JDBC URL (jdbc:oracle)"),
        ({"conn_string": "jdbc:mysql://db:3306/shop?user=app&password=s3cret"}, "$.conn_string",
         "JDBC options"),
        ({"conn_string": "postgresql://db/shop?user=app&password=s3cret"}, "$.conn_string",
         "put the password before the host"),
        ({"conn_string": "sqlite://"}, "$.conn_string", "in-memory SQLite"),
        ({"conn_string": "jdbc:sqlite::memory:"}, "$.conn_string", "in-memory SQLite"),
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
