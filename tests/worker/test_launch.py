"""Posted tasks run on the Mesos master test peer, and retries spend the right budget."""

from __future__ import annotations

import base64

from hippo_core.backends.mesos.backend import MesosBackend
from hippo_core.documents import validate_task
from hippo_core.errors import FieldError
from hippo_core.states import new_task
from hippo_mesos_peer import Error, Fail, Hang, Lose


def env_of(task_info: dict) -> dict[str, str]:
    return {v["name"]: v["value"] for v in task_info["command"]["environment"]["variables"]}


def test_one_off_task_runs_and_finishes(hippo) -> None:
    hippo.start_worker()
    posted = hippo.post_task(id="hello", cmd="echo hello", env={"GREETING": "hi", "N": 3}, data="a|b")
    task = hippo.wait_state(posted["mesos_id"], "FINISHED")

    assert task["mesos_state"] == "TASK_FINISHED"
    assert [a["state"] for a in task["attempts"]] == ["TASK_FINISHED"]
    attempt = task["attempts"][0]
    assert attempt["hostname"] in {"agent1", "agent2", "agent3"}
    assert attempt["launched_at"] and attempt["running_at"] and attempt["ended_at"]

    sim = hippo.peer.tasks[posted["mesos_id"]]
    info = sim.task_info
    assert info["command"]["value"] == "echo hello" and info["command"]["shell"] is True
    assert info["container"]["type"] == "DOCKER"
    assert info["container"]["docker"]["image"] == "busybox"
    assert info["container"]["docker"]["network"] == "BRIDGE"
    env = env_of(info)
    assert env["GREETING"] == "hi" and env["N"] == "3"
    assert env["HIPPO_TASK_ID"] == posted["mesos_id"]
    assert env["HIPPO_QUEUE_ID"] == ""
    assert env["HIPPO_DATA"] == "a|b"
    assert base64.b64decode(env["HIPPO_DATA_BASE64"]).decode() == "a|b"
    labels = {label["key"]: label["value"] for label in info["labels"]["labels"]}
    assert labels["hippo.family"] == "hello" and labels["hippo.task"] == posted["mesos_id"]
    assert hippo.peer.unacknowledged() == [], "every update with a uuid was acknowledged"


def test_failing_task_is_retried_exactly_task_retries_times(hippo) -> None:
    hippo.peer.add_rule(lambda ti: ti["command"]["value"] == "exit 1", Fail(after=0.02, message="exit 1"))
    hippo.start_worker()
    posted = hippo.post_task(cmd="exit 1", task_retries=2, system_retries=5)
    task = hippo.wait_state(posted["mesos_id"], "FAILED")

    assert [a["state"] for a in task["attempts"]] == ["TASK_FAILED"] * 3
    assert task["task_retries_used"] == 2 and task["system_retries_used"] == 0
    ids = [a["mesos_id"] for a in task["attempts"]]
    assert len(set(ids)) == 3, "every retry is a new attempt with a new mesos id"
    assert all(hippo.peer.launch_count(i) == 1 for i in ids)
    family = [t for t in hippo.peer.tasks.values() if t.task_id.startswith(posted["id"] + ".")]
    assert len(family) == 3, "the peer saw exactly three launches"
    # Any attempt's mesos id leads to the same task.
    assert hippo.task(ids[-1])["mesos_id"] == posted["mesos_id"]


def test_lost_task_spends_system_retries(hippo) -> None:
    hippo.peer.add_rule(lambda ti: "vanish" in ti["command"]["value"], Lose(after=0.02))
    hippo.start_worker()
    posted = hippo.post_task(cmd="vanish", task_retries=5, system_retries=2)
    task = hippo.wait_state(posted["mesos_id"], "FAILED")

    assert len(task["attempts"]) == 3
    assert {a["state"] for a in task["attempts"]} == {"TASK_GONE"}
    assert task["system_retries_used"] == 2 and task["task_retries_used"] == 0


def test_container_launch_failure_is_a_task_fault_with_its_reason(hippo) -> None:
    hippo.peer.add_rule(
        lambda ti: "badimage" in ti["command"]["value"],
        Error(reason="REASON_CONTAINER_LAUNCH_FAILED", message="no such image"),
    )
    hippo.start_worker()
    posted = hippo.post_task(cmd="badimage", task_retries=0)
    task = hippo.wait_state(posted["mesos_id"], "FAILED")
    assert task["reason"] == "REASON_CONTAINER_LAUNCH_FAILED"
    assert task["attempts"][0]["message"] == "no such image"


def test_task_that_fits_no_agent_stays_pending_with_a_reason(hippo) -> None:
    hippo.start_worker()
    posted = hippo.post_task(cpus=64)
    hippo.wait(
        lambda: (hippo.task(posted["mesos_id"]).get("pending_reason") or "").startswith(
            "no agent with 64 cpus"
        ),
        "the pending reason",
    )
    assert hippo.task(posted["mesos_id"])["state"] == "PENDING"
    assert hippo.peer.launch_count(posted["mesos_id"]) == 0


def test_offers_are_suppressed_when_idle_and_revived_when_work_arrives(hippo) -> None:
    hippo.start_worker()
    calls = lambda: [c for c, _ in hippo.peer.calls]  # noqa: E731
    hippo.wait(lambda: "SUPPRESS" in calls(), "SUPPRESS with nothing pending")
    before = len(calls())
    posted = hippo.post_task()
    hippo.wait_state(posted["mesos_id"], "FINISHED")
    after = calls()[before:]
    assert "REVIVE" in after, "work arriving revives offers"
    assert after.index("REVIVE") < after.index("ACCEPT")


def test_several_tasks_pack_into_one_accept(hippo) -> None:
    hippo.peer.add_rule(lambda ti: True, Hang())
    posted = [hippo.post_task(id="pack", cpus=1, mem=64, max_concurrent=20) for _ in range(6)]
    hippo.start_worker()
    hippo.wait(
        lambda: all(hippo.task(p["mesos_id"])["state"] == "RUNNING" for p in posted), "all six running"
    )
    accepts = [body for call, body in hippo.peer.calls if call == "ACCEPT"]
    launched = [len(op["launch"]["task_infos"]) for body in accepts for op in body["accept"]["operations"]]
    assert max(launched) > 1, f"tasks were packed: {launched}"


def test_declined_offers_carry_a_refuse_filter(hippo) -> None:
    hippo.start_worker()
    hippo.post_task(cpus=64)
    hippo.wait(lambda: any(c == "DECLINE" for c, _ in hippo.peer.calls), "a DECLINE")
    decline = next(body for call, body in hippo.peer.calls if call == "DECLINE")
    assert decline["decline"]["filters"]["refuse_seconds"] > 0


class NoSleepBackend(MesosBackend):
    """A backend with a rule of its own, as the Mesos and policy rules plug in."""

    def validate(self, definition):
        if "sleep" in definition["cmd"]:
            return [FieldError("$.cmd", "this cluster runs nothing that sleeps")]
        return []


def test_a_task_its_backend_could_never_run_fails_before_launch_and_spends_no_retry(hippo) -> None:
    # Stored directly, like a task created before the rule existed: the API would refuse it now.
    body = {"cmd": "sleep 5", "container": {"docker": {"image": "busybox"}}, "task_retries": 2}
    task = new_task(validate_task(body), family="old", queue_id=None, data="")
    hippo.store.create_tasks([task])
    fits = hippo.post_task(id="fine", cmd="true")

    def factory() -> MesosBackend:
        return NoSleepBackend([hippo.peer.url], failover_timeout=300.0, backoff_initial=0.05, backoff_max=0.5)

    hippo.start_worker(backend_factory=factory)
    failed = hippo.wait_state(task["mesos_id"], "FAILED")
    hippo.wait_state(fits["mesos_id"], "FINISHED")

    (attempt,) = failed["attempts"]
    assert (attempt["state"], attempt["reason"]) == ("TASK_ERROR", "REASON_TASK_INVALID")
    assert attempt["message"] == "$.cmd: this cluster runs nothing that sleeps"
    assert failed["task_retries_used"] == failed["system_retries_used"] == 0
    assert hippo.peer.launch_count(task["mesos_id"]) == 0


def test_a_task_lifecycle_and_the_term_are_published_once_each(hippo, hippo_events) -> None:
    hippo.start_worker()
    posted = hippo.post_task(id="seen", cmd="true")
    hippo.wait_state(posted["mesos_id"], "FINISHED")
    hippo.wait(lambda: any(e.kind == "offers.declined" for e in hippo_events), "a decline")

    mine = [e.kind for e in hippo_events if e.task_id == posted["mesos_id"]]
    assert mine == [
        "task.created",
        "task.STAGING",
        "task.launched",
        "task.STARTING",
        "task.RUNNING",
        "task.FINISHED",
    ]
    launched = next(e for e in hippo_events if e.kind == "task.launched")
    assert launched.hostname in {"agent1", "agent2", "agent3"} and launched.attempt_id == posted["mesos_id"]
    kinds = [e.kind for e in hippo_events]
    assert kinds.index("leader.changed") < kinds.index("backend.connected") < kinds.index("task.STAGING")
    leader = next(e for e in hippo_events if e.kind == "leader.changed")
    assert leader.data["leading"] is True
