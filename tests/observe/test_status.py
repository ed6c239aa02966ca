"""``GET /status/``: the leader, its backend, tasks by state, the last hour, queues' counts."""

from __future__ import annotations

import jsonschema
import pytest

from hippo_core import schemas
from hippo_core.status import StatusService
from hippo_core.store import Store

from .conftest import Process, one_off

STATUS = jsonschema.Draft202012Validator(schemas.load("status"))


@pytest.mark.slow
def test_hippo_up_reports_its_leader_backend_tasks_and_queues(hippo_up: Process) -> None:
    hippo_up.post("/tasks/", one_off("true", id="ok-status"))
    hippo_up.post("/tasks/", one_off("exit 1", id="bad-status", task_retries=1))
    hippo_up.wait_task("ok-status", ("FINISHED",))
    hippo_up.wait_task("bad-status", ("FAILED",))
    queue = hippo_up.post(
        "/queues/",
        {
            **one_off("true"),
            "queue": {"type": "redis", "name": "idle", "status": "DISABLED", "redis": {"name": "l"}},
        },
    )

    status = hippo_up.get("/status/")
    STATUS.validate(status)
    assert status["leader"]["term"] and status["leader"]["lease_seconds_left"] > 0
    assert status["backend"]["connected"] is True and status["backend"]["backend"] == "local"
    assert status["tasks"]["FINISHED"] >= 1 and status["tasks"]["FAILED"] >= 1
    last_hour = status["last_hour"]
    # ok-status once, bad-status twice (one retry), at least.
    assert last_hour["launched"] >= 3 and last_hour["finished"] >= 1
    assert last_hour["failed"] >= 1 and last_hour["retried"] >= 1
    listed = next(q for q in status["queues"] if q["id"] == queue["id"])
    assert listed == {
        "id": queue["id"],
        "name": "idle",
        "type": "redis",
        "status": "DISABLED",
        "max_concurrent": 10000,
        "active": 0,
        "pending": 0,
        "last_run_tstamp": None,
        "next_run_tstamp": None,
        "last_error": None,
    }
    assert hippo_up.get(f"/queues/{queue['id']}/")["queue"]["active"] == 0


def test_nobody_leading_and_a_stale_backend_report(store: Store) -> None:
    service = StatusService(store)
    status = service.status()
    STATUS.validate(status)
    assert status["leader"] is None
    assert status["backend"] == {"connected": False, "message": "no worker leads"}
    # A report of an earlier term does not speak for the current leader.
    store.set_backend_status({"term": "old-host:1", "connected": True, "backend": "mesos"})
    assert store.acquire_lease("new-host:2", 10)
    status = service.status()
    assert status["leader"]["host"] == "new-host" and status["leader"]["term"] == "new-host:2"
    assert status["backend"]["connected"] is False


def test_queues_count_their_pending_and_active_tasks(client, store: Store, queue_body) -> None:
    from hippo_core import states

    queue = client.simulate_post("/queues/", json=queue_body()).json
    definition = {k: queue[k] for k in ("cmd", "cpus", "mem", "container", "env", "constraints")}
    definition.update(task_retries=0, system_retries=0, max_concurrent=10)
    tasks = [
        states.new_task(definition, family=queue["id"], queue_id=queue["id"], data=str(i)) for i in range(3)
    ]
    store.create_tasks(tasks)
    store.update_task(tasks[0]["mesos_id"], lambda t: states.mark_launched(t, "agent-1", "host-1"))

    for body in (
        client.simulate_get(f"/queues/{queue['id']}/").json,
        client.simulate_get("/queues/").json["items"][0],
    ):
        assert (body["queue"]["active"], body["queue"]["pending"]) == (1, 2)
