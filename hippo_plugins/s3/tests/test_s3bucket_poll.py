"""Polling a bucket on moto_server: order, limits, pages, restarts, the starting point."""

from __future__ import annotations

import json
import time

import pytest

from hippo_core.queuetype import QueueTypeError


def expected_order(groups) -> list[str]:
    return [key for _, keys in groups for key in sorted(keys)]


def drain(queue, limit, cursor=None):
    """Poll until nothing is new, storing and reloading the cursor between polls as
    Hippo does; returns the keys in the order handed out and the number of polls."""
    keys, polls = [], 0
    while True:
        result = queue.poll(limit, cursor)
        polls += 1
        assert len(result.items) <= limit
        if not result.items:
            assert result.cursor == cursor  # nothing new: the cursor stays put
            return keys, polls
        keys.extend(item.data for item in result.items)
        cursor = json.loads(json.dumps(result.cursor))
        assert polls < 100, "polling never ran dry"


def test_items_are_keys_oldest_first_then_by_key(make_queue, history):
    name, groups = history
    result = make_queue(name).poll(100, None)
    assert [item.data for item in result.items] == expected_order(groups)
    newest, keys = groups[-1]
    assert result.cursor == {
        "last_modified": newest.strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
        "keys": sorted(keys),
    }
    assert all(item.receipt is None for item in result.items)


@pytest.mark.parametrize(
    ("limit", "page_size"),
    [
        pytest.param(100, 1000, id="all at once"),
        pytest.param(1, 1000, id="one by one"),
        pytest.param(4, 1000, id="limit cuts through the first second"),
        pytest.param(6, 1000, id="limit ends exactly at a second"),
        pytest.param(7, 1000, id="limit cuts through the second second"),
        pytest.param(100, 2, id="listing spans pages of 2"),
        pytest.param(3, 2, id="pages of 2 and a limit cutting seconds"),
        pytest.param(5, 1, id="one key per page"),
    ],
)
def test_every_object_exactly_once_across_polls(make_queue, history, s3, limit, page_size):
    name, groups = history
    if page_size < 15:
        # The listing really is split into pages at this size.
        assert s3.list_objects_v2(Bucket=name, MaxKeys=page_size)["IsTruncated"]
    keys, polls = drain(make_queue(name, page_size=page_size), limit)
    assert keys == expected_order(groups)
    assert polls == -(-len(keys) // limit) + 1


def test_a_restarted_queue_goes_on_from_the_stored_cursor(make_queue, history):
    name, groups = history
    before = make_queue(name).poll(8, None)
    stored = json.dumps(before.cursor)  # what Hippo keeps in Redis
    after = make_queue(name)  # a new worker process, knowing only the stored cursor
    keys, _ = drain(after, 100, json.loads(stored))
    assert [item.data for item in before.items] + keys == expected_order(groups)


def test_object_landing_in_the_polled_second_is_not_skipped(make_queue, bucket, put, s3):
    # Needs the later object to share the earlier one's second; rare misses try again.
    for attempt in range(10):
        late, early = f"{attempt}-a-late", f"{attempt}-b-early"
        put(bucket, early)
        queue = make_queue(bucket)
        first = queue.poll(10, queue.initial_cursor(queue.settings))
        assert [item.data for item in first.items][-1] == early
        put(bucket, late)  # sorts before `early`, possibly in the same second
        second = queue.poll(10, first.cursor)
        assert [item.data for item in second.items] == [late]
        stamps = {
            entry["Key"]: entry["LastModified"] for entry in s3.list_objects_v2(Bucket=bucket)["Contents"]
        }
        if stamps[late] == stamps[early]:
            # Objects of earlier attempts may share that second too: the cursor holds them all.
            assert {early, late} <= set(second.cursor["keys"])
            assert second.cursor["keys"] == sorted(second.cursor["keys"])
            return
    pytest.fail("no attempt put two objects within one second")


def test_an_overwritten_object_is_new_again(make_queue, bucket, put, s3):
    put(bucket, "report.csv")
    queue = make_queue(bucket)
    first = queue.poll(10, None)
    assert [item.data for item in first.items] == ["report.csv"]
    stamp = s3.head_object(Bucket=bucket, Key="report.csv")["LastModified"]
    while time.time() < stamp.timestamp() + 1:  # the next write lands in a later second
        time.sleep(0.05)
    put(bucket, "report.csv", body=b"v2")
    assert [item.data for item in queue.poll(10, first.cursor).items] == ["report.csv"]


def test_earliest_unix_tstamp_skips_objects_at_or_before_it(make_queue, history):
    name, groups = history
    (first, _), (second, second_keys), (third, third_keys) = groups
    cases = [
        (None, expected_order(groups), "no starting point: everything"),
        (first.timestamp() - 1, expected_order(groups), "just before the first second"),
        (first.timestamp(), sorted(second_keys) + sorted(third_keys), "at the first second"),
        (second.timestamp() - 0.5, sorted(second_keys) + sorted(third_keys), "inside a gap"),
        (third.timestamp(), [], "at the newest second: nothing"),
    ]
    for earliest, expected, meaning in cases:
        queue = make_queue(name, earliest_unix_tstamp=earliest)
        keys, _ = drain(queue, 100, queue.initial_cursor(queue.settings))
        assert keys == expected, meaning


def test_prefix_limits_the_keys_and_folders_are_not_items(make_queue, bucket, put):
    put(bucket, "incoming/", "incoming/scan-1.tiff", "outgoing/scan-0.tiff", "incomings.txt")
    put(bucket, "incoming/empty.txt", body=b"")
    keys = [item.data for item in make_queue(bucket, prefix="incoming/").poll(10, None).items]
    assert sorted(keys) == ["incoming/empty.txt", "incoming/scan-1.tiff"]


@pytest.mark.parametrize(
    ("settle_seconds", "expected"),
    [
        pytest.param(0, ["fresh.txt"], id="no settling: at once"),
        pytest.param(3600, [], id="a fresh object waits out the settle time"),
    ],
)
def test_settle_seconds_holds_back_fresh_objects(make_queue, bucket, put, settle_seconds, expected):
    put(bucket, "fresh.txt")
    result = make_queue(bucket, settle_seconds=settle_seconds).poll(10, None)
    assert [item.data for item in result.items] == expected
    if not expected:
        assert result.cursor is None  # the cursor does not move past what waits


def test_empty_bucket_gives_nothing_and_keeps_the_cursor(make_queue, bucket):
    result = make_queue(bucket, earliest_unix_tstamp=1_000_000).poll(10, None)
    assert result.items == [] and result.cursor is None


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param({"keys": []}, id="no time"),
        pytest.param({"last_modified": "yesterday", "keys": []}, id="not a time"),
        pytest.param({"last_modified": "2024-05-01T12:00:00", "keys": []}, id="no zone"),
        pytest.param({"last_modified": "2024-05-01T12:00:00Z", "keys": [1]}, id="key not text"),
        pytest.param("2024-05-01T12:00:00Z", id="not an object"),
    ],
)
def test_a_cursor_it_did_not_write_is_refused(make_queue, bucket, cursor):
    queue = make_queue(bucket)
    with pytest.raises(QueueTypeError, match="cursor is unusable") as raised:
        queue.poll(10, cursor)
    assert bucket in str(raised.value)
    assert not queue.is_transient(raised.value)
