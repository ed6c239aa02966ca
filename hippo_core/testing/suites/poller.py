"""The poller suite: Hippo's Poller driving a queue type against its real source.

A plugin's tests subclass :class:`PollerSuite` and give it a fixture ``queue_source``
returning their :class:`~hippo_core.testing.suites.source.QueueSource`::

    class TestRedisPoller(PollerSuite):
        @pytest.fixture
        def queue_source(self, producer, list_name, settings):
            return RedisListSource(producer, list_name, settings)

Queues are created through QueueService (settings validated, defaults filled) with the
registry of the ``hippo_queuetypes`` fixture, and polled by Pollers of the
``hippo_pollers`` fixture into a Store on the test's Redis, exactly as the worker does.
What every queue type must then do: items become tasks carrying them in ``HIPPO_DATA``;
batches; a restarted worker carries on; a crash between storing and acknowledging runs
only the items in flight again (or nothing, for cursor sources); a disabled queue leaves
its source alone; backpressure; failures of the source marked and backed off.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any, ClassVar

import pytest

from hippo_core import secrets
from hippo_core.launch import task_environment
from hippo_core.poller import BACKOFF_JITTER, Poller
from hippo_core.queues import QueueService
from hippo_core.queuetype import QueueTypeError
from hippo_core.records import Document, settings_of
from hippo_core.store import Store
from hippo_core.testing.polling import data_of, finish, poll_now, state_of, stored_queue, tasks_of
from hippo_core.testing.suites.source import QueueSource, SourceFailure

DEFINITION: Document = {
    "cmd": 'process "$HIPPO_DATA"',
    "container": {"docker": {"image": "example/worker:1.0"}},
    "env": {"STAGE": "suite"},
    "cpus": 0.5,
    "mem": 128,
}
# How long a crashed poll's items may take to come back (SQS: their visibility timeout).
REDELIVERY_SECONDS = 30.0
FREQUENCY_SECONDS = 60

Pollers = Callable[..., Poller]
Create = Callable[..., str]


class PollerSuite:
    """Tests of the Poller on every queue type.

    Provide the fixture ``queue_source`` and list the ways the source fails in ``failures``
    (at least one: every source can fail somehow, if only on a cursor it did not write).
    """

    failures: ClassVar[tuple[SourceFailure, ...]] = ()
    batch_separator: ClassVar[str] = ";"

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "source_failure" in metafunc.fixturenames:
            if not self.failures:
                raise TypeError(f"{type(self).__name__} lists no failures of its source")
            ids = [failure.id for failure in self.failures]
            metafunc.parametrize("source_failure", self.failures, ids=ids)

    # -- helpers --------------------------------------------------------------------------

    @pytest.fixture
    def create(
        self,
        hippo_queues: QueueService,
        hippo_pollers: Callable[..., Poller],
        hippo_store: Store,
        queue_source: QueueSource,
    ) -> Create:
        """``create(settings={...overrides}, **queue_block)``: a queue on the source; its id."""

        def make(settings: dict[str, Any] | None = None, **block: Any) -> str:
            name = queue_source.queue_type.name
            block = {"type": name, "name": f"suite {name}", **block}
            block[name] = {**queue_source.settings(), **(settings or {})}
            queue_id: str = hippo_queues.create({**DEFINITION, "queue": block})["id"]
            queue_source.started(lambda: poll_now(hippo_pollers(), hippo_store, queue_id))
            return queue_id

        return make

    @staticmethod
    def assert_taken_in_order(source: QueueSource, taken: list[str], added: list[str]) -> None:
        """``taken`` (sorted task data) are the first of ``added``, or any of them if unordered."""
        if source.ordered:
            assert taken == sorted(added[: len(taken)])
        else:
            assert len(set(taken)) == len(taken) and set(taken) <= set(added)

    # -- custody: items become tasks ------------------------------------------------------

    def test_items_become_tasks_of_the_queue(
        self, hippo_pollers: Pollers, hippo_store: Store, create: Create, queue_source: QueueSource
    ) -> None:
        queue_id = create()
        items = queue_source.add(3)

        poll_now(hippo_pollers(), hippo_store, queue_id)

        tasks = tasks_of(hippo_store, queue_id)
        assert sorted(task_environment(task)["HIPPO_DATA"] for task in tasks) == sorted(items)
        for task in tasks:
            assert (task["id"], task["queue_id"], task["state"]) == (queue_id, queue_id, "PENDING")
            assert task["cmd"] == DEFINITION["cmd"]
            assert task["container"]["docker"]["image"] == DEFINITION["container"]["docker"]["image"]
            assert task_environment(task)["STAGE"] == "suite"
            assert (task["cpus"], task["mem"]) == (DEFINITION["cpus"], DEFINITION["mem"])
        cursor = state_of(hippo_store, queue_id)["cursor"]
        if queue_source.custody == "ack":
            assert queue_source.remaining() == 0, "acknowledged items are gone from the source"
            assert cursor is None
        else:
            assert cursor is not None, "the cursor moved past the items"

    def test_seven_items_in_batches_of_three_make_three_tasks(
        self, hippo_pollers: Pollers, hippo_store: Store, create: Create, queue_source: QueueSource
    ) -> None:
        separator = self.batch_separator
        queue_id = create(batch_size=3, batch_separator=separator)
        items = queue_source.add(7)

        poll_now(hippo_pollers(), hippo_store, queue_id)

        batches = [data.split(separator) for data in data_of(hippo_store, queue_id)]
        assert sorted(len(batch) for batch in batches) == [1, 3, 3]
        assert sorted(item for batch in batches for item in batch) == sorted(items)
        if queue_source.ordered:
            expected = [separator.join(items[0:3]), separator.join(items[3:6]), items[6]]
            assert data_of(hippo_store, queue_id) == sorted(expected), "batches of the oldest first"

    def test_a_new_poller_carries_on_where_the_last_one_stopped(
        self, hippo_pollers: Pollers, hippo_store: Store, create: Create, queue_source: QueueSource
    ) -> None:
        queue_id = create()
        before = queue_source.add(3)
        first = hippo_pollers()
        poll_now(first, hippo_store, queue_id)
        first.stop()  # a worker restart: the queue-type instance and its clients are gone
        after = queue_source.add(2)

        poll_now(hippo_pollers(), hippo_store, queue_id)

        assert Counter(data_of(hippo_store, queue_id)) == Counter(before + after), "each item once"

    def test_a_crash_before_the_ack_runs_only_the_items_in_flight_again(
        self, hippo_pollers: Pollers, hippo_store: Store, create: Create, queue_source: QueueSource
    ) -> None:
        queue_id = create(settings=queue_source.redelivery_settings)
        items = queue_source.add(4)
        crashed = hippo_pollers()
        in_flight = {task["data"] for task in crashed.take(*stored_queue(hippo_store, queue_id)).tasks}
        del crashed  # the worker died after storing the tasks, before acknowledging the items
        assert in_flight == set(items)
        more = queue_source.add(2)

        poller = hippo_pollers()
        poll_now(poller, hippo_store, queue_id)
        if queue_source.custody == "ack":
            deadline = time.monotonic() + REDELIVERY_SECONDS
            while Counter(data_of(hippo_store, queue_id)) != Counter(items * 2 + more):
                assert time.monotonic() < deadline, f"in flight, never back: {data_of(hippo_store, queue_id)}"
                time.sleep(0.2)
                poll_now(poller, hippo_store, queue_id)
            assert queue_source.remaining() == 0
        else:
            # The cursor was stored with the tasks: custody was taken, nothing runs twice.
            assert Counter(data_of(hippo_store, queue_id)) == Counter(items + more)

    def test_a_disabled_queue_leaves_its_source_alone_until_enabled(
        self,
        hippo_pollers: Pollers,
        hippo_store: Store,
        hippo_queues: QueueService,
        create: Create,
        queue_source: QueueSource,
    ) -> None:
        queue_id = create(frequency_seconds=0)
        first = queue_source.add(2)
        poller = hippo_pollers()
        poll_now(poller, hippo_store, queue_id)
        hippo_queues.toggle(queue_id)
        state = state_of(hippo_store, queue_id)
        second = queue_source.add(2)

        assert poller.due_queues() == []
        assert state_of(hippo_store, queue_id) == state
        if queue_source.custody == "ack":
            assert queue_source.remaining() == 2

        hippo_queues.toggle(queue_id)
        [(queue, due_state)] = poller.due_queues()
        poller.poll(queue, due_state)
        assert data_of(hippo_store, queue_id) == sorted(first + second)
        if queue_source.custody == "ack":
            assert queue_source.remaining() == 0

    def test_backpressure_takes_no_more_than_the_free_slots(
        self, hippo_pollers: Pollers, hippo_store: Store, create: Create, queue_source: QueueSource
    ) -> None:
        queue_id = create(max_concurrent=5)
        items = queue_source.add(queue_source.deep)
        poller = hippo_pollers()

        poll_now(poller, hippo_store, queue_id)
        poll_now(poller, hippo_store, queue_id)  # the five slots are still taken: nothing more

        self.assert_taken_in_order(queue_source, data_of(hippo_store, queue_id), items)
        assert len(tasks_of(hippo_store, queue_id)) == 5
        if queue_source.custody == "ack":
            assert queue_source.remaining() == queue_source.deep - 5, "more was taken than can run"
        finish(hippo_store, tasks_of(hippo_store, queue_id))
        poll_now(poller, hippo_store, queue_id)
        self.assert_taken_in_order(queue_source, data_of(hippo_store, queue_id), items)
        assert len(tasks_of(hippo_store, queue_id)) == 10, "the rest was not left behind"

    # -- failures -------------------------------------------------------------------------

    def test_a_failing_source_marks_the_queue_and_backs_off(
        self,
        hippo_pollers: Pollers,
        hippo_store: Store,
        create: Create,
        queue_source: QueueSource,
        source_failure: SourceFailure,
    ) -> None:
        settings = source_failure.arrange(queue_source)
        queue_id = create(settings=settings, frequency_seconds=FREQUENCY_SECONDS)
        if source_failure.cursor is not None:
            poll_now(hippo_pollers(), hippo_store, queue_id)  # the cursor then belongs to this source
            hippo_store.set_queue_state(
                queue_id, {**state_of(hippo_store, queue_id), "cursor": source_failure.cursor}
            )
        cursor = state_of(hippo_store, queue_id).get("cursor")

        poll_now(hippo_pollers(), hippo_store, queue_id)  # does not raise

        state = state_of(hippo_store, queue_id)
        queue_type = queue_source.queue_type
        kind = queue_type.transient_error if source_failure.transient else QueueTypeError
        error = state["last_error"]
        assert error is not None and error.startswith(f"poll failed: {kind.__name__}: ")
        assert source_failure.says in error
        stored = settings_of(hippo_store.get_queue(queue_id))
        for secret in secrets.secret_values(queue_type.schema, stored):
            assert secret not in error
        wait = state["next_run_tstamp"] - state["last_run_tstamp"]
        backoff = 1 if source_failure.transient else FREQUENCY_SECONDS
        assert backoff * (1 - BACKOFF_JITTER) <= wait <= backoff
        assert state["consecutive_errors"] == 1
        assert state.get("cursor") == cursor, "a failed poll moved the cursor"
        assert tasks_of(hippo_store, queue_id) == []
