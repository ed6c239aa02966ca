"""Task lives in the Mesos test peer: updates and acks, behaviours, KILL, RECONCILE, books."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator

import pytest

from hippo_mesos_peer import Error, Fail, Finish, Hang, Lose, MesosMasterPeer, SimAgent
from hippo_mesos_peer.probe import SchedulerProbe, task_info

FAST = {"heartbeat_interval": 5.0, "allocation_interval": 0.02, "status_update_retry": 0.1}
KILLING = {"type": "TASK_KILLING_STATE"}


@pytest.fixture
def peer() -> Iterator[MesosMasterPeer]:
    agents = [SimAgent(hostname="agent1", cpus=4.0, mem=4096.0)]
    with MesosMasterPeer(agents=agents, default_behavior=Finish(after=0.05), **FAST) as peer:
        yield peer


@pytest.fixture
def probe(peer: MesosMasterPeer) -> Iterator[SchedulerProbe]:
    probe = SchedulerProbe(peer.scheduler_url, timeout=5.0)
    probe.subscribe()
    yield probe
    probe.close()


def _launch(probe: SchedulerProbe, *task_ids: str, **task_args) -> dict:
    offer = probe.next_offers()[0]
    response = probe.accept(offer, [task_info(t, offer, **task_args) for t in task_ids], refuse_seconds=0)
    assert response.status_code == 202, response.text
    return offer


def _acked(probe: SchedulerProbe, task_id: str, state: str) -> dict:
    status = probe.next_update(task_id, state)
    assert probe.acknowledge(status).status_code == 202
    return status


def test_task_goes_starting_running_finished_one_ack_at_a_time(peer: MesosMasterPeer, probe: SchedulerProbe):
    _launch(probe, "t1")

    starting = probe.next_update("t1")
    assert starting["state"] == "TASK_STARTING"  # TASK_STAGING is never sent as an update
    assert starting["source"] == "SOURCE_EXECUTOR"
    assert set(starting) >= {"task_id", "state", "source", "agent_id", "timestamp", "uuid"}
    # RUNNING waits for STARTING to be acknowledged; only STARTING is re-sent meanwhile.
    waiting = probe.arriving("UPDATE", 0.25)
    assert "TASK_RUNNING" not in {e["update"]["status"]["state"] for e in waiting}
    probe.acknowledge(starting)
    running = _acked(probe, "t1", "TASK_RUNNING")
    finished = _acked(probe, "t1", "TASK_FINISHED")

    assert len({starting["uuid"], running["uuid"], finished["uuid"]}) == 3
    assert finished["message"] == "Command exited with status 0"
    peer.wait_for(lambda: not peer.tasks["t1"].in_master)
    assert [s for s, _ in peer.tasks["t1"].history] == [
        "TASK_STAGING",
        "TASK_STARTING",
        "TASK_RUNNING",
        "TASK_FINISHED",
    ]
    assert peer.unacknowledged() == []


def test_unacknowledged_update_is_resent_with_its_uuid(peer: MesosMasterPeer, probe: SchedulerProbe):
    _launch(probe, "t1")
    first = probe.next_update("t1")

    again = probe.next_update("t1")
    third = probe.next_update("t1")

    assert first["uuid"] == again["uuid"] == third["uuid"]
    assert [u["uuid"] for u in peer.unacknowledged(probe.framework_id)] == [first["uuid"]]
    assert peer.unacknowledged("another-framework") == []


def test_ack_with_a_stale_uuid_changes_nothing(peer: MesosMasterPeer, probe: SchedulerProbe):
    _launch(probe, "t1")
    starting = probe.next_update("t1")
    stale = {**starting, "uuid": base64.b64encode(uuid.uuid4().bytes).decode()}

    response = probe.acknowledge(stale)

    assert response.status_code == 202
    assert probe.next_update("t1")["uuid"] == starting["uuid"]
    assert any("unexpected uuid" in note for note in peer.notes)


# (what it proves, the uuid sent, status, text of the answer): as UUID::fromBytes and stout's base64.
ACK_UUIDS = [
    ("a random (version 4) UUID", base64.b64encode(uuid.uuid4().bytes).decode(), 202, ""),
    ("a time-based (version 1) UUID", base64.b64encode(uuid.uuid1().bytes).decode(), 202, ""),
    ("base64 without its padding", base64.b64encode(uuid.uuid4().bytes).decode().rstrip("="), 202, ""),
    ("fewer than 16 bytes", "c2hvcnQ=", 400, "Failed to validate scheduler::Call: Not a valid UUID"),
    ("16 bytes of no known version", "AAAAAAAAAAAAAAAAAAAAAA==", 400, "Not a valid UUID"),
    ("32 hex digits decode to 24 bytes, not 16", uuid.uuid4().hex, 400, "Not a valid UUID"),
    (
        "the canonical text form is not base64",
        str(uuid.uuid4()),
        400,
        "Failed to convert JSON into Call protobuf: Failed to base64 decode bytes field 'uuid': "
        "Invalid character '-'",
    ),
]


@pytest.mark.parametrize(
    ("sent", "status", "text"), [c[1:] for c in ACK_UUIDS], ids=[c[0] for c in ACK_UUIDS]
)
def test_acknowledge_uuid_is_checked_as_the_master_does(
    peer: MesosMasterPeer, probe: SchedulerProbe, sent: str, status: int, text: str
):
    _launch(probe, "t1")
    starting = probe.next_update("t1")

    response = probe.acknowledge({**starting, "uuid": sent})

    assert response.status_code == status, response.text
    assert text in response.text


def _reconciliation(event: dict) -> bool:
    return event["update"]["status"].get("reason") == "REASON_RECONCILIATION"


def _ack_all(probe: SchedulerProbe, task_id: str, until: str) -> dict:
    while True:
        status = probe.next_update(task_id)
        if "uuid" in status:
            probe.acknowledge(status)
        if status["state"] == until:
            return status


# (what it proves, behaviour, final state, reason, source, uuid expected, starts first)
BEHAVIOURS = [
    (
        "a failing command",
        Fail(after=0.01, message="exit 3"),
        "TASK_FAILED",
        None,
        "SOURCE_EXECUTOR",
        True,
        True,
    ),
    (
        "a container that cannot launch",
        Error(reason="REASON_CONTAINER_LAUNCH_FAILED", message="no image"),
        "TASK_FAILED",
        "REASON_CONTAINER_LAUNCH_FAILED",
        "SOURCE_AGENT",
        True,
        False,
    ),
    (
        "an unauthorized task",
        Error(reason="REASON_TASK_UNAUTHORIZED"),
        "TASK_ERROR",
        "REASON_TASK_UNAUTHORIZED",
        "SOURCE_AGENT",
        True,
        False,
    ),
    (
        "a vanished container, partition-aware",
        Lose(after=0.01),
        "TASK_GONE",
        "REASON_EXECUTOR_TERMINATED",
        "SOURCE_AGENT",
        True,
        True,
    ),
    (
        "a loss only the master reports",
        Lose(after=0.01, state="TASK_LOST", reason="REASON_AGENT_REMOVED"),
        "TASK_LOST",
        "REASON_AGENT_REMOVED",
        "SOURCE_MASTER",
        False,
        True,
    ),
]


@pytest.mark.parametrize(
    ("behavior", "state", "reason", "source", "has_uuid", "starts"),
    [b[1:] for b in BEHAVIOURS],
    ids=[b[0] for b in BEHAVIOURS],
)
def test_scripted_behaviours_end_as_mesos_reports_them(
    peer: MesosMasterPeer,
    probe: SchedulerProbe,
    behavior,
    state: str,
    reason: str | None,
    source: str,
    has_uuid: bool,
    starts: bool,
):
    peer.add_rule(lambda t: "doomed" in t["command"]["value"], behavior)
    _launch(probe, "t1", command="run doomed")

    first = probe.next_update("t1")
    if first["state"] == "TASK_STARTING":
        probe.acknowledge(first)
    end = first if first["state"] == state else _ack_all(probe, "t1", state)

    assert (first["state"] == "TASK_STARTING") == starts
    assert end.get("reason") == reason
    assert end["source"] == source
    assert ("uuid" in end) == has_uuid
    assert peer.tasks["t1"].state == state


def test_first_matching_rule_wins_and_the_rest_get_the_default(peer: MesosMasterPeer, probe: SchedulerProbe):
    peer.add_rule(lambda t: t["name"].startswith("f"), Fail(after=0.01))
    peer.add_rule(lambda t: t["name"].startswith("f"), Hang())
    _launch(probe, "f1", "ok1")

    assert _ack_all(probe, "f1", "TASK_FAILED")["message"] == "Command exited with status 1"
    assert _ack_all(probe, "ok1", "TASK_FINISHED")["state"] == "TASK_FINISHED"


@pytest.mark.parametrize(
    ("capabilities", "expected"),
    [([KILLING], ["TASK_KILLING", "TASK_KILLED"]), ([], ["TASK_KILLED"])],
    ids=["with TASK_KILLING_STATE", "without it"],
)
def test_kill_of_a_running_task(peer: MesosMasterPeer, capabilities: list, expected: list[str]):
    peer.add_rule(lambda t: True, Hang())
    probe = SchedulerProbe(peer.scheduler_url, timeout=5.0)
    try:
        caps = [{"type": "MULTI_ROLE"}, {"type": "PARTITION_AWARE"}, *capabilities]
        probe.subscribe(SchedulerProbe.framework_info(capabilities=caps))
        _launch(probe, "t1")
        _acked(probe, "t1", "TASK_STARTING")
        _acked(probe, "t1", "TASK_RUNNING")

        assert probe.kill("t1").status_code == 202

        states = [_acked(probe, "t1", state)["state"] for state in expected]
        assert states == expected
        assert peer.tasks["t1"].state == "TASK_KILLED"
    finally:
        probe.close()


def test_kill_before_the_executor_has_the_task(peer: MesosMasterPeer):
    with MesosMasterPeer(agents=[SimAgent(hostname="slow")], launch_delay=0.5, **FAST) as slow:
        probe = SchedulerProbe(slow.scheduler_url, timeout=5.0)
        try:
            probe.subscribe()
            _launch(probe, "t1")
            probe.kill("t1")
            killed = probe.next_update("t1")
            assert killed["state"] == "TASK_KILLED"
            assert killed["reason"] == "REASON_TASK_KILLED_DURING_LAUNCH"
            assert killed["source"] == "SOURCE_AGENT"
        finally:
            probe.close()


# (what it proves, partition-aware, agent id given, state expected)
UNKNOWN_KILLS = [
    ("partition-aware, no agent", True, False, "TASK_UNKNOWN"),
    ("partition-aware, a registered agent", True, True, "TASK_GONE"),
    ("not partition-aware", False, True, "TASK_LOST"),
]


@pytest.mark.parametrize(
    ("aware", "with_agent", "state"), [k[1:] for k in UNKNOWN_KILLS], ids=[k[0] for k in UNKNOWN_KILLS]
)
def test_kill_of_an_unknown_task_answers_by_reconciliation(
    peer: MesosMasterPeer, aware: bool, with_agent: bool, state: str
):
    caps = [{"type": "MULTI_ROLE"}] + ([{"type": "PARTITION_AWARE"}] if aware else [])
    probe = SchedulerProbe(peer.scheduler_url, timeout=5.0)
    try:
        probe.subscribe(SchedulerProbe.framework_info(capabilities=caps))
        agent_id = next(iter(peer.agents)) if with_agent else None

        probe.kill("never-launched", agent_id)

        status = probe.next_update("never-launched")
        assert status["state"] == state
        assert status["reason"] == "REASON_RECONCILIATION"
        assert "uuid" not in status
    finally:
        probe.close()


def test_explicit_reconcile_reports_the_update_in_flight(peer: MesosMasterPeer, probe: SchedulerProbe):
    peer.add_rule(lambda t: True, Hang())
    _launch(probe, "t1")
    starting = probe.next_update("t1", "TASK_STARTING")
    peer.wait_for(lambda: peer.tasks["t1"].state == "TASK_RUNNING")

    probe.reconcile([("t1", starting["agent_id"]["value"]), ("ghost", None)])

    reply = probe.next_update("t1", reason="REASON_RECONCILIATION")
    ghost = probe.next_update("ghost")
    # The agent is running it, but the framework has not acknowledged STARTING yet.
    assert reply["state"] == "TASK_STARTING"
    assert reply["message"] == "Reconciliation: Latest task state"
    assert "uuid" not in reply
    assert ghost["state"] == "TASK_UNKNOWN"


def test_implicit_reconcile_reports_every_task_the_master_still_has(
    peer: MesosMasterPeer, probe: SchedulerProbe
):
    peer.add_rule(lambda t: t["name"] != "done", Hang())
    _launch(probe, "a", "b", "done")
    for task_id in ("a", "b"):
        _acked(probe, task_id, "TASK_STARTING")
        _acked(probe, task_id, "TASK_RUNNING")
    _ack_all(probe, "done", "TASK_FINISHED")
    peer.wait_for(lambda: not peer.tasks["done"].in_master)

    probe.call({"type": "RECONCILE", "reconcile": {"tasks": []}})

    replies = [e["update"]["status"] for e in probe.arriving("UPDATE", 0.3, _reconciliation)]
    assert sorted((r["task_id"]["value"], r["state"]) for r in replies) == [
        ("a", "TASK_RUNNING"),
        ("b", "TASK_RUNNING"),
    ]
    assert all("uuid" not in r for r in replies)


def test_resources_are_held_until_the_task_ends(peer: MesosMasterPeer):
    with MesosMasterPeer(agents=[SimAgent(hostname="small", cpus=1.0, mem=64.0)], **FAST) as small:
        small.add_rule(lambda t: True, Hang())
        probe = SchedulerProbe(small.scheduler_url, timeout=5.0)
        try:
            probe.subscribe()
            _launch(probe, "t1", cpus=1.0, mem=64.0)
            _acked(probe, "t1", "TASK_STARTING")
            _acked(probe, "t1", "TASK_RUNNING")
            held = probe.arriving("OFFERS", 0.2)
            probe.kill("t1")
            _acked(probe, "t1", "TASK_KILLED")
            assert held == []
            assert probe.next_offers()[0]["hostname"] == "small"
        finally:
            probe.close()


def test_a_task_id_is_taken_until_its_end_is_acknowledged(peer: MesosMasterPeer, probe: SchedulerProbe):
    _launch(probe, "t1")
    _acked(probe, "t1", "TASK_STARTING")
    _acked(probe, "t1", "TASK_RUNNING")
    finished = probe.next_update("t1", "TASK_FINISHED")

    _launch(probe, "t1")
    duplicate = probe.next_update("t1", "TASK_ERROR")
    probe.acknowledge(finished)
    peer.wait_for(lambda: not peer.tasks["t1"].in_master)
    _launch(probe, "t1")

    assert "duplicate ID" in duplicate["message"]
    assert probe.next_update("t1", "TASK_STARTING")
    assert peer.launch_count("t1") == 2


def test_max_active_counts_tasks_of_a_label_alive_together(peer: MesosMasterPeer, probe: SchedulerProbe):
    peer.add_rule(lambda t: True, Finish(after=0.1))
    _launch(probe, "q1", "q2", "q3", labels={"hippo_queue": "q"})
    _launch(probe, "other", labels={"hippo_queue": "elsewhere"})
    for task_id in ("q1", "q2", "q3"):
        _ack_all(probe, task_id, "TASK_FINISHED")

    assert peer.max_active("hippo_queue", "q") == 3
    assert peer.max_active("hippo_queue", "elsewhere") == 1
    assert peer.max_active("hippo_queue", "none") == 0
    assert peer.tasks["q1"].labels == {"hippo_queue": "q"}
