"""Offers from the Mesos test peer: contents, filters, SUPPRESS/REVIVE, and ACCEPT validation."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hippo_mesos_peer import Hang, MesosMasterPeer, SimAgent
from hippo_mesos_peer.probe import SchedulerProbe, task_info

FAST = {"heartbeat_interval": 5.0, "allocation_interval": 0.02, "status_update_retry": 0.1}
AGENTS = [
    SimAgent(hostname="agent1", cpus=4.0, mem=8192.0, attributes={"rack": "r1", "zone": "z1"}),
    SimAgent(hostname="agent2", cpus=2.0, mem=1024.0, attributes={"rack": "r2", "gpus": 2}),
]


@pytest.fixture
def peer() -> Iterator[MesosMasterPeer]:
    with MesosMasterPeer(agents=AGENTS, default_behavior=Hang(), **FAST) as peer:
        yield peer


@pytest.fixture
def probe(peer: MesosMasterPeer) -> Iterator[SchedulerProbe]:
    probe = SchedulerProbe(peer.scheduler_url, timeout=5.0)
    probe.subscribe()
    yield probe
    probe.close()


def _scalar(offer: dict, name: str) -> float:
    return next(r["scalar"]["value"] for r in offer["resources"] if r["name"] == name)


def test_each_agent_is_offered_whole_with_its_attributes(peer: MesosMasterPeer, probe: SchedulerProbe):
    offers = probe.offers_for("agent1", "agent2")

    first = offers["agent1"]
    assert first["framework_id"]["value"] == probe.framework_id
    assert first["agent_id"]["value"] in peer.agents
    assert first["allocation_info"] == {"role": "*"}
    assert (_scalar(first, "cpus"), _scalar(first, "mem"), _scalar(first, "disk")) == (4.0, 8192.0, 10000.0)
    ports = next(r for r in first["resources"] if r["name"] == "ports")
    assert ports["ranges"]["range"] == [{"begin": 31000, "end": 32000}]
    assert {"name": "rack", "type": "TEXT", "text": {"value": "r1"}} in first["attributes"]
    assert {"name": "gpus", "type": "SCALAR", "scalar": {"value": 2.0}} in offers["agent2"]["attributes"]
    assert offers["agent1"]["id"] != offers["agent2"]["id"]


def test_outstanding_offers_are_not_offered_again(peer: MesosMasterPeer, probe: SchedulerProbe):
    probe.offers_for("agent1", "agent2")

    assert probe.arriving("OFFERS", 0.3) == []
    assert len(peer.offers) == 2


def test_decline_filter_keeps_the_agent_away(probe: SchedulerProbe):
    offers = probe.offers_for("agent1", "agent2")
    probe.decline(offers["agent1"], refuse_seconds=3600)
    probe.decline(offers["agent2"], refuse_seconds=0)

    again = probe.offers_for("agent2")  # a zero filter sets none
    meanwhile = probe.arriving("OFFERS", 0.3)

    assert again["agent2"]["id"] != offers["agent2"]["id"]
    assert [o["hostname"] for e in meanwhile for o in e["offers"]["offers"]] == []


def test_decline_filter_expires_after_refuse_seconds(probe: SchedulerProbe):
    offers = probe.offers_for("agent1", "agent2")
    probe.decline(offers["agent1"], refuse_seconds=0.3)

    later = probe.offers_for("agent1")

    assert later["agent1"]["id"] != offers["agent1"]["id"]


def test_decline_without_filters_refuses_for_the_default_five_seconds(
    peer: MesosMasterPeer, probe: SchedulerProbe
):
    offers = probe.offers_for("agent1", "agent2")
    probe.call({"type": "DECLINE", "decline": {"offer_ids": [o["id"] for o in offers.values()]}})

    assert probe.arriving("OFFERS", 0.3) == []
    assert not peer.offers


def test_suppress_stops_offers_and_revive_brings_them_back(probe: SchedulerProbe):
    offers = probe.offers_for("agent1", "agent2")
    assert probe.call({"type": "SUPPRESS"}).status_code == 202
    probe.decline(list(offers.values()), refuse_seconds=0)

    suppressed = probe.arriving("OFFERS", 0.3)
    probe.call({"type": "REVIVE"})

    assert suppressed == []
    assert set(probe.offers_for("agent1", "agent2")) == {"agent1", "agent2"}


def test_revive_clears_refuse_filters(probe: SchedulerProbe):
    offers = probe.offers_for("agent1", "agent2")
    probe.decline(list(offers.values()), refuse_seconds=3600)

    filtered = probe.arriving("OFFERS", 0.2)
    probe.call({"type": "REVIVE"})

    assert filtered == []
    assert set(probe.offers_for("agent1", "agent2")) == {"agent1", "agent2"}


def test_suppress_naming_a_role_the_framework_lacks_is_dropped(probe: SchedulerProbe):
    offers = probe.offers_for("agent1", "agent2")
    response = probe.call({"type": "SUPPRESS", "suppress": {"roles": ["web"]}})
    probe.decline(list(offers.values()), refuse_seconds=0)

    assert response.status_code == 202  # the master answers first, then drops the call
    assert set(probe.offers_for("agent1", "agent2")) == {"agent1", "agent2"}


def test_accept_launches_and_returns_what_is_unused(peer: MesosMasterPeer, probe: SchedulerProbe):
    offer = probe.offers_for("agent1", "agent2")["agent1"]

    response = probe.accept(offer, [task_info("t1", offer, cpus=1.5, mem=1000)], refuse_seconds=0)

    assert response.status_code == 202
    remainder = probe.offers_for("agent1")["agent1"]
    assert _scalar(remainder, "cpus") == 2.5
    assert _scalar(remainder, "mem") == 7192.0
    assert peer.launch_count("t1") == 1


def test_two_frameworks_never_share_an_offer(peer: MesosMasterPeer, probe: SchedulerProbe):
    other = SchedulerProbe(peer.scheduler_url, timeout=5.0)
    try:
        first = probe.offers_for("agent1", "agent2")
        other.subscribe()
        probe.decline(list(first.values()), refuse_seconds=3600)
        second = other.offers_for("agent1", "agent2")
        assert all(o["framework_id"]["value"] == other.framework_id for o in second.values())
        first_ids = {o["id"]["value"] for o in first.values()}
        assert not first_ids & {o["id"]["value"] for o in second.values()}
    finally:
        other.close()


@pytest.mark.parametrize(
    ("partition_aware", "expected"),
    [(True, "TASK_DROPPED"), (False, "TASK_LOST")],
    ids=["partition-aware gets TASK_DROPPED", "others get TASK_LOST"],
)
def test_unknown_offer_drops_the_launch(peer: MesosMasterPeer, partition_aware: bool, expected: str):
    caps = [{"type": "MULTI_ROLE"}] + ([{"type": "PARTITION_AWARE"}] if partition_aware else [])
    probe = SchedulerProbe(peer.scheduler_url, timeout=5.0)
    try:
        probe.subscribe(SchedulerProbe.framework_info(capabilities=caps))
        offer = probe.next_offers()[0]
        bogus = {**offer, "id": {"value": "no-such-offer"}}

        probe.accept(bogus, [task_info("t1", offer)])

        status = probe.next_update("t1")
        assert status["state"] == expected
        assert status["reason"] == "REASON_INVALID_OFFERS"
        assert status["source"] == "SOURCE_MASTER"
        assert "no-such-offer is no longer valid" in status["message"]
        assert "uuid" not in status  # the master's own updates are not acknowledged
        assert peer.launch_count("t1") == 0
    finally:
        probe.close()


def test_rescinded_offer_cannot_be_accepted(peer: MesosMasterPeer, probe: SchedulerProbe):
    offers = list(probe.offers_for("agent1", "agent2").values())
    peer.rescind_offers()
    rescinded = {probe.next_event("RESCIND")["rescind"]["offer_id"]["value"] for _ in offers}

    probe.accept(offers[0], [task_info("t1", offers[0])])

    assert rescinded == {o["id"]["value"] for o in offers}
    assert probe.next_update("t1")["state"] == "TASK_DROPPED"


def test_offers_of_two_agents_in_one_accept_are_invalid(probe: SchedulerProbe):
    offers = list(probe.offers_for("agent1", "agent2").values())

    probe.accept(offers, [task_info("t1", offers[0])])

    status = probe.next_update("t1")
    assert status["state"] == "TASK_DROPPED"
    assert "Aggregated offers must belong to one single agent" in status["message"]
    # Both offers were given back, without a filter: they come again.
    assert set(probe.offers_for("agent1", "agent2")) == {"agent1", "agent2"}


def _without_command(task: dict) -> None:
    del task["command"]


def _reserved(task: dict) -> None:
    task["resources"][0]["role"] = "web"


# (what it proves, change to the middle task, the message of its TASK_ERROR)
INVALID_TASKS = [
    ("more resources than are left", lambda t: t["resources"][0]["scalar"].update(value=1.5), "more than"),
    ("a task id used twice", lambda t: t.update(task_id={"value": "t1"}), "Task has duplicate ID: t1"),
    ("a task for another agent", lambda t: t.update(agent_id={"value": "elsewhere"}), "invalid agent"),
    ("a task without resources", lambda t: t.update(resources=[]), "Task uses no resources"),
    ("neither command nor executor", _without_command, "at least one (but not both)"),
    ("a reserved resource", _reserved, "is more than available"),
]


@pytest.mark.parametrize(
    ("change", "message"), [c[1:] for c in INVALID_TASKS], ids=[c[0] for c in INVALID_TASKS]
)
def test_invalid_task_gets_task_error_and_the_others_launch(
    peer: MesosMasterPeer, probe: SchedulerProbe, change, message: str
):
    offer = probe.offers_for("agent1", "agent2")["agent2"]  # 2 cpus
    first = task_info("t1", offer, cpus=1.0)
    middle = task_info("t2", offer, cpus=0.5)
    change(middle)
    last = task_info("t3", offer, cpus=0.5)

    probe.accept(offer, [first, middle, last])

    refused = middle["task_id"]["value"]
    error = probe.next_update(refused, "TASK_ERROR")
    assert error["reason"] == "REASON_TASK_INVALID"
    assert message in error["message"]
    assert peer.launch_count("t1") == 1
    assert peer.launch_count("t3") == 1
    assert peer.launch_count("t2") == 0


def test_docker_task_without_image_is_a_malformed_call(probe: SchedulerProbe):
    offer = probe.next_offers()[0]
    task = task_info("t1", offer, container={"type": "DOCKER", "docker": {"network": "BRIDGE"}})

    response = probe.accept(offer, [task])

    assert response.status_code == 400
    assert "container.docker.image" in response.text


def test_non_multi_role_framework_sees_no_allocation_info(peer: MesosMasterPeer):
    probe = SchedulerProbe(peer.scheduler_url, timeout=5.0)
    try:
        probe.subscribe({"user": "u", "name": "old-style"})
        offer = probe.next_offers()[0]
        assert "allocation_info" not in offer
        assert all("allocation_info" not in r for r in offer["resources"])
    finally:
        probe.close()
