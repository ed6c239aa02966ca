"""Kill works in every state a task can be in, and a killed task is never retried."""

from __future__ import annotations

import pytest

from hippo_mesos_peer import Hang


def test_kill_pending_task_ends_at_once_without_mesos(hippo) -> None:
    posted = hippo.post_task(cpus=64)  # fits no agent: stays pending
    hippo.start_worker()
    killed = hippo.api.simulate_post(f"/tasks/{posted['mesos_id']}/kill/").json
    assert killed["state"] == "KILLED"
    assert hippo.peer.launch_count(posted["mesos_id"]) == 0
    assert not any(call == "KILL" for call, _ in hippo.peer.calls)


@pytest.mark.parametrize(
    ("how_to_get_there", "hippo_state"),
    [
        pytest.param(
            "launch_delay", "STAGING", marks=pytest.mark.peer(launch_delay=30.0), id="staging"
        ),  # the agent has not started it yet
        # TASK_STARTING after 3 s, TASK_RUNNING 3 s later: killed in between.
        pytest.param("launch_delay", "STARTING", marks=pytest.mark.peer(launch_delay=3.0), id="starting"),
        pytest.param("hang", "RUNNING", id="running"),
        pytest.param("partition", "UNREACHABLE", id="unreachable"),
    ],
)
def test_kill_active_task_ends_killed_and_is_never_retried(hippo, how_to_get_there, hippo_state) -> None:
    hippo.peer.add_rule(lambda ti: True, Hang())
    hippo.start_worker()
    posted = hippo.post_task(task_retries=3, system_retries=3)
    if how_to_get_there == "partition":
        task = hippo.wait_state(posted["mesos_id"], "RUNNING")
        hippo.peer.partition_agent(task["hostname"])
    hippo.wait_state(posted["mesos_id"], hippo_state)

    answer = hippo.api.simulate_post(f"/tasks/{posted['id']}/kill/")
    assert answer.status_code == 200
    assert answer.json["state"] == "KILLING"
    if how_to_get_there == "partition":
        # An unreachable agent cannot kill; the kill lands once the agent is back.
        hippo.wait(lambda: any(c == "KILL" for c, _ in hippo.peer.calls), "a KILL call")
        hippo.peer.heal_agent(hippo.task(posted["mesos_id"])["hostname"])
    task = hippo.wait_state(posted["mesos_id"], "KILLED")

    assert len(task["attempts"]) == 1, "a killed task is not retried"
    assert hippo.peer.tasks[posted["mesos_id"]].state == "TASK_KILLED"
    assert any(call == "KILL" for call, _ in hippo.peer.calls)


@pytest.mark.peer(kill_delay=3.0)
def test_kill_of_a_task_being_killed_changes_nothing(hippo) -> None:
    hippo.peer.add_rule(lambda ti: True, Hang())
    hippo.start_worker()
    posted = hippo.post_task()
    hippo.wait_state(posted["mesos_id"], "RUNNING")
    hippo.api.simulate_post(f"/tasks/{posted['mesos_id']}/kill/")
    hippo.wait(lambda: hippo.task(posted["mesos_id"])["mesos_state"] == "TASK_KILLING", "TASK_KILLING")
    again = hippo.api.simulate_post(f"/tasks/{posted['mesos_id']}/kill/")
    assert again.status_code == 200 and again.json["state"] == "KILLING"
    task = hippo.wait_state(posted["mesos_id"], "KILLED")
    assert len(task["attempts"]) == 1


def test_kill_of_a_finished_task_is_a_conflict(hippo) -> None:
    hippo.start_worker()
    posted = hippo.post_task()
    hippo.wait_state(posted["mesos_id"], "FINISHED")
    answer = hippo.api.simulate_post(f"/tasks/{posted['mesos_id']}/kill/")
    assert answer.status_code == 409


def test_force_delete_of_a_running_task_kills_it(hippo) -> None:
    hippo.peer.add_rule(lambda ti: True, Hang())
    hippo.start_worker()
    posted = hippo.post_task()
    hippo.wait_state(posted["mesos_id"], "RUNNING")
    assert hippo.api.simulate_delete(f"/tasks/{posted['mesos_id']}/").status_code == 409
    forced = hippo.api.simulate_delete(f"/tasks/{posted['mesos_id']}/", params={"force": "true"})
    assert forced.status_code == 204
    hippo.wait(
        lambda: hippo.peer.tasks[posted["mesos_id"]].state == "TASK_KILLED",
        "the deleted task killed on its agent",
    )
    assert hippo.api.simulate_get(f"/tasks/{posted['mesos_id']}/").status_code == 404
