"""The scheduler driver against the Mesos master test peer, over real HTTP connections."""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from typing import Any

import pytest

from hippo_core.backend import TaskLaunch
from hippo_core.backends.mesos.client import MesosSchedulerDriver
from hippo_core.backends.mesos.errors import MesosCallError, NotSubscribedError
from hippo_core.backends.mesos.taskinfo import task_info
from hippo_core.ports import free_port
from hippo_mesos_peer import Fail, Hang, MesosMasterPeer, SimAgent

MakeDriver = Callable[..., MesosSchedulerDriver]


def a_task(task_id: str, agent_id: str, cmd: str = "true") -> dict[str, Any]:
    launch = TaskLaunch(
        task_id=task_id,
        name=f"hippo-{task_id}",
        agent_id=agent_id,
        cpus=0.1,
        mem=32.0,
        cmd=cmd,
        env={"HIPPO_TASK_ID": task_id},
        container={"docker": {"image": "busybox:1.36"}},
    )
    return task_info(launch)


def launch_on_next_offer(recorder, wait_until, driver, task_ids: list[str], cmd: str = "true") -> dict:
    """Launch ``task_ids`` on the first offer the recorder sees; return that offer."""
    offer = wait_until(lambda: recorder.of("offers") and recorder.of("offers")[-1][0], what="an offer")
    agent_id = offer["agent_id"]["value"]
    driver.launch([offer["id"]["value"]], [a_task(t, agent_id, cmd) for t in task_ids])
    return offer


def calls_of(peer: MesosMasterPeer, call_type: str) -> list[dict[str, Any]]:
    return [body for kind, body in peer.calls if kind == call_type]


def test_subscribes_and_receives_offers(peer, recorder, make_driver: MakeDriver, wait_until) -> None:
    driver = make_driver(recorder, [peer.url])
    assert driver.wait_subscribed(15)
    framework_id = driver.framework_id
    assert recorder.of("subscribed") == [framework_id]
    assert framework_id in peer.frameworks
    (subscribe,) = calls_of(peer, "SUBSCRIBE")
    assert "framework_id" not in subscribe and "id" not in subscribe["subscribe"]["framework_info"]
    offers = wait_until(lambda: recorder.of("offers"), what="offers")
    offer = offers[0][0]
    assert offer["hostname"] == "agent1"
    assert {r["name"] for r in offer["resources"]} >= {"cpus", "mem", "disk"}


def test_calls_before_subscription_are_refused_clearly() -> None:
    driver = MesosSchedulerDriver(
        object(),  # never started: no callback can run
        [f"127.0.0.1:{free_port()}"],
        {"user": "root", "name": "hippo-test"},
    )
    with pytest.raises(NotSubscribedError, match="cannot send DECLINE: not subscribed"):
        driver.decline(["offer-1"])


def test_launch_reports_every_state_and_acknowledges_each(
    peer, recorder, make_driver: MakeDriver, wait_until
) -> None:
    driver = make_driver(recorder, [peer.url])
    launch_on_next_offer(recorder, wait_until, driver, ["t1"])
    wait_until(lambda: "TASK_FINISHED" in recorder.states("t1"), what="TASK_FINISHED")
    # STAGING is the master's own state for a new task; agents start with STARTING.
    assert [state for state, _ in peer.tasks["t1"].history] == [
        "TASK_STAGING",
        "TASK_STARTING",
        "TASK_RUNNING",
        "TASK_FINISHED",
    ]
    assert recorder.states("t1") == ["TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"]
    wait_until(lambda: not peer.unacknowledged(), what="every update acknowledged")
    acked = [body["acknowledge"]["uuid"] for body in calls_of(peer, "ACKNOWLEDGE")]
    assert acked == [status["uuid"] for status in recorder.updates("t1")]
    assert all(len(base64.b64decode(uuid)) == 16 for uuid in acked)


def test_update_callback_raising_withholds_the_ack_and_mesos_sends_it_again(
    peer, recorder, make_driver: MakeDriver, wait_until
) -> None:
    refused: list[str] = []

    def refuse_first_running(status: dict) -> bool:
        if status["state"] == "TASK_RUNNING" and not refused:
            refused.append(status["uuid"])
            return True
        return False

    recorder.raise_on_update = refuse_first_running
    driver = make_driver(recorder, [peer.url])
    launch_on_next_offer(recorder, wait_until, driver, ["t1"])
    wait_until(lambda: "TASK_FINISHED" in recorder.states("t1"), what="TASK_FINISHED")
    running = [s["uuid"] for s in recorder.updates("t1") if s["state"] == "TASK_RUNNING"]
    assert running == [refused[0], refused[0]], "the refused update comes again, same uuid"
    acked = [body["acknowledge"]["uuid"] for body in calls_of(peer, "ACKNOWLEDGE")]
    assert acked.count(refused[0]) == 1, "acknowledged once: after the callback succeeded"
    wait_until(lambda: not peer.unacknowledged(), what="every update acknowledged")


def test_follows_the_redirect_of_a_standby_master(recorder, make_driver: MakeDriver, wait_until) -> None:
    with MesosMasterPeer(agents=[SimAgent(hostname="agent1")]) as leader, MesosMasterPeer() as standby:
        standby.set_leader(False, leader_url=leader.url)
        driver = make_driver(recorder, [standby.url])
        assert driver.wait_subscribed(15)
        assert driver.framework_id in leader.frameworks
        offer = wait_until(lambda: recorder.of("offers"), what="offers")[0][0]
        driver.decline([offer["id"]["value"]], {"refuse_seconds": 60})
        assert [status for call, status, _ in standby.responses] == [307]
        assert len(calls_of(leader, "DECLINE")) == 1
        driver.stop()


def test_tries_the_next_master_when_one_is_down(peer, recorder, make_driver: MakeDriver) -> None:
    driver = make_driver(recorder, [f"127.0.0.1:{free_port()}", peer.url])
    assert driver.wait_subscribed(15)
    assert driver.framework_id in peer.frameworks


def test_resubscribes_as_the_same_framework_when_the_connection_drops(
    peer, recorder, make_driver: MakeDriver, wait_until
) -> None:
    driver = make_driver(recorder, [peer.url])
    assert driver.wait_subscribed(15)
    framework_id = driver.framework_id
    peer.drop_subscriptions()
    wait_until(lambda: len(recorder.of("subscribed")) == 2, what="a second subscription")
    assert recorder.of("subscribed") == [framework_id, framework_id]
    assert [kind for kind, _ in recorder.events if kind in ("subscribed", "disconnected")] == [
        "subscribed",
        "disconnected",
        "subscribed",
    ]
    resubscribe = calls_of(peer, "SUBSCRIBE")[1]
    assert resubscribe["framework_id"] == {"value": framework_id}
    assert resubscribe["subscribe"]["framework_info"]["id"] == {"value": framework_id}
    assert peer.frameworks[framework_id].subscriptions == 2


def test_a_silent_connection_is_declared_dead_after_missed_heartbeats(
    recorder, make_driver: MakeDriver, wait_until, partition_proxy
) -> None:
    with MesosMasterPeer(heartbeat_interval=0.2) as peer:
        proxy = partition_proxy(int(peer.url.rsplit(":", 1)[1]))
        driver = make_driver(recorder, [proxy.url], heartbeat_timeout_factor=3)
        assert driver.wait_subscribed(15)
        framework_id = driver.framework_id
        proxy.freeze()  # nothing closes; heartbeats just stop arriving
        wait_until(lambda: recorder.of("disconnected"), what="the dead connection noticed")
        assert "read timeout" in recorder.of("disconnected")[0]
        wait_until(lambda: len(recorder.of("subscribed")) == 2, what="a new subscription")
        assert recorder.of("subscribed") == [framework_id, framework_id]
        driver.stop()


def test_resubscribes_after_a_master_restart_and_tasks_live_on(
    peer, recorder, make_driver: MakeDriver, wait_until
) -> None:
    peer.add_rule(lambda info: info["task_id"]["value"] == "long", Hang())
    driver = make_driver(recorder, [peer.url])
    launch_on_next_offer(recorder, wait_until, driver, ["long"])
    wait_until(lambda: "TASK_RUNNING" in recorder.states("long"), what="TASK_RUNNING")
    framework_id = driver.framework_id
    peer.restart()
    wait_until(lambda: len(recorder.of("subscribed")) == 2, what="resubscription after restart")
    assert recorder.of("subscribed") == [framework_id, framework_id]
    wait_until(lambda: peer.tasks["long"].master_state == "TASK_RUNNING", what="agent reregistered")
    driver.reconcile([("long", peer.tasks["long"].agent_id)])
    wait_until(
        lambda: any(s.get("reason") == "REASON_RECONCILIATION" for s in recorder.updates("long")),
        what="reconciliation answer",
    )
    assert recorder.updates("long")[-1]["state"] == "TASK_RUNNING"


def test_kill_ends_a_running_task(peer, recorder, make_driver: MakeDriver, wait_until) -> None:
    peer.add_rule(lambda info: True, Hang())
    driver = make_driver(recorder, [peer.url])
    offer = launch_on_next_offer(recorder, wait_until, driver, ["t1"])
    wait_until(lambda: "TASK_RUNNING" in recorder.states("t1"), what="TASK_RUNNING")
    driver.kill("t1", offer["agent_id"]["value"])
    wait_until(lambda: "TASK_KILLED" in recorder.states("t1"), what="TASK_KILLED")
    assert calls_of(peer, "KILL") == [
        {
            "type": "KILL",
            "framework_id": {"value": driver.framework_id},
            "kill": {"task_id": {"value": "t1"}, "agent_id": offer["agent_id"]},
        }
    ]


def test_reconcile_explicit_and_implicit(peer, recorder, make_driver: MakeDriver, wait_until) -> None:
    peer.add_rule(lambda info: True, Hang())
    driver = make_driver(recorder, [peer.url])
    offer = launch_on_next_offer(recorder, wait_until, driver, ["t1"])
    wait_until(lambda: "TASK_RUNNING" in recorder.states("t1"), what="TASK_RUNNING")
    acks_before = len(calls_of(peer, "ACKNOWLEDGE"))

    driver.reconcile([("t1", offer["agent_id"]["value"]), ("never-launched", None)])
    answer = wait_until(lambda: recorder.updates("never-launched"), what="answer for an unknown task")
    assert answer[0]["state"] == "TASK_LOST"  # not partition-aware: unknown tasks are lost
    explicit = [s for s in recorder.updates("t1") if s.get("reason") == "REASON_RECONCILIATION"]
    assert [s["state"] for s in explicit] == ["TASK_RUNNING"]

    driver.reconcile()
    wait_until(
        lambda: len([s for s in recorder.updates("t1") if s.get("reason") == "REASON_RECONCILIATION"]) == 2,
        what="implicit reconciliation answer",
    )
    assert {"tasks": []} in [body["reconcile"] for body in calls_of(peer, "RECONCILE")]
    # Reconciliation answers carry no uuid, and acknowledging them would be an error.
    assert len(calls_of(peer, "ACKNOWLEDGE")) == acks_before


def test_an_error_event_stops_the_driver_for_good(peer, new_recorder, make_driver: MakeDriver) -> None:
    first_recorder, second_recorder = new_recorder(), new_recorder()
    first = make_driver(first_recorder, [peer.url])
    assert first.wait_subscribed(15)
    framework_id = first.framework_id
    second = make_driver(second_recorder, [peer.url], framework_id=framework_id)
    assert second.wait_subscribed(15)
    assert first.join(15), "the driver that failed over stops"
    assert first_recorder.of("error") == ["Mesos reported an error: Framework failed over"]
    assert first.error_message == first_recorder.of("error")[0]
    assert first_recorder.of("disconnected") == []
    assert peer.frameworks[framework_id].subscriptions == 2, "no blind resubscription"
    with pytest.raises(NotSubscribedError):
        first.revive()


def test_a_removed_framework_is_refused_and_the_driver_stops(
    recorder, new_recorder, make_driver: MakeDriver, wait_until
) -> None:
    with MesosMasterPeer(failover_timeout_cap=0.0) as peer:
        first = make_driver(new_recorder(), [peer.url])
        assert first.wait_subscribed(15)
        framework_id = first.framework_id
        first.stop()
        peer.wait_for(lambda: framework_id in peer.removed_frameworks, timeout=15)
        driver = make_driver(recorder, [peer.url], framework_id=framework_id)
        assert driver.join(15)
        assert recorder.of("error") == ["Mesos reported an error: Framework has been removed"]
        assert recorder.of("subscribed") == []


def test_a_refused_call_names_the_call_and_the_masters_message(
    peer, recorder, make_driver: MakeDriver
) -> None:
    driver = make_driver(recorder, [peer.url])
    assert driver.wait_subscribed(15)
    with pytest.raises(MesosCallError) as caught:
        driver.accept(["o-1"], [{"type": "LAUNCH", "launch": {"task_infos": "not a list"}}])
    error = caught.value
    assert (error.call_type, error.status) == ("ACCEPT", 400)
    assert "Failed to convert JSON into Call protobuf" in str(error)
    assert peer.url in error.url


def test_stop_leaves_the_framework_and_its_tasks_running(
    peer, recorder, make_driver: MakeDriver, wait_until
) -> None:
    peer.add_rule(lambda info: True, Hang())
    driver = make_driver(recorder, [peer.url])
    launch_on_next_offer(recorder, wait_until, driver, ["t1"])
    wait_until(lambda: "TASK_RUNNING" in recorder.states("t1"), what="TASK_RUNNING")
    framework_id = driver.framework_id
    driver.stop()
    assert driver.join(15)
    peer.wait_for(lambda: not peer.frameworks[framework_id].connected)
    assert framework_id not in peer.removed_frameworks
    assert peer.tasks["t1"].state == "TASK_RUNNING"
    assert calls_of(peer, "TEARDOWN") == []
    assert recorder.of("disconnected") == [], "stopping is not a lost connection"


def test_teardown_removes_the_framework(peer, recorder, make_driver: MakeDriver, wait_until) -> None:
    peer.add_rule(lambda info: True, Hang())
    driver = make_driver(recorder, [peer.url])
    launch_on_next_offer(recorder, wait_until, driver, ["t1"])
    wait_until(lambda: "TASK_RUNNING" in recorder.states("t1"), what="TASK_RUNNING")
    framework_id = driver.framework_id
    driver.teardown()
    assert driver.join(15)
    peer.wait_for(lambda: framework_id in peer.removed_frameworks)
    peer.wait_for(lambda: peer.tasks["t1"].state == "TASK_KILLED")


def test_suppressed_roles_survive_a_resubscription(
    peer, recorder, make_driver: MakeDriver, wait_until
) -> None:
    driver = make_driver(recorder, [peer.url])
    assert driver.wait_subscribed(15)
    framework_id = driver.framework_id
    driver.suppress()
    peer.wait_for(lambda: peer.frameworks[framework_id].suppressed_roles == {"*"})
    peer.drop_subscriptions()
    wait_until(lambda: len(recorder.of("subscribed")) == 2, what="a second subscription")
    assert calls_of(peer, "SUBSCRIBE")[1]["subscribe"]["suppressed_roles"] == ["*"]
    assert peer.frameworks[framework_id].suppressed_roles == {"*"}
    driver.revive()
    peer.wait_for(lambda: peer.frameworks[framework_id].suppressed_roles == set())
    assert calls_of(peer, "REVIVE")[-1]["revive"] == {"roles": ["*"]}


def test_calls_from_many_threads_at_once(peer, recorder, make_driver: MakeDriver) -> None:
    driver = make_driver(recorder, [peer.url])
    assert driver.wait_subscribed(15)
    errors: list[BaseException] = []

    def reconcile_many(n: int) -> None:
        try:
            for i in range(5):
                driver.reconcile([(f"task-{n}-{i}", None)])
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=reconcile_many, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert len(calls_of(peer, "RECONCILE")) == 40
    assert all(status == 202 for call, status, _ in peer.responses if call == "RECONCILE")


def test_a_failing_task_is_reported_with_its_reason(
    peer, recorder, make_driver: MakeDriver, wait_until
) -> None:
    peer.add_rule(lambda info: "exit 1" in info["command"]["value"], Fail(after=0.01, message="boom"))
    driver = make_driver(recorder, [peer.url])
    launch_on_next_offer(recorder, wait_until, driver, ["t1"], cmd="exit 1")
    final = wait_until(
        lambda: [s for s in recorder.updates("t1") if s["state"] == "TASK_FAILED"], what="TASK_FAILED"
    )[0]
    assert final["message"] == "boom"
    assert final["source"] == "SOURCE_EXECUTOR"
