"""``MesosBackend`` keeps the backend contract against the Mesos master test peer."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from hippo_core.backend import BackendError, Offer, TaskLaunch, TaskStatus
from hippo_core.backends.mesos.backend import MesosBackend
from hippo_core.ports import free_port
from hippo_mesos_peer import Hang, MesosMasterPeer


class Callbacks:
    """A SchedulerCallbacks that records everything; ``status_update`` can be told to raise."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self._lock = threading.Lock()
        self.refuse: Callable[[TaskStatus], bool] = lambda status: False

    def _add(self, kind: str, value: Any) -> None:
        with self._lock:
            self.events.append((kind, value))

    def of(self, kind: str) -> list[Any]:
        with self._lock:
            return [value for k, value in self.events if k == kind]

    def states(self, task_id: str) -> list[str]:
        return [s.state for s in self.of("status") if s.task_id == task_id]

    def registered(self, framework_id: str) -> None:
        self._add("registered", framework_id)

    def offers(self, offers: list[Offer]) -> None:
        self._add("offers", offers)

    def rescinded(self, offer_id: str) -> None:
        self._add("rescinded", offer_id)

    def status_update(self, status: TaskStatus) -> None:
        self._add("status", status)
        if self.refuse(status):
            raise RuntimeError(f"cannot record {status.state} of {status.task_id} now")

    def disconnected(self, reason: str) -> None:
        self._add("disconnected", reason)

    def error(self, message: str) -> None:
        self._add("error", message)


@pytest.fixture
def callbacks() -> Callbacks:
    return Callbacks()


@pytest.fixture
def make_backend() -> Iterator[Callable[..., MesosBackend]]:
    backends: list[MesosBackend] = []

    def make(masters: list[str] | str, **options: Any) -> MesosBackend:
        options.setdefault("backoff_initial", 0.05)
        options.setdefault("backoff_max", 0.5)
        backend = MesosBackend(masters, **options)
        backends.append(backend)
        return backend

    yield make
    for backend in backends:
        backend.stop()


def launch(task_id: str, offer: Offer, **overrides: Any) -> TaskLaunch:
    fields: dict[str, Any] = {
        "task_id": task_id,
        "name": f"hippo-{task_id}",
        "agent_id": offer.agent_id,
        "cpus": 0.5,
        "mem": 64.0,
        "cmd": "echo $HIPPO_DATA",
        "env": {"HIPPO_DATA": "item", "HIPPO_TASK_ID": task_id},
        "container": {
            "docker": {"image": "busybox:1.36", "network": "BRIDGE"},
            "volumes": [{"containerPath": "/data", "hostPath": "/srv", "mode": "RO"}],
        },
        "labels": {"hippo_queue": "q1"},
    }
    fields.update(overrides)
    return TaskLaunch(**fields)


def first_offer(callbacks: Callbacks, wait_until) -> Offer:
    return wait_until(lambda: callbacks.of("offers") and callbacks.of("offers")[-1][0], what="an offer")


def calls_of(peer: MesosMasterPeer, call_type: str) -> list[dict[str, Any]]:
    return [body for kind, body in peer.calls if kind == call_type]


def test_subscribes_as_a_checkpointing_partition_aware_multi_role_framework(
    peer, callbacks: Callbacks, make_backend, wait_until
) -> None:
    backend = make_backend([peer.url], framework_name="hippo-t", user="nobody", failover_timeout=3600)
    backend.start(callbacks, None)
    framework_id = wait_until(lambda: callbacks.of("registered"), what="registered")[0]
    assert backend.framework_id == framework_id
    info = calls_of(peer, "SUBSCRIBE")[0]["subscribe"]["framework_info"]
    assert info == {
        "user": "nobody",
        "name": "hippo-t",
        "roles": ["*"],
        "failover_timeout": 3600.0,
        "checkpoint": True,
        "capabilities": [{"type": "MULTI_ROLE"}, {"type": "PARTITION_AWARE"}, {"type": "TASK_KILLING_STATE"}],
    }
    assert peer.frameworks[framework_id].partition_aware


def test_offers_arrive_as_hippo_offers(peer, callbacks: Callbacks, make_backend, wait_until) -> None:
    make_backend(peer.url).start(callbacks, None)  # one address as a plain string
    offer = first_offer(callbacks, wait_until)
    agent = next(iter(peer.agents.values()))
    assert offer == Offer(
        id=offer.id,
        agent_id=agent.agent_id,
        hostname="agent1",
        cpus=4.0,
        mem=8192.0,
        disk=10000.0,
        attributes={"rack": "r1"},
    )


def test_accept_launches_all_tasks_in_one_call_and_reports_their_statuses(
    peer, callbacks: Callbacks, make_backend, wait_until
) -> None:
    backend = make_backend([peer.url])
    backend.start(callbacks, None)
    offer = first_offer(callbacks, wait_until)
    backend.accept([offer.id], [launch("t1", offer), launch("t2", offer)], refuse_seconds=7)

    (accept,) = calls_of(peer, "ACCEPT")
    assert accept["accept"]["filters"] == {"refuse_seconds": 7.0}
    (operation,) = accept["accept"]["operations"]
    assert operation["type"] == "LAUNCH"
    assert [t["task_id"]["value"] for t in operation["launch"]["task_infos"]] == ["t1", "t2"]

    for task_id in ("t1", "t2"):
        wait_until(lambda task_id=task_id: "TASK_FINISHED" in callbacks.states(task_id), what="finished")
        assert callbacks.states(task_id) == ["TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"]
    final = [s for s in callbacks.of("status") if s.task_id == "t1"][-1]
    assert (final.agent_id, final.hostname, final.source) == (offer.agent_id, "agent1", "SOURCE_EXECUTOR")
    assert final.terminal and final.timestamp is not None
    sim = peer.tasks["t1"]
    assert sim.task_info["container"]["docker"]["image"] == "busybox:1.36"
    assert sim.task_info["container"]["volumes"] == [
        {"container_path": "/data", "host_path": "/srv", "mode": "RO"}
    ]
    assert sim.labels == {"hippo_queue": "q1"}
    wait_until(lambda: not peer.unacknowledged(), what="every update acknowledged")


def test_an_update_whose_handler_raises_is_delivered_again(
    peer, callbacks: Callbacks, make_backend, wait_until
) -> None:
    refusals: list[TaskStatus] = []

    def refuse_twice(status: TaskStatus) -> bool:
        if status.state == "TASK_FINISHED" and len(refusals) < 2:
            refusals.append(status)
            return True
        return False

    callbacks.refuse = refuse_twice
    backend = make_backend([peer.url])
    backend.start(callbacks, None)
    offer = first_offer(callbacks, wait_until)
    backend.accept([offer.id], [launch("t1", offer)], refuse_seconds=1)
    wait_until(lambda: callbacks.states("t1").count("TASK_FINISHED") == 3, what="third delivery")
    wait_until(lambda: not peer.unacknowledged(), what="acknowledged after the third delivery")
    assert len(calls_of(peer, "ACKNOWLEDGE")) == 3, "STARTING, RUNNING, and FINISHED once"


def test_accepting_nothing_declines_with_the_filter(
    peer, callbacks: Callbacks, make_backend, wait_until
) -> None:
    backend = make_backend([peer.url])
    backend.start(callbacks, None)
    offer = first_offer(callbacks, wait_until)
    backend.accept([offer.id], [], refuse_seconds=30)
    assert calls_of(peer, "DECLINE")[-1]["decline"] == {
        "offer_ids": [{"value": offer.id}],
        "filters": {"refuse_seconds": 30.0},
    }
    assert calls_of(peer, "ACCEPT") == []


def test_kill_reconcile_suppress_revive(peer, callbacks: Callbacks, make_backend, wait_until) -> None:
    peer.add_rule(lambda info: True, Hang())
    backend = make_backend([peer.url], role="hippo")
    backend.start(callbacks, None)
    offer = first_offer(callbacks, wait_until)
    backend.accept([offer.id], [launch("t1", offer)], refuse_seconds=1)
    wait_until(lambda: "TASK_RUNNING" in callbacks.states("t1"), what="TASK_RUNNING")

    backend.reconcile([("t1", offer.agent_id)])
    wait_until(
        lambda: [s for s in callbacks.of("status") if s.reason == "REASON_RECONCILIATION"],
        what="reconciliation answer",
    )
    backend.reconcile([])
    assert calls_of(peer, "RECONCILE")[-1]["reconcile"] == {"tasks": []}

    framework_id = backend.framework_id
    backend.suppress()
    peer.wait_for(lambda: peer.frameworks[framework_id].suppressed_roles == {"hippo"})
    backend.revive()
    peer.wait_for(lambda: peer.frameworks[framework_id].suppressed_roles == set())

    backend.kill("t1", offer.agent_id)
    wait_until(lambda: "TASK_KILLED" in callbacks.states("t1"), what="TASK_KILLED")


def test_failed_calls_raise_backend_errors(peer, callbacks: Callbacks, make_backend, wait_until) -> None:
    backend = make_backend([peer.url])
    with pytest.raises(BackendError, match="not started"):
        backend.revive()
    backend.start(callbacks, None)
    offer = first_offer(callbacks, wait_until)
    bad = launch("t1", offer, container={"docker": {"image": "x", "network": "OVERLAY"}})
    with pytest.raises(BackendError, match="OVERLAY"):
        backend.accept([offer.id], [bad], refuse_seconds=1)
    with pytest.raises(BackendError, match="already started"):
        backend.start(callbacks, None)
    backend.stop()
    with pytest.raises(BackendError, match="not subscribed"):
        backend.decline([offer.id], refuse_seconds=1)
    backend.start(callbacks, backend.framework_id)  # a stopped backend may start again
    wait_until(lambda: len(callbacks.of("registered")) == 2, what="registered again")


def test_unreachable_masters_leave_calls_failing_not_hanging(callbacks: Callbacks, make_backend) -> None:
    backend = make_backend([f"127.0.0.1:{free_port()}"])
    backend.start(callbacks, None)
    with pytest.raises(BackendError, match="not subscribed"):
        backend.suppress()


def test_resumes_the_framework_it_is_given_after_a_restart(
    peer, callbacks: Callbacks, make_backend, wait_until
) -> None:
    first = make_backend([peer.url])
    first.start(Callbacks(), None)
    framework_id = wait_until(lambda: first.framework_id, what="a framework id")
    first.stop()
    second = make_backend([peer.url])
    second.start(callbacks, framework_id)
    assert wait_until(lambda: callbacks.of("registered"), what="registered") == [framework_id]
    peer.restart()
    wait_until(lambda: len(callbacks.of("registered")) == 2, what="registered again")
    assert callbacks.of("registered") == [framework_id, framework_id]
    assert len(callbacks.of("disconnected")) == 1


def test_error_reaches_the_callbacks(peer, callbacks: Callbacks, make_backend, wait_until) -> None:
    first = make_backend([peer.url])
    first.start(callbacks, None)
    framework_id = wait_until(lambda: first.framework_id, what="a framework id")
    successor = make_backend([peer.url])
    successor.start(Callbacks(), framework_id)
    assert wait_until(lambda: callbacks.of("error"), what="the error") == [
        "Mesos reported an error: Framework failed over"
    ]


def test_credentials_name_the_principal_and_never_put_the_secret_in_a_body(
    peer, callbacks: Callbacks, make_backend, wait_until
) -> None:
    backend = make_backend([peer.url], principal="hippo-principal", secret="s3cret-value")
    backend.start(callbacks, None)
    wait_until(lambda: callbacks.of("registered"), what="registered")
    backend.revive()
    assert calls_of(peer, "SUBSCRIBE")[0]["subscribe"]["framework_info"]["principal"] == "hippo-principal"
    assert all("s3cret-value" not in repr(body) for _, body in peer.calls)
