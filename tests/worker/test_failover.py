"""Failover: the framework id survives in Redis, a new worker reconciles, nothing is lost or doubled."""

from __future__ import annotations

from hippo_mesos_peer import Finish, Hang


def subscribes(peer) -> list[dict]:
    return [body for call, body in peer.calls if call == "SUBSCRIBE"]


def test_restarted_worker_resubscribes_as_the_same_framework_and_reconciles(hippo) -> None:
    hippo.peer.add_rule(lambda ti: True, Hang())
    first = hippo.start_worker()
    posted = hippo.post_task()
    hippo.wait_state(posted["mesos_id"], "RUNNING")
    framework_id = hippo.store.framework_id()
    assert framework_id and framework_id in hippo.peer.frameworks
    first.stop()

    hippo.start_worker()
    hippo.wait(lambda: len(subscribes(hippo.peer)) == 2, "a second SUBSCRIBE")
    again = subscribes(hippo.peer)[1]
    assert again["subscribe"]["framework_info"]["id"]["value"] == framework_id

    def reconciled_explicitly() -> bool:
        return any(
            call == "RECONCILE"
            and any(t["task_id"]["value"] == posted["mesos_id"] for t in body["reconcile"]["tasks"])
            for call, body in hippo.peer.calls
        )

    hippo.wait(reconciled_explicitly, "explicit reconciliation of the running task")
    assert any(
        call == "RECONCILE" and body["reconcile"].get("tasks", []) == [] for call, body in hippo.peer.calls
    ), "then an implicit one"

    assert hippo.task(posted["mesos_id"])["state"] == "RUNNING"
    assert hippo.peer.launch_count(posted["mesos_id"]) == 1
    killed = hippo.api.simulate_post(f"/tasks/{posted['mesos_id']}/kill/").json
    assert killed["state"] == "KILLING"
    hippo.wait_state(posted["mesos_id"], "KILLED")


def test_only_the_leader_drives_mesos_and_a_standby_takes_over(hippo) -> None:
    leader = hippo.start_worker()
    hippo.wait(lambda: len(subscribes(hippo.peer)) == 1, "the leader's SUBSCRIBE")
    standby = hippo.start_worker()
    posted = hippo.post_task()
    hippo.wait_state(posted["mesos_id"], "FINISHED")
    assert len(subscribes(hippo.peer)) == 1, "the standby does not subscribe while the lease is held"
    assert standby.worker.leading is False

    leader.stop()
    hippo.wait(lambda: len(subscribes(hippo.peer)) == 2, "the standby's SUBSCRIBE", timeout=15)
    assert standby.worker.leading
    later = hippo.post_task()
    hippo.wait_state(later["mesos_id"], "FINISHED")


def test_master_restart_is_survived_without_losing_or_doubling_tasks(hippo) -> None:
    hippo.peer.add_rule(lambda ti: "long" in ti["command"]["value"], Finish(after=1.5))
    hippo.start_worker()
    tasks = [hippo.post_task(cmd="long") for _ in range(3)]
    for t in tasks:
        hippo.wait_state(t["mesos_id"], "RUNNING")
    hippo.peer.restart()
    for t in tasks:
        hippo.wait_state(t["mesos_id"], "FINISHED")
    assert all(hippo.peer.launch_count(t["mesos_id"]) == 1 for t in tasks)
    assert all(len(hippo.task(t["mesos_id"])["attempts"]) == 1 for t in tasks)
    assert len(subscribes(hippo.peer)) >= 2


def test_dropped_subscription_is_resubscribed(hippo) -> None:
    hippo.start_worker()
    hippo.wait(lambda: len(subscribes(hippo.peer)) == 1, "SUBSCRIBE")
    hippo.peer.drop_subscriptions()
    hippo.wait(lambda: len(subscribes(hippo.peer)) == 2, "a new SUBSCRIBE")
    posted = hippo.post_task()
    hippo.wait_state(posted["mesos_id"], "FINISHED")


def test_task_of_a_removed_agent_is_retried_elsewhere(hippo) -> None:
    hippo.peer.add_rule(lambda ti: True, Hang())
    hippo.start_worker()
    posted = hippo.post_task(system_retries=1)
    first = hippo.wait_state(posted["mesos_id"], "RUNNING")
    hippo.peer.remove_agent(first["hostname"])
    hippo.wait(lambda: len(hippo.task(posted["mesos_id"])["attempts"]) == 2, "a retry")
    task = hippo.wait_state(posted["mesos_id"], "RUNNING")
    assert task["attempts"][0]["state"] in {"TASK_GONE", "TASK_GONE_BY_OPERATOR", "TASK_LOST"}
    assert task["system_retries_used"] == 1
    assert task["hostname"] != first["hostname"]


def test_unreachable_task_that_comes_back_is_not_retried(hippo) -> None:
    hippo.peer.add_rule(lambda ti: True, Hang())
    hippo.start_worker()
    posted = hippo.post_task()
    running = hippo.wait_state(posted["mesos_id"], "RUNNING")
    hippo.peer.partition_agent(running["hostname"])
    hippo.wait_state(posted["mesos_id"], "UNREACHABLE")
    hippo.peer.heal_agent(running["hostname"])
    task = hippo.wait_state(posted["mesos_id"], "RUNNING")
    assert len(task["attempts"]) == 1


def test_unreachable_too_long_is_retried_and_the_old_attempt_killed_when_it_returns(hippo) -> None:
    hippo.peer.add_rule(lambda ti: True, Hang())
    hippo.start_worker(unreachable_timeout=0.5)
    posted = hippo.post_task(system_retries=1)
    running = hippo.wait_state(posted["mesos_id"], "RUNNING")
    hippo.peer.partition_agent(running["hostname"])
    hippo.wait(lambda: len(hippo.task(posted["mesos_id"])["attempts"]) == 2, "a retry")
    hippo.wait_state(posted["mesos_id"], "RUNNING")
    hippo.peer.heal_agent(running["hostname"])
    old = posted["mesos_id"]
    hippo.wait(lambda: hippo.peer.tasks[old].state == "TASK_KILLED", "the old attempt killed")
    task = hippo.task(posted["mesos_id"])
    assert task["state"] == "RUNNING"
    assert task["attempts"][0]["state"] == "HIPPO_UNREACHABLE_TIMEOUT", "how Hippo ended it stays"
    # The master's "running again" and the kill's answer may arrive in either order; what
    # Mesos says last of the old attempt is that it ended, recorded beside how Hippo ended it.
    hippo.wait(
        lambda: (
            hippo.task(posted["mesos_id"])["attempts"][0].get("reported_state")
            in {"TASK_KILLED", "TASK_LOST", "TASK_GONE", "TASK_UNKNOWN"}
        ),
        "what Mesos said of the old attempt recorded beside it",
    )
