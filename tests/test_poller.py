"""The poller with the reference memory queue type: when queues are due, custody, batching,
backpressure, errors and backoff, slow sources, deleted queues and the instance cache.

Faults come from ``scripted``, the memory queue type with poll errors, ack errors and a
gate the test holds shut, scripted per list name. Most tests drive the poller by hand
(``take``/``ack``/``poll``/``due_queues`` with a clock they move); the threaded tests
run it with ``start()`` and wait for what it must do.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pytest

from hippo_core.launch import task_environment
from hippo_core.poller import BACKOFF_JITTER, Poller
from hippo_core.queues import QueueService
from hippo_core.queuetype import ErrorRule, Item, PollResult, QueueTypeError
from hippo_core.registry import QueueTypeRegistry
from hippo_core.testing.memory_queue import MemoryQueueType
from hippo_core.testing.polling import data_of, finish, poll_now, state_of, stored_queue, tasks_of

Record = dict[str, Any]
Fault = Callable[[dict[str, Any]], BaseException]

START = 1_700_000_000.0
WAIT_SECONDS = 30.0


@dataclass
class Script:
    """What the ``scripted`` queues reading one list do besides reading it."""

    poll_faults: list[Fault] = field(default_factory=list)  # each poll raises the next one
    always: Fault | None = None  # every poll raises this (after poll_faults are spent)
    ack_faults: list[Fault] = field(default_factory=list)
    gate: threading.Event | None = None  # a poll waits until the test opens it
    entered: threading.Event = field(default_factory=threading.Event)
    polls: int = 0
    acked: list[str] = field(default_factory=list)


class ScriptedQueueType(MemoryQueueType):
    name: ClassVar[str] = "scripted"
    label: ClassVar[str] = "Memory list with scripted faults (tests only)"
    error_rules: ClassVar[tuple[ErrorRule, ...]] = (ErrorRule(ConnectionError, transient=True, message=None),)
    scripts: ClassVar[dict[str, Script]] = {}
    built: ClassVar[list[ScriptedQueueType]] = []

    def __init__(self, settings: dict[str, Any], queue_id: str) -> None:
        super().__init__(settings, queue_id)
        self.closed = False
        ScriptedQueueType.built.append(self)

    @classmethod
    def script(cls, list_name: str) -> Script:
        return cls.scripts.setdefault(list_name, Script())

    @classmethod
    def reset(cls) -> None:
        cls.scripts.clear()
        cls.built.clear()

    def poll(self, limit: int, cursor: Any) -> PollResult:
        script = self.script(self.settings["list"])
        script.polls += 1
        script.entered.set()
        if script.gate is not None and not script.gate.wait(WAIT_SECONDS):
            raise TimeoutError("the test never opened the gate")
        if script.poll_faults:
            raise script.poll_faults.pop(0)(self.settings)
        if script.always is not None:
            raise script.always(self.settings)
        return super().poll(limit, cursor)

    def ack(self, items: list[Item]) -> None:
        script = self.script(self.settings["list"])
        if script.ack_faults:
            raise script.ack_faults.pop(0)(self.settings)
        script.acked.extend(item.data for item in items)

    def close(self) -> None:
        self.closed = True


def leaky(kind: type[BaseException]) -> Fault:
    """A fault whose message quotes both secrets of the queue's settings."""
    return lambda s: kind(f"login with token {s['token']} at {s['url']} refused")


class Clock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def hippo_queuetypes() -> Iterator[QueueTypeRegistry]:
    MemoryQueueType.clear()
    ScriptedQueueType.reset()
    yield QueueTypeRegistry.of(MemoryQueueType, ScriptedQueueType)
    for script in ScriptedQueueType.scripts.values():
        if script.gate is not None:
            script.gate.set()
    MemoryQueueType.clear()
    ScriptedQueueType.reset()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def poller(hippo_pollers: Callable[..., Poller], clock: Clock) -> Poller:
    return hippo_pollers(clock=clock)


@pytest.fixture
def create(hippo_queues: QueueService, queue_body: Callable[..., Record]) -> Callable[..., str]:
    """``create(list, type=..., **queue_block)``: a queue through QueueService; its id."""

    def make(list_name: str, type: str = "memory", **block: Any) -> str:
        body = queue_body(env={"STAGE": "test"}, cpus=0.5, mem=64)
        settings = body["queue"].pop("memory")
        body["queue"].update(type=type, name=f"{type} {list_name}", **block)
        body["queue"][type] = {**settings, "list": list_name}
        return hippo_queues.create(body)["id"]

    return make


def due_ids(poller: Poller) -> list[str]:
    return [queue["id"] for queue, _ in poller.due_queues()]


def wait_for(condition: Callable[[], Any], what: str, timeout: float = WAIT_SECONDS) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.01)


# -- custody: items become tasks ----------------------------------------------------------


def test_items_become_pending_tasks_carrying_the_queue_definition(poller, store, create, clock):
    queue_id = create("jobs")
    MemoryQueueType.push("jobs", "a.png", "b.png")

    custody = poll_now(poller, store, queue_id)

    queue = store.get_queue(queue_id)
    tasks = tasks_of(store, queue_id)
    assert sorted(t["data"] for t in custody.tasks) == ["a.png", "b.png"]
    assert sorted(t["data"] for t in tasks) == ["a.png", "b.png"]
    for task in tasks:
        assert task["state"] == "PENDING"
        assert task["id"] == queue_id  # the family is the queue
        assert task["queue_id"] == queue_id
        assert task["created_at"] == clock.now
        for name in (
            "cmd",
            "container",
            "env",
            "cpus",
            "mem",
            "constraints",
            "task_retries",
            "system_retries",
        ):
            assert task[name] == queue[name], name
        assert task["max_concurrent"] == queue["queue"]["max_concurrent"]
        env = task_environment(task)
        assert env["HIPPO_DATA"] == task["data"]
        assert env["HIPPO_QUEUE_ID"] == queue_id
        assert env["STAGE"] == "test"
    state = state_of(store, queue_id)
    assert state["cursor"] == 2
    assert state["last_run_tstamp"] == clock.now
    assert state["last_error"] is None


def test_a_poll_with_nothing_new_stores_no_task_but_records_the_run(poller, store, create, clock):
    queue_id = create("empty")

    custody = poll_now(poller, store, queue_id)

    assert custody.items == [] and custody.tasks == []
    assert tasks_of(store, queue_id) == []
    assert state_of(store, queue_id)["last_run_tstamp"] == clock.now
    assert state_of(store, queue_id)["cursor"] == 0


def test_the_cursor_carries_on_across_pollers(store, hippo_queuetypes, create, clock):
    queue_id = create("jobs")
    MemoryQueueType.push("jobs", "1", "2")
    first = Poller(store, hippo_queuetypes, clock=clock)
    poll_now(first, store, queue_id)
    first.stop()
    MemoryQueueType.push("jobs", "3")

    second = Poller(store, hippo_queuetypes, clock=clock)
    poll_now(second, store, queue_id)
    second.stop()

    assert data_of(store, queue_id) == ["1", "2", "3"]
    assert state_of(store, queue_id)["cursor"] == 3


def test_a_crash_between_storing_and_acknowledging_loses_and_repeats_nothing(
    store, hippo_queuetypes, create, clock
):
    """The memory type's custody is its cursor, stored with the tasks: nothing runs twice."""
    queue_id = create("jobs", type="scripted")
    MemoryQueueType.push("jobs", "1", "2", "3")
    crashed = Poller(store, hippo_queuetypes, clock=clock)
    crashed.take(*stored_queue(store, queue_id))  # ... and the worker dies before ack()
    MemoryQueueType.push("jobs", "4")

    fresh = Poller(store, hippo_queuetypes, clock=clock)
    poll_now(fresh, store, queue_id)
    fresh.stop()

    assert data_of(store, queue_id) == ["1", "2", "3", "4"]
    assert ScriptedQueueType.script("jobs").acked == ["4"]


def test_a_moved_starting_point_restarts_the_cursor(poller, store, hippo_queues, create, queue_body):
    queue_id = create("jobs")
    MemoryQueueType.push("jobs", *[str(i) for i in range(12)])
    poll_now(poller, store, queue_id)
    body = store.get_queue(queue_id)
    body["queue"]["memory"]["start"] = 10
    hippo_queues.update(queue_id, body)

    poll_now(poller, store, queue_id)

    assert Counter(data_of(store, queue_id)) == Counter([str(i) for i in range(12)] + ["10", "11"])
    assert state_of(store, queue_id)["cursor"] == 12


def test_a_queue_switched_to_another_type_starts_a_fresh_cursor(poller, store, hippo_queues, create):
    queue_id = create("jobs")
    MemoryQueueType.push("jobs", *[str(i) for i in range(5)])
    poll_now(poller, store, queue_id)
    assert state_of(store, queue_id)["cursor"] == 5
    MemoryQueueType.push("other", "a", "b")
    body = store.get_queue(queue_id)
    body["queue"]["type"] = "scripted"
    body["queue"]["scripted"] = {**body["queue"].pop("memory"), "list": "other"}
    hippo_queues.update(queue_id, body)

    poll_now(poller, store, queue_id)

    # The memory cursor (5) would have skipped both items of the new source.
    assert data_of(store, queue_id) == ["0", "1", "2", "3", "4", "a", "b"]
    assert state_of(store, queue_id)["cursor"] == 2


def test_a_failure_while_storing_is_marked_and_loses_nothing(poller, store, create, clock):
    queue_id = create("jobs")
    MemoryQueueType.push("jobs", "x", "y")
    # A definition that cannot make tasks (stored behind validation's back).
    store.update_queue(queue_id, lambda q: {**q, "queue": {**q["queue"], "batch_separator": 5}})

    poll_now(poller, store, queue_id)  # must not raise

    state = state_of(store, queue_id)
    assert state["last_error"].startswith("store failed: AttributeError")
    assert data_of(store, queue_id) == []
    assert state.get("cursor") in (None, 0), "the cursor did not move past items never stored"


def test_a_deposed_leaders_poll_stores_nothing(store, hippo_pollers, create):
    queue_id = create("jobs")
    MemoryQueueType.push("jobs", "x")
    assert store.acquire_lease("new-leader", 30)
    poller = hippo_pollers()
    poller.fence = "old-leader"

    poll_now(poller, store, queue_id)

    assert data_of(store, queue_id) == []
    assert state_of(store, queue_id) == {}, "neither tasks nor a cursor from the old leader"


# -- when a queue is due ------------------------------------------------------------------

DUE_CASES = [
    # (what it proves, frequency at the poll, seconds later, frequency now, due?)
    ("the period is not over yet", 60, 59, 60, False),
    ("the period is over", 60, 60, 60, True),
    ("frequency 0 polls again at once", 0, 0, 0, True),
    ("a shortened frequency counts at once", 3600, 60, 60, True),
    ("a lengthened frequency counts at once", 60, 120, 3600, False),
]


@pytest.mark.parametrize(
    ("frequency", "later", "frequency_now", "due"),
    [case[1:] for case in DUE_CASES],
    ids=[case[0] for case in DUE_CASES],
)
def test_a_queue_is_due_a_period_after_its_last_poll(
    poller, store, hippo_queues, create, clock, frequency, later, frequency_now, due
):
    queue_id = create("jobs", frequency_seconds=frequency)
    assert due_ids(poller) == [queue_id], "a queue never polled is due at once"
    poll_now(poller, store, queue_id)
    if frequency_now != frequency:
        body = store.get_queue(queue_id)
        body["queue"]["frequency_seconds"] = frequency_now
        hippo_queues.update(queue_id, body)

    clock.advance(later)

    assert (due_ids(poller) == [queue_id]) is due


def test_a_disabled_queue_is_not_polled_and_resumes_from_its_cursor(poller, store, hippo_queues, create):
    queue_id = create("jobs", frequency_seconds=0)
    MemoryQueueType.push("jobs", "1", "2")
    poll_now(poller, store, queue_id)
    hippo_queues.toggle(queue_id)
    MemoryQueueType.push("jobs", "3", "4")
    before = state_of(store, queue_id)

    assert due_ids(poller) == []
    assert data_of(store, queue_id) == ["1", "2"]
    assert state_of(store, queue_id) == before

    hippo_queues.toggle(queue_id)
    assert due_ids(poller) == [queue_id]
    poll_now(poller, store, queue_id)
    assert data_of(store, queue_id) == ["1", "2", "3", "4"]
    assert state_of(store, queue_id)["cursor"] == 4


def test_a_disabled_queue_is_left_alone_by_a_running_poller(store, hippo_queuetypes, hippo_queues, create):
    disabled = create("off", frequency_seconds=0, status="DISABLED")
    enabled = create("on", frequency_seconds=0)
    MemoryQueueType.push("off", "x")
    MemoryQueueType.push("on", "y")
    poller = Poller(store, hippo_queuetypes, tick_seconds=0.01)
    poller.start()
    try:
        wait_for(lambda: tasks_of(store, enabled), "the enabled queue's task")
        # Several rounds more, so the disabled queue had every chance to be polled.
        runs = state_of(store, enabled)["last_run_tstamp"]
        wait_for(lambda: state_of(store, enabled)["last_run_tstamp"] > runs, "another round")
    finally:
        poller.stop()
    assert tasks_of(store, disabled) == []
    assert state_of(store, disabled) == {}


# -- batching and backpressure ------------------------------------------------------------

BATCH_CASES = [
    # (what it proves, items, batch_size, separator, task data)
    ("7 items in threes make 3 tasks, the last one short", list("abcdefg"), 3, "|", ["a|b|c", "d|e|f", "g"]),
    ("the separator can be any string", ["x", "y", "z"], 2, "\n", ["x\ny", "z"]),
    ("an empty separator concatenates", ["x", "y"], 5, "", ["xy"]),
    ("batch size 1 gives a task per item", ["x", "y"], 1, "|", ["x", "y"]),
]


@pytest.mark.parametrize(
    ("items", "size", "separator", "expected"),
    [case[1:] for case in BATCH_CASES],
    ids=[case[0] for case in BATCH_CASES],
)
def test_items_are_batched(poller, store, create, items, size, separator, expected):
    queue_id = create("jobs", batch_size=size, batch_separator=separator)
    MemoryQueueType.push("jobs", *items)

    poll_now(poller, store, queue_id)

    assert data_of(store, queue_id) == sorted(expected)


def test_backpressure_takes_no_more_than_free_slots_of_a_deep_source(poller, store, create, clock):
    queue_id = create("deep", max_concurrent=5, frequency_seconds=0)
    MemoryQueueType.push("deep", *[f"item-{i}" for i in range(10_000)])

    poll_now(poller, store, queue_id)

    assert data_of(store, queue_id) == [f"item-{i}" for i in range(5)]
    assert state_of(store, queue_id)["cursor"] == 5

    poll_now(poller, store, queue_id)  # every slot is still taken
    assert len(tasks_of(store, queue_id)) == 5
    assert state_of(store, queue_id)["cursor"] == 5

    finish(store, tasks_of(store, queue_id)[:2])
    poll_now(poller, store, queue_id)
    assert len(tasks_of(store, queue_id)) == 7
    assert state_of(store, queue_id)["cursor"] == 7


def test_backpressure_counts_items_per_batch(poller, store, create):
    queue_id = create("deep", max_concurrent=2, batch_size=3)
    MemoryQueueType.push("deep", *[str(i) for i in range(10)])

    poll_now(poller, store, queue_id)

    assert data_of(store, queue_id) == ["0|1|2", "3|4|5"]


# -- errors and backoff -------------------------------------------------------------------

BACKOFF_CASES = [
    # (what it proves, fault, frequency_seconds, waits after the 1st, 2nd, 3rd failure)
    ("transient errors retry from one second, doubling", leaky(ConnectionError), 60, [1, 2, 4]),
    ("other errors retry from the frequency, doubling", leaky(QueueTypeError), 60, [60, 120, 240]),
    ("...but not sooner than 30 seconds", leaky(QueueTypeError), 5, [30, 60, 120]),
    ("unexpected exceptions count as permanent", leaky(KeyError), 40, [40, 80, 160]),
    ("the wait is capped at 15 minutes", leaky(QueueTypeError), 600, [600, 900, 900]),
]


@pytest.mark.parametrize(
    ("fault", "frequency", "waits"),
    [case[1:] for case in BACKOFF_CASES],
    ids=[case[0] for case in BACKOFF_CASES],
)
def test_a_failing_source_is_marked_and_backed_off(
    poller, store, create, clock, secrets_sent, fault, frequency, waits
):
    queue_id = create("jobs", type="scripted", frequency_seconds=frequency)
    MemoryQueueType.push("jobs", "kept")
    ScriptedQueueType.script("jobs").always = fault

    for n, wait in enumerate(waits, start=1):
        assert due_ids(poller) == [queue_id]
        poll_now(poller, store, queue_id)  # does not raise
        state = state_of(store, queue_id)
        assert state["consecutive_errors"] == n
        assert state["last_error_tstamp"] == clock.now
        waited = state["next_run_tstamp"] - clock.now
        assert wait * (1 - BACKOFF_JITTER) <= waited <= wait, "doubling, with jitter taken off"
        clock.advance(waited - 0.01)
        assert due_ids(poller) == [], "due before its backoff ran out"
        clock.advance(0.01)

    error = state_of(store, queue_id)["last_error"]
    assert error.startswith("poll failed: ")
    assert "********" in error
    for secret in secrets_sent:
        assert secret not in error
    assert tasks_of(store, queue_id) == []
    assert state_of(store, queue_id).get("cursor") is None, "a failed poll moved the cursor"


def test_a_success_after_failures_clears_the_error_and_the_backoff(poller, store, create, clock):
    queue_id = create("jobs", type="scripted", frequency_seconds=60)
    MemoryQueueType.push("jobs", "a")
    ScriptedQueueType.script("jobs").poll_faults = [leaky(ConnectionError), leaky(ConnectionError)]
    poll_now(poller, store, queue_id)
    clock.advance(1)
    poll_now(poller, store, queue_id)
    clock.advance(2)

    poll_now(poller, store, queue_id)

    state = state_of(store, queue_id)
    assert (state["last_error"], state["last_error_tstamp"], state["consecutive_errors"]) == (None, None, 0)
    assert state["next_run_tstamp"] == clock.now + 60
    assert data_of(store, queue_id) == ["a"]


def test_the_api_shows_the_error_masked(poller, store, hippo_queues, create, secrets_sent):
    queue_id = create("jobs", type="scripted")
    ScriptedQueueType.script("jobs").always = leaky(QueueTypeError)

    poll_now(poller, store, queue_id)

    shown = hippo_queues.get(queue_id)["queue"]
    assert shown["last_error"].startswith("poll failed: QueueTypeError: login with token ********")
    assert all(secret not in repr(shown) for secret in secrets_sent)


def test_a_queue_of_an_uninstalled_type_is_marked_not_raised(store, hippo_queuetypes, create, clock):
    queue_id = create("jobs", type="scripted")
    without = Poller(store, QueueTypeRegistry.of(MemoryQueueType), clock=clock)

    poll_now(without, store, queue_id)

    state = state_of(store, queue_id)
    assert "scripted" in state["last_error"] and "UnknownQueueType" in state["last_error"]
    assert 60 * (1 - BACKOFF_JITTER) <= state["next_run_tstamp"] - clock.now <= 60


def test_a_failed_ack_keeps_the_tasks_and_marks_the_queue(poller, store, create, clock, secrets_sent):
    queue_id = create("jobs", type="scripted")
    MemoryQueueType.push("jobs", "a", "b")
    script = ScriptedQueueType.script("jobs")
    script.ack_faults = [leaky(ConnectionError)]

    poll_now(poller, store, queue_id)

    state = state_of(store, queue_id)
    assert data_of(store, queue_id) == ["a", "b"]
    assert state["cursor"] == 2  # custody was taken before the ack
    assert state["last_error"].startswith("ack failed: ConnectionError")
    assert all(secret not in state["last_error"] for secret in secrets_sent)
    assert 1 - BACKOFF_JITTER <= state["next_run_tstamp"] - clock.now <= 1
    assert script.acked == []

    clock.advance(1)
    MemoryQueueType.push("jobs", "c")
    poll_now(poller, store, queue_id)
    assert script.acked == ["c"]
    assert state_of(store, queue_id)["last_error"] is None


# -- deleted queues and the instance cache ------------------------------------------------


def test_a_queue_deleted_while_polled_gets_no_tasks_and_no_state(poller, store, hippo_queues, create):
    queue_id = create("jobs", type="scripted")
    MemoryQueueType.push("jobs", "a")
    [(queue, state)] = poller.due_queues()
    hippo_queues.delete(queue_id)

    custody = poller.poll(queue, state)

    assert custody.items == []
    assert tasks_of(store, queue_id) == []
    assert store.get_queue_states([queue_id]) == [{}]
    assert ScriptedQueueType.script("jobs").acked == []


def test_a_queue_deleted_while_its_poll_fails_gets_no_state(poller, store, hippo_queues, create):
    queue_id = create("jobs", type="scripted")
    ScriptedQueueType.script("jobs").always = leaky(QueueTypeError)
    [(queue, state)] = poller.due_queues()
    hippo_queues.delete(queue_id)

    poller.poll(queue, state)

    assert store.get_queue_states([queue_id]) == [{}]


def test_a_deleted_queue_s_instance_is_closed(poller, store, hippo_queues, create):
    queue_id = create("jobs", type="scripted")
    poll_now(poller, store, queue_id)
    [instance] = ScriptedQueueType.built
    hippo_queues.delete(queue_id)

    assert poller.due_queues() == []
    assert instance.closed


def test_the_instance_is_kept_until_the_settings_change(poller, store, hippo_queues, create):
    queue_id = create("jobs", type="scripted")
    poll_now(poller, store, queue_id)
    body = store.get_queue(queue_id)
    body["cmd"] = "echo other $HIPPO_DATA"
    hippo_queues.update(queue_id, body)
    poll_now(poller, store, queue_id)
    assert len(ScriptedQueueType.built) == 1, "a change outside the settings keeps the instance"

    body["queue"]["scripted"]["token"] = "another-token-1"
    hippo_queues.update(queue_id, body)
    poll_now(poller, store, queue_id)

    old, new = ScriptedQueueType.built
    assert old.closed and not new.closed
    assert new.settings["token"] == "another-token-1"
    poller.stop()
    assert new.closed


# -- the poller running on its threads ----------------------------------------------------


def test_a_slow_or_failing_source_does_not_hold_up_other_queues(store, hippo_queuetypes, create):
    slow = create("slow", type="scripted", frequency_seconds=0)
    broken = create("broken", type="scripted", frequency_seconds=0)
    fast = create("fast", frequency_seconds=0)
    gate = threading.Event()
    ScriptedQueueType.script("slow").gate = gate
    ScriptedQueueType.script("broken").always = leaky(QueueTypeError)
    poller = Poller(store, hippo_queuetypes, threads=4, tick_seconds=0.01)
    poller.start()
    try:
        wait_for(ScriptedQueueType.script("slow").entered.is_set, "the slow poll to begin")
        for wave in range(3):
            MemoryQueueType.push("fast", f"wave-{wave}")
            wait_for(lambda n=wave + 1: len(tasks_of(store, fast)) == n, f"wave {wave} as a task")
        wait_for(lambda: state_of(store, broken).get("last_error"), "the broken queue's error")
        assert ScriptedQueueType.script("slow").polls == 1, "a queue in flight was polled again"
        assert state_of(store, slow) == {}
        gate.set()
        wait_for(lambda: state_of(store, slow).get("last_run_tstamp"), "the slow poll to finish")
    finally:
        gate.set()
        poller.stop()
    assert data_of(store, fast) == ["wave-0", "wave-1", "wave-2"]


# -- events ---------------------------------------------------------------------------------


def test_each_poll_publishes_what_it_took_and_how_late_it_ran(poller, store, create, clock, hippo_events):
    queue_id = create("jobs", frequency_seconds=60)
    MemoryQueueType.push("jobs", "a", "b")
    poll_now(poller, store, queue_id)
    clock.advance(67)  # due after 60 s: this poll runs 7 s late
    MemoryQueueType.push("jobs", "c")
    poll_now(poller, store, queue_id)

    polled = [e for e in hippo_events if e.kind == "queue.polled"]
    assert [(e.queue_id, e.data["items"], e.data["tasks"]) for e in polled] == [
        (queue_id, 2, 2),
        (queue_id, 1, 1),
    ]
    assert [e.data["lag"] for e in polled] == [0.0, 7.0]
    assert all(e.data["queue_type"] == "memory" and e.data["seconds"] >= 0 for e in polled)
    created = [e for e in hippo_events if e.kind == "task.created"]
    assert len(created) == 3 and {e.queue_id for e in created} == {queue_id}


def test_a_failed_poll_publishes_the_error_scrubbed_of_secrets(
    poller, store, create, hippo_events, secrets_sent
):
    queue_id = create("jobs", type="scripted")
    ScriptedQueueType.script("jobs").always = leaky(ConnectionError)
    poll_now(poller, store, queue_id)

    (error,) = [e for e in hippo_events if e.kind == "queue.error"]
    assert error.queue_id == queue_id
    assert error.data == {"queue_type": "scripted", "during": "poll", "transient": True}
    assert "********" in error.message
    assert not any(secret in error.message for secret in secrets_sent)
    assert not [e for e in hippo_events if e.kind == "queue.polled"]
