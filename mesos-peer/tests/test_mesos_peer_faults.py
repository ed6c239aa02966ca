"""Faults in the Mesos test peer: framework failover, teardown, dropped streams, master
failover, lost, partitioned and removed agents."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hippo_mesos_peer import Hang, MesosMasterPeer, SimAgent
from hippo_mesos_peer.probe import SchedulerProbe, task_info

FAST = {"heartbeat_interval": 5.0, "allocation_interval": 0.02, "status_update_retry": 0.1}


@pytest.fixture
def peer() -> Iterator[MesosMasterPeer]:
    agents = [SimAgent(hostname="agent1"), SimAgent(hostname="agent2")]
    with MesosMasterPeer(agents=agents, default_behavior=Hang(), **FAST) as peer:
        yield peer


@pytest.fixture
def probe(peer: MesosMasterPeer) -> Iterator[SchedulerProbe]:
    probe = SchedulerProbe(peer.scheduler_url, timeout=5.0)
    probe.subscribe()
    yield probe
    probe.close()


def _reconciliation(event: dict) -> bool:
    return event["update"]["status"].get("reason") == "REASON_RECONCILIATION"


def _running(probe: SchedulerProbe, task_id: str, host: str = "agent1") -> dict:
    """Launch ``task_id`` on ``host`` and acknowledge it up to TASK_RUNNING."""
    offer = probe.offers_for(host)[host]
    assert probe.accept(offer, [task_info(task_id, offer)], refuse_seconds=0).status_code == 202
    for state in ("TASK_STARTING", "TASK_RUNNING"):
        status = probe.next_update(task_id, state)
        probe.acknowledge(status)
    return status


def test_resubscribing_with_the_id_keeps_tasks_and_cuts_the_old_stream(
    peer: MesosMasterPeer, probe: SchedulerProbe
):
    running = _running(probe, "t1")
    standby = SchedulerProbe(peer.scheduler_url, timeout=5.0)
    try:
        standby.framework_id = probe.framework_id
        standby.subscribe(resubscribe=True)

        error = probe.next_event("ERROR")
        probe.wait_ended()
        standby.reconcile([("t1", running["agent_id"]["value"])])
        assert error["error"]["message"] == "Framework failed over"
        assert probe.stream_error is None  # closed by the master, final chunk and all
        assert standby.framework_id == probe.framework_id
        assert standby.stream_id != probe.stream_id
        assert standby.next_update("t1", reason="REASON_RECONCILIATION")["state"] == "TASK_RUNNING"
        assert probe.call({"type": "REVIVE"}).status_code == 400  # the old stream id is void
    finally:
        standby.close()


def test_failover_timeout_lapse_kills_tasks_and_removes_the_framework():
    agents = [SimAgent(hostname="agent1")]
    with MesosMasterPeer(agents=agents, default_behavior=Hang(), failover_timeout_cap=0.2, **FAST) as peer:
        probe = SchedulerProbe(peer.scheduler_url, timeout=5.0)
        try:
            probe.subscribe()
            framework_id = probe.framework_id
            _running(probe, "t1")
            probe.close_stream()

            peer.wait_for(lambda: framework_id in peer.removed_frameworks)
            again = probe.subscribe(resubscribe=True)

            assert peer.tasks["t1"].state == "TASK_KILLED"
            assert framework_id not in peer.frameworks
            assert again.status_code == 200
            assert probe.events[0] == {"type": "ERROR", "error": {"message": "Framework has been removed"}}
        finally:
            probe.close()


def test_resubscribing_within_the_failover_timeout_keeps_the_framework(
    peer: MesosMasterPeer, probe: SchedulerProbe
):
    _running(probe, "t1")
    probe.close_stream()
    peer.wait_for(lambda: not peer.frameworks[probe.framework_id].connected)

    probe.subscribe(resubscribe=True)

    assert peer.frameworks[probe.framework_id].connected
    assert peer.tasks["t1"].state == "TASK_RUNNING"


def test_teardown_kills_tasks_and_closes_the_stream(peer: MesosMasterPeer, probe: SchedulerProbe):
    _running(probe, "t1")

    assert probe.call({"type": "TEARDOWN"}).status_code == 202

    probe.wait_ended()
    assert peer.tasks["t1"].state == "TASK_KILLED"
    assert probe.framework_id in peer.removed_frameworks
    assert probe.call({"type": "REVIVE"}).status_code == 400


def test_dropped_subscriptions_end_abruptly_and_updates_wait_for_the_return(
    peer: MesosMasterPeer, probe: SchedulerProbe
):
    offer = probe.offers_for("agent1")["agent1"]
    probe.accept(offer, [task_info("t1", offer)])
    first = probe.next_update("t1", "TASK_STARTING")

    peer.drop_subscriptions()
    probe.wait_ended()
    broken = probe.stream_error
    refused = probe.call({"type": "REVIVE"})
    probe.subscribe(resubscribe=True)

    assert broken is not None  # no final chunk: the connection just broke
    assert refused.status_code == 403
    # The agent keeps retrying the unacknowledged update on the new stream.
    assert probe.next_update("t1")["uuid"] == first["uuid"]


def test_master_failover_forgets_frameworks_but_tasks_survive(peer: MesosMasterPeer, probe: SchedulerProbe):
    running = _running(probe, "t1")
    old_stream = probe.stream_id

    peer.restart()
    probe.wait_ended()
    peer.wait_for(lambda: peer.recovered)
    before = probe.call({"type": "REVIVE"}, headers={"Mesos-Stream-Id": old_stream})
    probe.subscribe(resubscribe=True)
    probe.reconcile([("t1", running["agent_id"]["value"])])

    # The agent reregistered at once, so the master knows the framework again, disconnected.
    assert before.status_code == 403
    assert probe.stream_id != old_stream
    assert probe.next_update("t1", reason="REASON_RECONCILIATION")["state"] == "TASK_RUNNING"
    assert peer.launch_count("t1") == 1


def test_after_master_failover_a_reregistering_agent_has_no_answers_yet(peer: MesosMasterPeer):
    probe = SchedulerProbe(peer.scheduler_url, timeout=5.0)
    try:
        probe.subscribe()
        running = _running(probe, "t1")
        peer.restart(agent_reregister_delay=0.4)
        peer.wait_for(lambda: peer.recovered)
        before = probe.call({"type": "REVIVE"})
        probe.subscribe(resubscribe=True)
        probe.reconcile([("t1", running["agent_id"]["value"])])
        probe.reconcile([("t1", None)])

        silent = probe.arriving("UPDATE", 0.1, _reconciliation)
        agent_id = running["agent_id"]["value"]
        peer.wait_for(lambda: peer.agents[agent_id].status == "REGISTERED")
        probe.reconcile([("t1", agent_id)])

        assert before.status_code == 400  # nobody has told the new master of the framework
        assert silent == []
        assert probe.next_update("t1", reason="REASON_RECONCILIATION")["state"] == "TASK_RUNNING"
    finally:
        probe.close()


@pytest.mark.parametrize(
    ("aware", "state", "reason"),
    [
        (True, "TASK_GONE_BY_OPERATOR", "REASON_AGENT_REMOVED_BY_OPERATOR"),
        (False, "TASK_LOST", "REASON_AGENT_REMOVED"),
    ],
    ids=["partition-aware", "not partition-aware"],
)
def test_removed_agent_loses_its_tasks_and_offers(
    peer: MesosMasterPeer, aware: bool, state: str, reason: str
):
    caps = [{"type": "MULTI_ROLE"}] + ([{"type": "PARTITION_AWARE"}] if aware else [])
    probe = SchedulerProbe(peer.scheduler_url, timeout=5.0)
    try:
        probe.subscribe(SchedulerProbe.framework_info(capabilities=caps))
        running = _running(probe, "t1", "agent1")
        outstanding = probe.offers_for("agent1")["agent1"]

        peer.remove_agent("agent1")

        lost = probe.next_update("t1", state)
        assert lost["reason"] == reason
        assert lost["source"] == "SOURCE_MASTER"
        assert "uuid" not in lost
        assert probe.next_event("RESCIND")["rescind"]["offer_id"] == outstanding["id"]
        assert probe.next_event("FAILURE")["failure"]["agent_id"] == running["agent_id"]
        assert peer.tasks["t1"].state == state
    finally:
        probe.close()


def test_partitioned_agent_goes_unreachable_and_comes_back(peer: MesosMasterPeer, probe: SchedulerProbe):
    running = _running(probe, "t1", "agent1")

    peer.partition_agent("agent1")
    unreachable = probe.next_update("t1", "TASK_UNREACHABLE")
    probe.reconcile([("t1", running["agent_id"]["value"])])
    reconciled = probe.next_update("t1", reason="REASON_RECONCILIATION")
    peer.heal_agent("agent1")
    back = probe.next_update("t1", reason="REASON_AGENT_REREGISTERED")

    assert unreachable["reason"] == "REASON_AGENT_REMOVED"
    assert unreachable["unreachable_time"]["nanoseconds"] > 0
    assert probe.next_event("FAILURE")["failure"]["agent_id"] == running["agent_id"]
    assert reconciled["state"] == "TASK_UNREACHABLE"
    assert back["state"] == "TASK_RUNNING"
    assert peer.tasks["t1"].state == "TASK_RUNNING"


def test_partition_tells_other_frameworks_task_lost(peer: MesosMasterPeer):
    probe = SchedulerProbe(peer.scheduler_url, timeout=5.0)
    try:
        probe.subscribe(SchedulerProbe.framework_info(capabilities=[{"type": "MULTI_ROLE"}]))
        _running(probe, "t1", "agent1")

        peer.partition_agent("agent1")

        lost = probe.next_update("t1", "TASK_LOST")
        assert lost["reason"] == "REASON_AGENT_REMOVED"
        assert "unreachable_time" in lost
    finally:
        probe.close()


def test_new_agent_is_offered(peer: MesosMasterPeer, probe: SchedulerProbe):
    peer.add_agent(SimAgent(hostname="agent3", cpus=1.0, attributes={"zone": "z9"}))

    offer = probe.offers_for("agent3")["agent3"]

    assert {"name": "zone", "type": "TEXT", "text": {"value": "z9"}} in offer["attributes"]
