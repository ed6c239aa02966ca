"""query_timeout_seconds against real PostgreSQL, MariaDB and SQLite: a query that would
hang is stopped by the database, fails the poll as transient and frees the poller.

The slow queries would run for tens of seconds (SQLite: count to 10**8), so a limit that
did not work shows as a poll that returns a row instead of failing.
"""

from __future__ import annotations

import pytest

from hippo_core.poller import BACKOFF_JITTER
from hippo_core.testing.polling import poll_now, state_of, tasks_of
from hippo_sqlquery import DatabaseUnavailable

SLOW_QUERIES = {
    "postgresql": "SELECT 1 AS id FROM pg_sleep(60)",
    "mariadb": "SELECT 1 AS id FROM (SELECT SLEEP(60) AS slept) AS slow",
    "sqlite": (
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 100000000) "
        "SELECT max(x) AS id FROM n"
    ),
}
DEFINITION = {
    "cmd": "true",
    "container": {"docker": {"image": "busybox:1.36"}},
}


def test_a_query_past_the_timeout_is_stopped_as_transient(source, make_queue):
    queue = make_queue(source.url, SLOW_QUERIES[source.kind], "id", query_timeout_seconds=1)

    with pytest.raises(DatabaseUnavailable, match=r"longer than query_timeout_seconds \(1 s\)") as caught:
        queue.poll(1, None)

    assert queue.is_transient(caught.value)


def test_a_query_within_the_timeout_runs_and_the_connection_serves_the_next_poll(source, make_queue):
    # The same statements with room to finish: the limits set per poll do not get in the way.
    quick = {
        "postgresql": "SELECT 1 AS id FROM pg_sleep(0.2)",
        "mariadb": "SELECT 1 AS id FROM (SELECT SLEEP(0.2) AS slept) AS slow",
        "sqlite": SLOW_QUERIES["sqlite"].replace("100000000", "1000"),
    }[source.kind]
    queue = make_queue(source.url, quick, "id", query_timeout_seconds=30)

    for _ in range(2):
        assert [item.data for item in queue.poll(5, None).items] == [
            '{"id":1}' if source.kind != "sqlite" else '{"id":1000}'
        ]


def test_the_poller_marks_a_timed_out_queue_and_retries_it_soon(
    make_source, hippo_queues, hippo_pollers, hippo_store
):
    source = make_source("postgresql")
    body = {
        **DEFINITION,
        "queue": {
            "type": "sqlquery",
            "name": "slow",
            "frequency_seconds": 300,
            "sqlquery": {
                "conn_string": source.url,
                "query": SLOW_QUERIES["postgresql"],
                "filter_field": "id",
                "query_timeout_seconds": 1,
            },
        },
    }
    queue_id = hippo_queues.create(body)["id"]

    poll_now(hippo_pollers(), hippo_store, queue_id)

    state = state_of(hippo_store, queue_id)
    assert state["last_error"].startswith("poll failed: DatabaseUnavailable: ")
    assert "query_timeout_seconds" in state["last_error"]
    waited = state["next_run_tstamp"] - state["last_run_tstamp"]
    assert 1 - BACKOFF_JITTER <= waited <= 1, "transient: retried soon"
    assert tasks_of(hippo_store, queue_id) == []
