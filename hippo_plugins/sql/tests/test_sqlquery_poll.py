"""Polling real PostgreSQL, MariaDB and SQLite databases: order, cursor, limits, runs, data."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from hippo_core.queuetype import QueueTypeError

# Microseconds everywhere: MariaDB's DATETIME drops them unless asked.
TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
TIMESTAMP_TZ = sa.DateTime(timezone=True)


def ids(result) -> list[int]:
    return [json.loads(item.data)["id"] for item in result.items]


@pytest.fixture
def numbered(source):
    """A table with ids 1-5 and a query over it."""
    table = source.table(sa.Column("id", sa.Integer), sa.Column("name", sa.String(40)))
    source.insert(table, [{"id": n, "name": f"row {n}"} for n in (3, 1, 5, 2, 4)])
    return table, f"SELECT id, name FROM {table.name}"


def test_rows_come_in_filter_order_with_an_integer_cursor(source, numbered, make_queue):
    _, query = numbered
    queue = make_queue(source.url, query, "id")

    result = queue.poll(10, None)

    assert ids(result) == [1, 2, 3, 4, 5]
    assert result.cursor == 5
    assert json.loads(result.items[0].data) == {"id": 1, "name": "row 1"}


def test_a_new_instance_resumes_after_the_cursor(source, numbered, make_queue):
    table, query = numbered
    cursor = make_queue(source.url, query, "id").poll(10, None).cursor
    source.insert(table, [{"id": 6, "name": "row 6"}])

    restarted = make_queue(source.url, query, "id")
    first = restarted.poll(10, cursor)
    second = restarted.poll(10, first.cursor)

    assert ids(first) == [6] and first.cursor == 6
    assert second.items == [] and second.cursor == 6, "nothing new keeps the cursor"


@pytest.mark.parametrize(
    ("filter_val", "expected"),
    [
        ("", [1, 2, 3, 4, 5]),  # empty: from the beginning
        (3, [4, 5]),  # a number
        ("3", [4, 5]),  # the seed's style: a number written as text
    ],
)
def test_filter_val_is_where_a_new_queue_starts(source, numbered, make_queue, filter_val, expected):
    _, query = numbered
    queue = make_queue(source.url, query, "id", filter_val=filter_val)

    result = queue.poll(10, queue.initial_cursor(queue.settings))

    assert ids(result) == expected


def test_the_limit_takes_the_first_rows_and_the_cursor_follows(source, numbered, make_queue):
    _, query = numbered
    queue = make_queue(source.url, query, "id")

    first = queue.poll(2, None)
    second = queue.poll(2, first.cursor)

    assert (ids(first), first.cursor) == ([1, 2], 2)
    assert (ids(second), second.cursor) == ([3, 4], 4)


@pytest.mark.parametrize(
    ("values", "limit", "polls"),
    [
        # the limit would cut the run of 2s: it waits whole for the next poll,
        # where it alone exceeds the limit and is taken whole
        ([1, 2, 2, 2, 3], 2, [[1], [2, 2, 2], [3]]),
        ([1, 2, 2, 2, 3], 3, [[1], [2, 2, 2], [3]]),
        # the limit ends exactly at the end of a run: nothing is held back
        ([1, 2, 2, 3], 3, [[1, 2, 2], [3]]),
        # one run is everything
        ([7, 7, 7], 1, [[7, 7, 7], []]),
    ],
)
def test_a_limit_never_splits_rows_sharing_a_filter_value(source, make_queue, values, limit, polls):
    table = source.table(sa.Column("id", sa.Integer), sa.Column("k", sa.Integer))
    source.insert(table, [{"id": n, "k": value} for n, value in enumerate(values)])
    queue = make_queue(source.url, f"SELECT id, k FROM {table.name}", "k")

    cursor, seen = None, []
    for _ in polls:
        result = queue.poll(limit, cursor)
        seen.append(sorted(json.loads(item.data)["k"] for item in result.items))
        cursor = result.cursor

    assert seen == polls


def test_timestamp_filter_with_microseconds_and_ties(source, make_queue):
    start = datetime(2024, 5, 1, 10, 0, 0, 250000)
    table = source.table(sa.Column("id", sa.Integer), sa.Column("created", TIMESTAMP))
    source.insert(
        table,
        [
            {"id": 1, "created": start},
            {"id": 2, "created": start + timedelta(microseconds=1)},
            {"id": 3, "created": start + timedelta(microseconds=1)},
            {"id": 4, "created": start + timedelta(seconds=1)},
        ],
    )
    queue = make_queue(source.url, f"SELECT id, created FROM {table.name}", "created")

    first = queue.poll(2, None)
    second = queue.poll(2, first.cursor)
    restarted = make_queue(source.url, f"SELECT id, created FROM {table.name}", "created")
    third = restarted.poll(2, second.cursor)

    assert ids(first) == [1]
    assert sorted(ids(second)) == [2, 3]
    assert ids(third) == [4]
    assert isinstance(second.cursor, str)
    assert datetime.fromisoformat(second.cursor) == start + timedelta(microseconds=1)


def test_a_timestamp_filter_val_written_by_hand(source, make_queue):
    table = source.table(sa.Column("id", sa.Integer), sa.Column("created", TIMESTAMP))
    source.insert(
        table, [{"id": n, "created": datetime(2024, 5, day, 8, 30)} for n, day in ((1, 1), (2, 2), (3, 3))]
    )
    queue = make_queue(source.url, f"SELECT * FROM {table.name}", "created", filter_val="2024-05-02 00:00:00")

    assert ids(queue.poll(10, queue.initial_cursor(queue.settings))) == [2, 3]


def test_rows_without_a_filter_value_are_never_taken(source, make_queue):
    table = source.table(sa.Column("id", sa.Integer))
    source.insert(table, [{"id": None}, {"id": 1}])
    queue = make_queue(source.url, f"SELECT id FROM {table.name}", "id")

    first = queue.poll(10, None)

    assert ids(first) == [1]
    assert queue.poll(10, first.cursor).items == []


def test_data_renders_decimals_dates_nulls_and_text(source, make_queue):
    table = source.table(
        sa.Column("id", sa.Integer),
        sa.Column("amount", sa.Numeric(10, 2)),
        sa.Column("created", TIMESTAMP),
        sa.Column("day", sa.Date),
        sa.Column("note", sa.String(40)),
    )
    source.insert(
        table,
        [
            {
                "id": 1,
                "amount": Decimal("12.50"),
                "created": datetime(2024, 5, 1, 10, 0, 0, 250000),
                "day": date(2024, 5, 1),
                "note": None,
            },
            {"id": 2, "amount": None, "created": None, "day": None, "note": 'grüße, "quoted"'},
        ],
    )
    queue = make_queue(source.url, f"SELECT * FROM {table.name}", "id")

    first, second = (item.data for item in queue.poll(10, None).items)

    if source.kind == "sqlite":
        # SQLite keeps no exact decimals and stores times as the text SQLAlchemy wrote
        expected_amount, expected_created = 12.5, "2024-05-01 10:00:00.250000"
    else:
        expected_amount, expected_created = "12.50", "2024-05-01T10:00:00.250000"
    assert json.loads(first) == {
        "id": 1,
        "amount": expected_amount,
        "created": expected_created,
        "day": "2024-05-01",
        "note": None,
    }
    assert list(json.loads(first)) == ["id", "amount", "created", "day", "note"]
    assert json.loads(second)["note"] == 'grüße, "quoted"'
    assert "grüße" in second, "text is kept as UTF-8, not \\u-escaped"


def test_queries_keep_colons_percents_and_trailing_comments(source, make_queue):
    table = source.table(sa.Column("id", sa.Integer))
    source.insert(table, [{"id": 1}])
    query = (
        f"SELECT id, '10:30' AS at, 'a%b' AS pct FROM {table.name} "
        f"WHERE '100%' LIKE '100%%' OR 1 = 1 -- a trailing comment;\n ;"
    )
    queue = make_queue(source.url, query, "id")

    (item,) = queue.poll(10, None).items

    assert json.loads(item.data) == {"id": 1, "at": "10:30", "pct": "a%b"}


def test_postgresql_casts_and_time_zones(make_source, make_queue):
    source = make_source("postgresql")
    table = source.table(sa.Column("id", sa.Integer), sa.Column("at", TIMESTAMP_TZ))
    source.insert(
        table,
        [
            {"id": 1, "at": datetime(2024, 5, 1, 10, 0, tzinfo=UTC)},
            {"id": 2, "at": datetime(2024, 5, 1, 11, 0, tzinfo=UTC)},
        ],
    )
    query = f"SELECT id, at, id::text AS label FROM {table.name}"
    queue = make_queue(source.url, query, "at")

    first = queue.poll(1, None)
    second = queue.poll(1, first.cursor)

    assert datetime.fromisoformat(first.cursor) == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    assert json.loads(first.items[0].data)["label"] == "1"
    assert ids(second) == [2]


def test_a_missing_filter_column_names_the_columns_there_are(source, numbered, make_queue):
    _, query = numbered
    queue = make_queue(source.url, query, "created")

    with pytest.raises(QueueTypeError, match="created") as caught:
        queue.poll(10, None)

    assert not queue.is_transient(caught.value)


def test_a_cursor_is_bound_never_spliced_into_the_sql(source, numbered, make_queue):
    table, query = numbered
    queue = make_queue(source.url, query, "id")

    # PostgreSQL refuses the text as an integer (QueueTypeError); that is an answer too
    with contextlib.suppress(QueueTypeError):
        queue.poll(10, f"0; DROP TABLE {table.name}; --")

    assert source.has_table(table)
