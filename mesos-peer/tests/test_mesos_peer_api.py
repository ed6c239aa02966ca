"""The Mesos test peer's own Python API: waiting, reporting its failures, argument checks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hippo_mesos_peer import Finish, Lose, MesosMasterPeer, PeerError, SimAgent
from hippo_mesos_peer.probe import SchedulerProbe, task_info

FAST = {"heartbeat_interval": 5.0, "allocation_interval": 0.02, "status_update_retry": 0.1}


@pytest.fixture
def peer() -> Iterator[MesosMasterPeer]:
    with MesosMasterPeer(agents=[SimAgent(hostname="agent1")], **FAST) as peer:
        yield peer


def test_wait_for_says_what_it_waited_for(peer: MesosMasterPeer):
    def nothing_happens() -> bool:
        return False

    with pytest.raises(TimeoutError, match=r"nothing_happens still false after 0\.05s"):
        peer.wait_for(nothing_happens, timeout=0.05)


def test_a_rule_that_raises_fails_the_test_that_waits(peer: MesosMasterPeer):
    def broken(task: dict) -> bool:
        raise KeyError("no such field")

    peer.add_rule(broken, Finish())
    probe = SchedulerProbe(peer.scheduler_url, timeout=5.0)
    try:
        probe.subscribe()
        offer = probe.next_offers()[0]
        probe.accept(offer, [task_info("t1", offer)])
        with pytest.raises(PeerError, match="no such field"):
            peer.wait_for(lambda: False, timeout=2.0)
    finally:
        probe.close()
        peer.clear_rules()


# (what it proves, the call, the error)
MISUSE = [
    ("a behaviour must be one of the five", lambda p: p.add_rule(lambda t: True, "finish"), TypeError),
    ("a predicate must be callable", lambda p: p.add_rule("yes", Finish()), TypeError),
    ("an unknown agent is named in the error", lambda p: p.remove_agent("agent9"), KeyError),
    ("only a registered agent can be partitioned", lambda p: p.heal_agent("agent1"), ValueError),
    ("two agents cannot share a hostname", lambda p: p.add_agent(SimAgent(hostname="agent1")), ValueError),
]


@pytest.mark.parametrize(("misuse", "error"), [m[1:] for m in MISUSE], ids=[m[0] for m in MISUSE])
def test_misuse_fails_loudly(peer: MesosMasterPeer, misuse, error: type[Exception]):
    with pytest.raises(error):
        misuse(peer)


def test_lose_only_takes_terminal_states():
    with pytest.raises(ValueError, match="TASK_RUNNING"):
        Lose(state="TASK_RUNNING")


def test_url_before_start_is_an_error():
    with pytest.raises(RuntimeError, match="start"):
        _ = MesosMasterPeer().url


def test_update_framework_changes_what_may_change(peer: MesosMasterPeer):
    probe = SchedulerProbe(peer.scheduler_url, timeout=5.0)
    try:
        probe.subscribe()
        info = SchedulerProbe.framework_info(id={"value": probe.framework_id}, failover_timeout=5.0)

        changed = probe.call({"type": "UPDATE_FRAMEWORK", "update_framework": {"framework_info": info}})
        bad_user = {**info, "user": "someone-else"}
        refused = probe.call({"type": "UPDATE_FRAMEWORK", "update_framework": {"framework_info": bad_user}})

        assert changed.status_code == 200
        assert peer.frameworks[probe.framework_id].failover_timeout == 5.0
        assert refused.status_code == 400
        assert "FrameworkInfo.user" in refused.text
    finally:
        probe.close()
