"""Faults the worker must survive: cluster refusals, Redis blips, launches lost in a crash."""

from __future__ import annotations

from hippo_core import states
from hippo_core.poller import Poller
from hippo_core.ports import free_port
from hippo_core.queues import QueueService
from hippo_core.registry import QueueTypeRegistry
from hippo_core.store import Store
from hippo_core.taskstate import State
from hippo_core.testing.memory_queue import MemoryQueueType
from hippo_core.tracker import Tracker
from hippo_mesos_peer import Hang


def leading_term(hippo):
    running = hippo.start_worker()
    hippo.wait(
        lambda: running.worker.term is not None and running.worker.term.tracker.trusted(),
        "a leading, reconciled worker",
    )
    return running


def test_a_removed_framework_is_forgotten_and_the_worker_stops(hippo) -> None:
    running = leading_term(hippo)
    assert hippo.store.framework_id()
    running.worker.term.error("Framework has been removed")
    running.thread.join(timeout=15)
    assert not running.thread.is_alive() and running.worker.fatal
    assert hippo.store.framework_id() is None, "the next worker registers a new framework"


def test_any_other_refusal_stops_the_worker_but_keeps_the_framework(hippo) -> None:
    running = leading_term(hippo)
    framework_id = hippo.store.framework_id()
    running.worker.term.error("Framework failed over")
    running.thread.join(timeout=15)
    assert not running.thread.is_alive() and running.worker.fatal
    assert hippo.store.framework_id() == framework_id


def test_a_refusal_heard_by_an_ended_term_is_ignored(hippo) -> None:
    running = leading_term(hippo)
    framework_id = hippo.store.framework_id()
    term = running.worker.term
    term.active = False  # what a deposed leader's term is
    term.error("Framework failed over")
    assert running.thread.is_alive() and running.worker.fatal is None
    assert hippo.store.framework_id() == framework_id


def test_reconciliation_starts_over_when_redis_fails_at_subscription(hippo, redis_url) -> None:
    # The tracker reads its tasks from a Redis that does not answer, then from the real one.
    down = Store.from_url(f"redis://127.0.0.1:{free_port()}/0")
    down.redis.connection_pool.connection_kwargs["socket_connect_timeout"] = 0.2
    running = leading_term(hippo)
    backend = running.worker.term.backend
    tracker = Tracker(down, backend, unreachable_timeout=60)
    tracker.begin_reconciliation()
    assert not tracker.trusted(), "nothing is trusted before Hippo knows where its tasks are"
    tracker.store = hippo.store
    tracker.tick()
    hippo.wait(tracker.trusted, "reconciliation completed on the next tick")


def test_a_launch_recorded_but_never_sent_is_found_and_retried(hippo) -> None:
    running = leading_term(hippo)
    tracker = running.worker.term.tracker
    tracker.stuck_after, tracker.sweep_seconds = 0.5, 0.2
    posted = hippo.post_task(cpus=64)  # fits no agent: the worker leaves it pending
    # What a crash between recording a launch and sending it leaves behind.
    hippo.store.update_task(
        posted["mesos_id"], lambda t: states.mark_launched(t, "agent-that-never-heard", "agent1")
    )
    task = hippo.wait_state(posted["mesos_id"], "PENDING")
    assert task["system_retries_used"] == 1
    assert task["attempts"][0]["state"] in {"TASK_UNKNOWN", "TASK_GONE", "TASK_LOST", "TASK_DROPPED"}
    assert hippo.peer.launch_count(posted["mesos_id"]) == 0


def test_killing_an_unreachable_task_ends_it_when_the_agent_stays_away(hippo) -> None:
    hippo.peer.add_rule(lambda ti: True, Hang())
    hippo.start_worker(unreachable_timeout=0.5)
    posted = hippo.post_task(system_retries=3)
    running = hippo.wait_state(posted["mesos_id"], "RUNNING")
    hippo.peer.partition_agent(running["hostname"])
    hippo.wait_state(posted["mesos_id"], "UNREACHABLE")
    hippo.api.simulate_post(f"/tasks/{posted['mesos_id']}/kill/")
    task = hippo.wait_state(posted["mesos_id"], "KILLED")
    assert len(task["attempts"]) == 1, "a killed task is not retried"
    hippo.peer.heal_agent(running["hostname"])
    hippo.wait(
        lambda: hippo.peer.tasks[posted["mesos_id"]].state == "TASK_KILLED",
        "the container killed once its agent is back",
    )


def test_lowering_a_queues_max_concurrent_holds_back_tasks_made_before(hippo) -> None:
    hippo.peer.add_rule(lambda ti: True, Hang())
    registry = QueueTypeRegistry.of(MemoryQueueType)
    queues = QueueService(hippo.store, registry)
    MemoryQueueType.clear()
    MemoryQueueType.push("jobs", *[f"item{i}" for i in range(6)])
    queue = queues.create(
        {
            "cmd": "work",
            "cpus": 0.1,
            "mem": 32,
            "container": {"docker": {"image": "busybox"}},
            "queue": {"type": "memory", "name": "jobs", "max_concurrent": 10, "memory": {"list": "jobs"}},
        }
    )
    Poller(hippo.store, registry).poll(hippo.store.get_queue(queue["id"]), {})
    assert hippo.store.count(State.PENDING, queue["id"]) == 6
    body = {k: v for k, v in queue.items() if k not in ("id", "created_at", "updated_at")}
    body["queue"] = {**body["queue"], "max_concurrent": 2}
    queues.update(queue["id"], body)

    hippo.start_worker()
    hippo.wait(lambda: hippo.store.count(State.RUNNING, queue["id"]) == 2, "two running")
    hippo.wait(
        lambda: (
            hippo.store.count(State.PENDING, queue["id"]) == 4
            and all(
                t.get("pending_reason")
                for t in hippo.store.list_tasks(state=State.PENDING, family=queue["id"]).items
            )
        ),
        "the rest waiting with a reason",
    )
    assert hippo.peer.max_active("hippo.family", queue["id"]) == 2
