"""Poll and ack against a real redis-server: order, limits, custody across crashes."""

from __future__ import annotations

import redis

from hippo_core.queuetype import Item
from hippo_redis import processing_list_name


def datas(items: list[Item]) -> list[str]:
    return [item.data for item in items]


def test_items_come_out_in_the_order_producers_lpush_them(make_queue, producer, list_name):
    producer.lpush(list_name, "first", "second", "third")
    queue = make_queue()

    result = queue.poll(10, None)

    assert datas(result.items) == ["first", "second", "third"]
    assert result.cursor is None
    assert [item.receipt for item in result.items] == [b"first", b"second", b"third"]


def test_poll_moves_items_to_the_queues_own_processing_list(make_queue, producer, list_name):
    producer.lpush(list_name, "a", "b")
    queue = make_queue()

    queue.poll(10, None)

    assert producer.llen(list_name) == 0
    assert queue.processing_name == processing_list_name(list_name, queue.queue_id)
    assert queue.processing_name == f"{list_name}:hippo-processing:{queue.queue_id}"
    assert sorted(producer.lrange(queue.processing_name, 0, -1)) == [b"a", b"b"]


def test_ack_empties_the_processing_list_and_nothing_comes_back(make_queue, producer, list_name):
    producer.lpush(list_name, "a", "b")
    queue = make_queue()

    queue.ack(queue.poll(10, None).items)

    assert producer.exists(queue.processing_name) == 0
    assert queue.poll(10, None).items == []


def test_limit_takes_the_oldest_and_leaves_the_rest_in_the_list(make_queue, producer, list_name):
    producer.lpush(list_name, *[f"job-{n}" for n in range(5)])
    queue = make_queue()

    first = queue.poll(2, None)
    queue.ack(first.items)
    second = queue.poll(2, None)

    assert datas(first.items) == ["job-0", "job-1"]
    assert datas(second.items) == ["job-2", "job-3"]
    assert producer.lrange(list_name, 0, -1) == [b"job-4"]


def test_ack_removes_only_the_acknowledged_items(make_queue, producer, list_name):
    producer.lpush(list_name, "a", "b", "c")
    queue = make_queue()

    taken = queue.poll(2, None).items
    queue.ack(taken[:1])
    again = queue.poll(2, None)

    assert datas(taken) == ["a", "b"]
    assert datas(again.items) == ["b", "c"], "b was never acknowledged, so it comes back first"


def test_a_crash_between_poll_and_ack_redelivers_on_the_next_poll(make_queue, producer, list_name):
    producer.lpush(list_name, "a", "b", "c")
    crashed = make_queue()
    taken = crashed.poll(2, None).items
    crashed.close()  # the worker dies here: no ack
    producer.lpush(list_name, "d")

    restarted = make_queue()  # same queue id, fresh instance
    redelivered = restarted.poll(10, None)
    restarted.ack(redelivered.items)

    assert datas(taken) == ["a", "b"]
    assert datas(redelivered.items) == ["a", "b", "c", "d"]
    assert producer.exists(restarted.processing_name, list_name) == 0


def test_redelivery_respects_the_limit(make_queue, producer, list_name):
    producer.lpush(list_name, "a", "b", "c")
    crashed = make_queue()
    crashed.poll(3, None)

    restarted = make_queue()
    first = restarted.poll(2, None)

    assert datas(first.items) == ["a", "b"]
    assert producer.llen(restarted.processing_name) == 3


def test_equal_elements_are_acknowledged_one_each(make_queue, producer, list_name):
    producer.lpush(list_name, "same", "same")
    queue = make_queue()

    one = queue.poll(1, None).items
    queue.ack(one)

    assert datas(one) == ["same"]
    assert producer.lrange(list_name, 0, -1) == [b"same"]
    assert producer.exists(queue.processing_name) == 0


def test_two_queues_on_one_list_share_its_items(make_queue, producer, list_name):
    producer.lpush(list_name, "a", "b", "c", "d")
    left, right = make_queue("queue-left"), make_queue("queue-right")

    from_left = left.poll(2, None).items
    from_right = right.poll(10, None).items
    left.ack(from_left)

    assert datas(from_left) == ["a", "b"]
    assert datas(from_right) == ["c", "d"]
    assert producer.llen(right.processing_name) == 2, "right's items stay until right acks"


def test_an_empty_or_missing_list_yields_nothing(make_queue):
    assert make_queue().poll(5, None).items == []


def test_bytes_that_are_not_utf8_are_replaced_in_data_but_kept_in_the_receipt(
    make_queue, producer, list_name
):
    producer.lpush(list_name, b"caf\xe9")
    queue = make_queue()

    (item,) = queue.poll(1, None).items
    queue.ack([item])

    assert item.data == "caf\ufffd"
    assert item.receipt == b"caf\xe9"
    assert producer.exists(queue.processing_name) == 0


def test_items_pushed_on_another_database_are_not_seen(make_queue, redis_server, list_name):
    other_db = redis.Redis(port=redis_server.port, db=6)
    try:
        other_db.lpush(list_name, "elsewhere")
        assert make_queue().poll(5, None).items == []
    finally:
        other_db.delete(list_name)
        other_db.close()
