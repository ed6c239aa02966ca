"""Polling and acking an SQS queue on moto_server: limits, custody, re-delivery."""

from __future__ import annotations

import itertools
import time

import pytest
from botocore.exceptions import EndpointConnectionError

from hippo_core.queuetype import Item, QueueTypeError
from hippo_sqs import SqsTransientError


def poll_until(queue, predicate, timeout: float = 30.0):
    """Poll (a fresh result each time) until ``predicate(items)`` holds or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        items = queue.poll(10, None).items
        if predicate(items) or time.monotonic() > deadline:
            return items
        time.sleep(0.1)


def test_item_is_the_body_and_receipt_the_handle(make_queue, send, counts):
    send(['{"image": "cat.png"}'])
    result = make_queue().poll(5, None)
    assert [item.data for item in result.items] == ['{"image": "cat.png"}']
    assert isinstance(result.items[0].receipt, str) and result.items[0].receipt
    assert result.cursor is None
    # Polled but not acked: hidden, not deleted.
    assert counts() == (0, 1)


@pytest.mark.parametrize(
    ("waiting", "limit", "expected"),
    [
        pytest.param(0, 5, 0, id="empty queue gives nothing"),
        pytest.param(3, 1, 1, id="limit 1 takes one of several"),
        pytest.param(3, 10, 3, id="fewer than limit: all of them"),
        pytest.param(25, 25, 25, id="limit above 10 spans receive batches"),
        pytest.param(25, 13, 13, id="limit cuts the second batch"),
        pytest.param(12, 100, 12, id="queue drained before limit"),
    ],
)
def test_poll_takes_at_most_limit(make_queue, send, counts, waiting, limit, expected):
    bodies = [f"m{i}" for i in range(waiting)]
    send(bodies)
    items = make_queue().poll(limit, None).items
    assert len(items) == expected
    assert len({item.data for item in items}) == expected
    assert {item.data for item in items} <= set(bodies)
    assert counts() == (waiting - expected, expected)


def test_long_poll_on_an_empty_queue_returns_nothing(make_queue):
    assert make_queue(wait_time_seconds=1).poll(10, None).items == []


def test_long_poll_receives_waiting_messages(make_queue, send):
    send(["a", "b"])
    items = make_queue(wait_time_seconds=2).poll(10, None).items
    assert sorted(item.data for item in items) == ["a", "b"]


def test_messages_in_custody_are_not_polled_again(make_queue, send):
    send(["a", "b", "c"])
    assert len(make_queue().poll(10, None).items) == 3
    # Another instance (e.g. a restarted worker) does not see them while they are hidden.
    assert make_queue().poll(10, None).items == []


def test_ack_deletes_exactly_the_acked_items(make_queue, send, counts):
    send([f"m{i}" for i in range(5)])
    queue = make_queue()
    items = queue.poll(5, None).items
    queue.ack(items[:2])
    # The three not acked are still on the queue (in flight), never deleted.
    assert counts() == (0, 3)


def test_ack_of_more_than_ten_deletes_them_all(make_queue, send, counts):
    send([f"m{i}" for i in range(23)])
    queue = make_queue()
    items = queue.poll(23, None).items
    assert len(items) == 23
    queue.ack(items)
    assert counts() == (0, 0)


def test_ack_of_nothing_is_a_no_op(make_queue, send, counts):
    send(["a"])
    make_queue().ack([])
    assert counts() == (1, 0)


def test_crash_between_poll_and_ack_redelivers(make_queue, send, counts):
    send(["precious"])
    first = make_queue(visibility_timeout=1)
    taken = first.poll(10, None).items
    assert [item.data for item in taken] == ["precious"]
    first.close()  # the worker dies before ack

    restarted = make_queue(visibility_timeout=1)
    again = poll_until(restarted, lambda items: bool(items))
    assert [item.data for item in again] == ["precious"]
    assert again[0].receipt != taken[0].receipt
    restarted.ack(again)
    assert counts() == (0, 0)


def test_failed_delete_is_raised_and_names_the_item(make_queue, send, counts):
    send(["a", "b"])
    queue = make_queue()
    good, other = queue.poll(10, None).items
    with pytest.raises(QueueTypeError) as raised:
        queue.ack([good, Item(data=other.data, receipt="not-a-receipt-handle")])
    message = str(raised.value)
    assert "item 1" in message and "ReceiptHandleIsInvalid" in message
    assert "1 of 2" in message and "queue" in message
    assert not queue.is_transient(raised.value)
    # The valid entry of the same batch was deleted; the other one is still in flight.
    assert counts() == (0, 1)


def test_ack_refuses_an_item_without_a_receipt_and_deletes_nothing(make_queue, send, counts):
    send([f"m{i}" for i in range(12)])
    queue = make_queue()
    items = queue.poll(12, None).items
    with pytest.raises(QueueTypeError, match="item 12 carries no SQS receipt handle"):
        queue.ack([*items, Item(data="x")])
    assert counts() == (0, 12)


def test_failed_receive_mid_poll_releases_what_it_took(make_queue, send, counts):
    send([f"m{i}" for i in range(15)])
    queue = make_queue()
    real_receive = queue._client.receive_message
    calls = []

    def receive_then_lose_the_network(**kwargs):
        calls.append(kwargs)
        if len(calls) > 1:
            raise EndpointConnectionError(endpoint_url=kwargs["QueueUrl"])
        return real_receive(**kwargs)

    queue._client.receive_message = receive_then_lose_the_network
    with pytest.raises(SqsTransientError):
        queue.poll(15, None)
    # The ten messages of the first receive are visible again at once, not in 300 s.
    assert counts() == (15, 0)


def test_fifo_queue_keeps_order_and_holds_a_group_while_in_custody(sqs, make_queue, queue_name):
    fifo = sqs.create_queue(
        QueueName=f"{queue_name}.fifo",
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
    )["QueueUrl"]
    try:
        for i in range(12):
            sqs.send_message(QueueUrl=fifo, MessageBody=f"m{i}", MessageGroupId="g")
        queue = make_queue(queuename=f"{queue_name}.fifo")
        first = queue.poll(12, None).items
        # SQS hands out no more of a group while some of it is in flight.
        assert [item.data for item in first] == [f"m{i}" for i in range(10)]
        assert queue.poll(12, None).items == []
        queue.ack(first)
        rest = queue.poll(12, None).items
        assert [item.data for item in rest] == ["m10", "m11"]
        queue.ack(rest)
    finally:
        sqs.delete_queue(QueueUrl=fifo)


def test_a_poll_stops_receiving_once_half_the_visibility_timeout_has_passed(make_queue, send, counts):
    send([f"m{i}" for i in range(25)])
    queue = make_queue(visibility_timeout=300)
    # Each reading of the clock is 100 s after the last: the poll begins at 0, and
    # after its second receive (200 s) half of the 300 s visibility timeout is gone.
    queue.clock = itertools.count(0, 100).__next__

    items = queue.poll(100, None).items

    assert len(items) == 20, "two receives of ten, then no more"
    assert counts() == (5, 20), "the rest is left visible for the next poll"


def test_a_poll_outliving_the_visibility_timeout_hands_out_each_message_once(make_queue, send, counts):
    send(["a", "b", "c"])
    queue = make_queue(visibility_timeout=1)
    real_receive = queue._client.receive_message
    newest_receipt: dict[str, str] = {}

    def slow_receive(**kwargs):
        # As over a slow link: every receive takes long, here by waiting on the server
        # (long polling) until hidden messages become visible again.
        answer = real_receive(**{**kwargs, "WaitTimeSeconds": 3})
        for message in answer.get("Messages", []):
            newest_receipt[message["Body"]] = message["ReceiptHandle"]
        return answer

    queue._client.receive_message = slow_receive
    items = queue.poll(100, None).items

    assert sorted(item.data for item in items) == ["a", "b", "c"], "no message twice"
    assert {item.data: item.receipt for item in items} == newest_receipt
    queue.ack(items)
    assert counts() == (0, 0)
