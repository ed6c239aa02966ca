"""The poller driving ``cron`` queues, with the queue type's clock moved by the test.

Queues are created through QueueService (settings validated, defaults filled) and
polled by Hippo's Poller into a Store on the test's Redis. The registry holds the cron
queue type with one change: each instance reads the test's clock instead of the
system's (the plugin's ``now`` attribute), so new Pollers and new instances share it.
The cursor is custody here: it is stored with the tasks, so nothing runs twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import falcon.testing
import pytest

from hippo_core.api import create_app
from hippo_core.config import Config
from hippo_core.launch import task_environment
from hippo_core.queues import QueueService
from hippo_core.registry import QueueTypeRegistry
from hippo_core.testing.polling import data_of, finish, poll_now, state_of, stored_queue, tasks_of
from hippo_cron import CronQueueType

START = datetime(2024, 5, 1, 12, 0, 30, tzinfo=UTC)
DEFINITION = {
    "cmd": 'nightly-report --at "$HIPPO_DATA"',
    "container": {"docker": {"image": "example/reports:2"}},
    "env": {"REPORT": "sales"},
}


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class ClockedCron(CronQueueType):
    """The cron queue type reading ``ClockedCron.clock`` (set per test) for now."""

    clock: ClassVar[Clock] = Clock(START)

    def __init__(self, settings: dict[str, Any], queue_id: str) -> None:
        super().__init__(settings, queue_id)
        self.now = ClockedCron.clock


@pytest.fixture
def clock() -> Clock:
    ClockedCron.clock = Clock(START)
    return ClockedCron.clock


@pytest.fixture
def hippo_queuetypes() -> QueueTypeRegistry:
    """In place of the installed queue types: the pollers and QueueService get ClockedCron."""
    return QueueTypeRegistry.of(ClockedCron)


@pytest.fixture
def create(hippo_queues: QueueService, clock: Clock) -> Callable[..., str]:
    """``create(cron={...settings}, **queue_block)``: a cron queue; its id."""

    def make(cron: dict[str, Any] | None = None, **block: Any) -> str:
        body = {
            **DEFINITION,
            "queue": {"type": "cron", "name": "report", "cron": {"maxbacklog": 100, **(cron or {})}, **block},
        }
        return hippo_queues.create(body)["id"]

    return make


def minutes(*values: int, hour: int = 12) -> list[str]:
    return [START.replace(hour=hour, minute=m, second=0).isoformat() for m in values]


def test_cron_times_become_tasks_of_the_queue(hippo_pollers, hippo_store, create, clock):
    queue_id = create()
    poller = hippo_pollers()
    poll_now(poller, hippo_store, queue_id)  # a new queue starts from now: nothing yet
    assert tasks_of(hippo_store, queue_id) == []
    assert state_of(hippo_store, queue_id)["cursor"] == START.isoformat()

    clock.advance(minutes=3)
    poll_now(poller, hippo_store, queue_id)

    tasks = tasks_of(hippo_store, queue_id)
    assert sorted(task_environment(t)["HIPPO_DATA"] for t in tasks) == minutes(1, 2, 3)
    for task in tasks:
        assert (task["id"], task["queue_id"], task["state"]) == (queue_id, queue_id, "PENDING")
        assert task["cmd"] == DEFINITION["cmd"]
        assert task["container"]["docker"]["image"] == "example/reports:2"
        assert task_environment(task)["REPORT"] == "sales"
    assert state_of(hippo_store, queue_id)["cursor"] == minutes(3)[0]


def test_seven_cron_times_in_batches_of_three_make_three_tasks(hippo_pollers, hippo_store, create, clock):
    queue_id = create(batch_size=3, batch_separator=" ")
    poller = hippo_pollers()
    poll_now(poller, hippo_store, queue_id)
    clock.advance(minutes=7)

    poll_now(poller, hippo_store, queue_id)

    t = minutes(*range(1, 8))
    assert data_of(hippo_store, queue_id) == sorted([" ".join(t[0:3]), " ".join(t[3:6]), t[6]])


def test_a_new_poller_carries_on_from_the_stored_cursor(hippo_pollers, hippo_store, create, clock):
    queue_id = create()
    first = hippo_pollers()
    poll_now(first, hippo_store, queue_id)
    clock.advance(minutes=2)
    poll_now(first, hippo_store, queue_id)
    first.stop()  # a worker restart: the plugin instance is gone
    clock.advance(minutes=2)

    poll_now(hippo_pollers(), hippo_store, queue_id)

    assert data_of(hippo_store, queue_id) == minutes(1, 2, 3, 4)


def test_a_crash_before_the_ack_runs_nothing_twice(hippo_pollers, hippo_store, create, clock):
    queue_id = create()
    poll_now(hippo_pollers(), hippo_store, queue_id)
    clock.advance(minutes=3)
    crashed = hippo_pollers()
    crashed.take(*stored_queue(hippo_store, queue_id))  # ... and no ack()
    del crashed
    clock.advance(minutes=1)

    poll_now(hippo_pollers(), hippo_store, queue_id)

    assert Counter(data_of(hippo_store, queue_id)) == Counter(minutes(1, 2, 3, 4))


def test_a_disabled_queue_misses_nothing_once_enabled(
    hippo_pollers, hippo_store, hippo_queues, create, clock
):
    queue_id = create(frequency_seconds=0)
    poller = hippo_pollers()
    poll_now(poller, hippo_store, queue_id)
    hippo_queues.toggle(queue_id)
    clock.advance(minutes=5)

    assert poller.due_queues() == []
    assert state_of(hippo_store, queue_id)["cursor"] == START.isoformat()

    hippo_queues.toggle(queue_id)
    [(queue, state)] = poller.due_queues()
    poller.poll(queue, state)
    assert data_of(hippo_store, queue_id) == minutes(1, 2, 3, 4, 5)


def test_backpressure_takes_five_of_ten_thousand_cron_times(hippo_pollers, hippo_store, create, clock):
    queue_id = create(cron={"cronstring": "* * * * * *", "maxbacklog": 10_000}, max_concurrent=5)
    poller = hippo_pollers()
    poll_now(poller, hippo_store, queue_id)
    clock.advance(seconds=10_000)  # ten thousand cron times are due

    poll_now(poller, hippo_store, queue_id)
    poll_now(poller, hippo_store, queue_id)  # the five slots are still taken: nothing more

    seconds = [(START + timedelta(seconds=n)).isoformat() for n in range(1, 11)]
    assert data_of(hippo_store, queue_id) == seconds[:5]
    assert state_of(hippo_store, queue_id)["cursor"] == seconds[4]

    finish(hippo_store, tasks_of(hippo_store, queue_id))
    poll_now(poller, hippo_store, queue_id)
    assert data_of(hippo_store, queue_id) == seconds, "the rest was not left where it was"


def test_an_unreadable_cursor_marks_the_queue_and_backs_off(hippo_pollers, hippo_store, create):
    queue_id = create(frequency_seconds=60)
    poller = hippo_pollers()
    poll_now(poller, hippo_store, queue_id)
    # A cursor written by hand (or by another tool) that is not a time; the rest of the
    # state, and so where the cursor belongs, as the poller left it.
    hippo_store.set_queue_state(queue_id, {**state_of(hippo_store, queue_id), "cursor": "yesterday"})

    poll_now(poller, hippo_store, queue_id)  # does not raise

    state = state_of(hippo_store, queue_id)
    assert state["last_error"].startswith("poll failed: QueueTypeError: ")
    assert "'yesterday' is not an ISO 8601 time" in state["last_error"]
    assert state["next_run_tstamp"] - state["last_run_tstamp"] == 60
    assert state["cursor"] == "yesterday"
    assert tasks_of(hippo_store, queue_id) == []


README_BODY = {
    "cmd": 'nightly-report --at "$HIPPO_DATA"',
    "container": {"docker": {"image": "example/reports:2"}},
    "queue": {
        "type": "cron",
        "name": "nightly report",
        "cron": {"cronstring": "30 2 * * *", "timezone": "Europe/Berlin", "maxbacklog": 3},
    },
}


def test_the_readme_example_creates_a_queue(hippo_store):
    client = falcon.testing.TestClient(create_app(Config(), hippo_store, QueueTypeRegistry()))

    resp = client.simulate_post("/queues/", json=README_BODY)

    assert resp.status_code == 201, resp.text
    assert resp.json["queue"]["cron"]["cronstring"] == "30 2 * * *"
