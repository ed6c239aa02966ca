"""``/tasks/``: one-off tasks, addressing by family id and mesos ids, listing, kill, delete, re-run."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from hippo_core import states
from hippo_core.backend import TaskStatus

SLASHES = pytest.mark.parametrize("slash", ["", "/"], ids=["no-slash", "slash"])


def _post(client: Any, body: dict[str, Any]) -> dict[str, Any]:
    resp = client.simulate_post("/tasks/", json=body)
    assert resp.status_code == 201, resp.text
    return resp.json


def _launch(store: Any, mesos_id: str) -> dict[str, Any]:
    """Make a task active, as the worker does when it sends the launch."""
    return store.update_task(mesos_id, lambda t: states.mark_launched(t, "agent-1", "host-1"))


def _status(store: Any, mesos_id: str, attempt_id: str, state: str) -> dict[str, Any]:
    """Apply a status update of one attempt, as the worker does when Mesos reports it."""
    return store.update_task(
        mesos_id, lambda t: states.apply_status(t, TaskStatus(attempt_id, state, agent_id="agent-1")).task
    )


@SLASHES
def test_post_answers_201_with_location_and_defaults(client, task_body, slash) -> None:
    resp = client.simulate_post(f"/tasks{slash}", json=task_body())
    assert resp.status_code == 201, resp.text
    task = resp.json
    family, _, attempt_uuid = task["mesos_id"].rpartition(".")
    assert family == task["id"]
    assert uuid.UUID(task["id"]) and uuid.UUID(attempt_uuid)
    assert resp.headers["location"] == f"/tasks/{task['mesos_id']}/"
    assert task["state"] == "PENDING"
    assert task["mesos_state"] == "WAITING_ON_OFFERS"
    assert task["queue_id"] is None
    assert (task["max_concurrent"], task["task_retries"], task["system_retries"]) == (10, 0, 2)
    assert task["container"]["docker"]["network"] == "BRIDGE"
    assert [(a["n"], a["mesos_id"]) for a in task["attempts"]] == [(1, task["mesos_id"])]
    assert client.simulate_get(resp.headers["location"]).json == task


def test_post_with_a_family_id(client, task_body) -> None:
    task = _post(client, task_body(id="nightly-report", data="2024-01-01", env={"N": 3}))
    assert task["id"] == "nightly-report"
    assert task["mesos_id"].startswith("nightly-report.")
    assert task["data"] == "2024-01-01"
    assert task["env"] == {"N": "3"}  # numbers become strings


def test_post_with_a_queue_id_as_family_is_409(
    client, task_body, queue_body, error_of, redis_snapshot
) -> None:
    queue = client.simulate_post("/queues/", json=queue_body()).json
    before = redis_snapshot()
    body = error_of(client.simulate_post("/tasks/", json=task_body(id=queue["id"])), 409)
    assert queue["id"] in body["description"]
    assert redis_snapshot() == before


def test_post_invalid_task_names_every_field(client, task_body, error_of, redis_snapshot) -> None:
    before = redis_snapshot()
    resp = client.simulate_post("/tasks/", json=task_body(task_retry=1, mem="a lot", id="bad id"))
    errors = error_of(resp, 400)["errors"]
    assert {e["path"] for e in errors} == {"$.task_retry", "$.mem", "$.id"}
    assert "did you mean 'task_retries'?" in next(e["message"] for e in errors if e["path"] == "$.task_retry")
    assert redis_snapshot() == before


@SLASHES
def test_a_task_is_found_by_mesos_id_and_by_family_id(client, task_body, slash) -> None:
    first = _post(client, task_body(id="report"))
    second = _post(client, task_body(id="report"))
    assert client.simulate_get(f"/tasks/{first['mesos_id']}{slash}").json["mesos_id"] == first["mesos_id"]
    # A family id means the family's newest task.
    assert client.simulate_get(f"/tasks/report{slash}").json["mesos_id"] == second["mesos_id"]


def test_retries_are_attempts_of_one_task_found_by_any_attempt_id(client, task_body, store) -> None:
    task = _post(client, task_body(task_retries=1))
    first_attempt = task["mesos_id"]
    _launch(store, first_attempt)
    retried = _status(store, first_attempt, first_attempt, "TASK_FAILED")
    assert retried["state"] == "PENDING"
    second_attempt = retried["attempts"][-1]["mesos_id"]
    assert second_attempt != first_attempt
    for ident in (first_attempt, second_attempt, task["id"]):
        shown = client.simulate_get(f"/tasks/{ident}/").json
        assert shown["mesos_id"] == first_attempt, ident
        assert [a["mesos_id"] for a in shown["attempts"]] == [first_attempt, second_attempt]
        assert shown["task_retries_used"] == 1


@pytest.mark.parametrize("ident", ["nothing-here", f"report.{uuid.uuid4()}"])
@pytest.mark.parametrize("suffix", ["", "/kill", "/retry"])
def test_unknown_task_is_404(client, error_of, task_body, ident, suffix) -> None:
    _post(client, task_body(id="report"))
    method = "GET" if suffix == "" else "POST"
    body = error_of(client.simulate_request(method, f"/tasks/{ident}{suffix}/"), 404)
    assert ident in body["description"]
    error_of(client.simulate_delete(f"/tasks/{ident}/"), 404)


# -- listing ------------------------------------------------------------------------------


def _store_tasks(
    store: Any, specs: list[tuple[str, str | None]], start: float = 1000.0
) -> list[dict[str, Any]]:
    """Tasks of the given (family, queue_id), created one second apart in that order."""
    definition = {
        "cmd": "true",
        "container": {"docker": {"image": "busybox"}},
        "max_concurrent": 10,
        "task_retries": 0,
        "system_retries": 2,
    }
    tasks = [
        states.new_task(definition, family, queue_id, data=str(n), now=start + n)
        for n, (family, queue_id) in enumerate(specs)
    ]
    store.create_tasks(tasks)
    return tasks


@SLASHES
def test_list_is_newest_first_and_paged(client, store, slash) -> None:
    tasks = _store_tasks(store, [("a", None)] * 7)
    newest_first = [t["mesos_id"] for t in reversed(tasks)]
    page = client.simulate_get(f"/tasks{slash}").json
    assert [t["mesos_id"] for t in page["items"]] == newest_first
    assert (page["total"], page["offset"], page["limit"]) == (7, 0, 100)
    page = client.simulate_get("/tasks/", params={"offset": 2, "limit": 3}).json
    assert [t["mesos_id"] for t in page["items"]] == newest_first[2:5]
    page = client.simulate_get("/tasks/", params={"offset": 6, "limit": 3}).json
    assert [t["mesos_id"] for t in page["items"]] == newest_first[6:]
    assert client.simulate_get("/tasks/", params={"offset": 50}).json["items"] == []


def test_list_filters(client, store) -> None:
    queue_id = str(uuid.uuid4())
    specs = [("a", None), ("b", None), (queue_id, queue_id), ("a", None), (queue_id, queue_id)]
    tasks = _store_tasks(store, specs)
    store.update_task(tasks[0]["mesos_id"], lambda t: states.request_kill(t).task)
    _launch(store, tasks[4]["mesos_id"])

    def ids(**params: str) -> list[str]:
        resp = client.simulate_get("/tasks/", params=params)
        assert resp.status_code == 200, resp.text
        assert resp.json["total"] == len(resp.json["items"])
        return [t["mesos_id"] for t in resp.json["items"]]

    m = [t["mesos_id"] for t in tasks]
    assert ids(id="a") == [m[3], m[0]]
    assert ids(queue_id=queue_id) == [m[4], m[2]]
    assert ids(state="PENDING") == [m[3], m[2], m[1]]
    assert ids(state="killed") == [m[0]]  # any case
    assert ids(state="STAGING", queue_id=queue_id) == [m[4]]
    assert ids(state="PENDING", id="a") == [m[3]]
    assert ids(id="nobody") == []
    # Filters select together: a family and a queue select that queue's tasks only if the
    # family is the queue's, and nothing otherwise (it is no error to ask).
    assert ids(id=queue_id, queue_id=queue_id) == [m[4], m[2]]
    assert ids(id="a", queue_id=queue_id) == []


@pytest.mark.parametrize(("params", "field"), [({"state": "SLEEPING"}, "state")])
def test_bad_filters_are_400(client, error_of, params, field) -> None:
    assert field in error_of(client.simulate_get("/tasks/", params=params), 400)["description"]


def _commands_during(redis_client: Any, action: Callable[[], Any]) -> list[list[str]]:
    """Every Redis command (split into words) any client sent while ``action`` ran."""
    marker = f"end-of-action-{uuid.uuid4()}"
    with redis_client.monitor() as monitor:
        action()
        redis_client.echo(marker)
        commands = []
        while True:
            command = monitor.next_command()["command"]
            if marker in command:
                return commands
            commands.append(command.split())


@pytest.mark.parametrize(
    "params",
    [{}, {"state": "PENDING"}, {"id": "fam-1"}, {"state": "PENDING", "id": "fam-2"}],
    ids=["all", "by-state", "by-family", "by-state-and-family"],
)
def test_a_page_from_the_middle_reads_only_that_page(client, store, redis_client, params) -> None:
    """Paging is O(page): one index range of the page, one count, one read of the page's records,
    in one round trip (a script)."""
    tasks = _store_tasks(store, [(f"fam-{n % 3}", None) for n in range(300)])
    for task in tasks[::4]:
        _launch(store, task["mesos_id"])
    state, family = params.get("state"), params.get("id")
    matching = [
        t["mesos_id"]
        for t in reversed(tasks)
        if (family is None or t["id"] == family)
        and (state is None or t["mesos_id"] not in {x["mesos_id"] for x in tasks[::4]})
    ]
    offset, limit = 40, 10
    query = {**params, "offset": offset, "limit": limit}
    result: dict[str, Any] = {}
    commands = _commands_during(
        redis_client, lambda: result.update(resp=client.simulate_get("/tasks/", params=query))
    )
    page = result["resp"].json
    assert [t["mesos_id"] for t in page["items"]] == matching[offset : offset + limit]
    assert page["total"] == len(matching)
    # Connection handshakes (of any client) are not part of the listing.
    commands = [c for c in commands if c[0].upper() not in ("HELLO", "CLIENT", "SELECT", "PING")]
    calls = [c for c in commands if c[0].strip('"').upper() in ("EVALSHA", "EVAL")]
    # A script not cached yet is sent again in full: one call that ran.
    assert len([c for c in calls if c[0].strip('"').upper() == "EVALSHA"]) == 1, commands
    commands = [c for c in commands if c not in calls]
    names = [c[0].strip('"').upper() for c in commands]
    assert sorted(names) == ["MGET", "ZCARD", "ZREVRANGE"], commands
    zrevrange = commands[names.index("ZREVRANGE")]
    assert [w.strip('"') for w in zrevrange[2:4]] == [str(offset), str(offset + limit - 1)]
    assert len(commands[names.index("MGET")]) - 1 == limit


# -- kill, delete, re-run -----------------------------------------------------------------


@SLASHES
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_kill_of_a_pending_task_ends_it_at_once(request, task_body, store, method, slash) -> None:
    # The seed's GET kill changes state, so it takes a bearer token.
    client = request.getfixturevalue("admin_client" if method == "GET" else "client")
    task = _post(client, task_body())
    resp = client.simulate_request(method, f"/tasks/{task['mesos_id']}/kill{slash}")
    assert resp.status_code == 200, resp.text
    assert resp.json["state"] == "KILLED"
    assert resp.json["kill_requested"] is True
    assert resp.json["attempts"][-1]["state"] == "TASK_KILLED"
    # Nothing ran, so there is nothing for the worker to kill.
    assert store.kill_requests() == {}
    listed = client.simulate_get("/tasks/", params={"state": "KILLED"}).json["items"]
    assert [t["mesos_id"] for t in listed] == [task["mesos_id"]]
    assert client.simulate_get("/tasks/", params={"state": "PENDING"}).json["total"] == 0


def test_kill_of_an_active_task_asks_the_worker(client, task_body, store) -> None:
    task = _post(client, task_body())
    _launch(store, task["mesos_id"])
    resp = client.simulate_post(f"/tasks/{task['id']}/kill/")
    assert resp.status_code == 200, resp.text
    assert resp.json["state"] == "KILLING"
    assert store.kill_requests() == {task["mesos_id"]: "agent-1"}
    # Killing again is harmless: same answer, one request.
    again = client.simulate_post(f"/tasks/{task['id']}/kill/")
    assert again.json["state"] == "KILLING"
    assert store.kill_requests() == {task["mesos_id"]: "agent-1"}


def test_kill_of_a_killed_task_changes_nothing(client, task_body, redis_snapshot) -> None:
    task = _post(client, task_body())
    client.simulate_post(f"/tasks/{task['mesos_id']}/kill/")
    before = redis_snapshot()
    resp = client.simulate_post(f"/tasks/{task['mesos_id']}/kill/")
    assert resp.json["state"] == "KILLED"
    assert redis_snapshot() == before


def test_kill_of_a_finished_task_is_409(client, task_body, store, error_of, redis_snapshot) -> None:
    task = _post(client, task_body())
    _launch(store, task["mesos_id"])
    _status(store, task["mesos_id"], task["mesos_id"], "TASK_FINISHED")
    before = redis_snapshot()
    body = error_of(client.simulate_post(f"/tasks/{task['mesos_id']}/kill/"), 409)
    assert "FINISHED" in body["description"]
    assert redis_snapshot() == before


@SLASHES
def test_delete_of_a_pending_task(client, task_body, store, error_of, redis_client, slash) -> None:
    task = _post(client, task_body(id="gone"))
    resp = client.simulate_delete(f"/tasks/{task['mesos_id']}{slash}")
    assert resp.status_code == 204
    error_of(client.simulate_get(f"/tasks/{task['mesos_id']}/"), 404)
    error_of(client.simulate_get("/tasks/gone/"), 404)
    assert client.simulate_get("/tasks/").json["total"] == 0
    assert store.state_counts()["PENDING"] == 0
    # No index or attempt entry is left behind.
    leftovers = {k: redis_client.type(k) for k in redis_client.keys("hippo:*")}
    assert all(redis_client.zcard(k) == 0 for k, kind in leftovers.items() if kind == "zset")
    assert store.task_for_attempt(task["mesos_id"]) is None


def test_delete_of_an_active_task_needs_force(client, task_body, store, error_of, redis_snapshot) -> None:
    task = _post(client, task_body())
    _launch(store, task["mesos_id"])
    before = redis_snapshot()
    for query in ("", "?force=false"):
        body = error_of(client.simulate_delete(f"/tasks/{task['mesos_id']}/{query}"), 409)
        assert "force=true" in body["description"]
        assert redis_snapshot() == before
    resp = client.simulate_delete(f"/tasks/{task['mesos_id']}/", params={"force": "true"})
    assert resp.status_code == 204
    error_of(client.simulate_get(f"/tasks/{task['mesos_id']}/"), 404)
    assert store.state_counts()["STAGING"] == 0
    # The running container is not forgotten: the worker is asked to kill it.
    assert store.kill_requests() == {task["mesos_id"]: "agent-1"}


@SLASHES
def test_rerun_of_an_ended_task(client, task_body, store, slash) -> None:
    task = _post(client, task_body(task_retries=0))
    _launch(store, task["mesos_id"])
    failed = _status(store, task["mesos_id"], task["mesos_id"], "TASK_FAILED")
    assert failed["state"] == "FAILED"
    resp = client.simulate_post(f"/tasks/{task['mesos_id']}/retry{slash}")
    assert resp.status_code == 200, resp.text
    rerun = resp.json
    assert rerun["state"] == "PENDING"
    assert rerun["mesos_id"] == task["mesos_id"]
    assert len(rerun["attempts"]) == 2
    new_attempt = rerun["attempts"][-1]["mesos_id"]
    assert client.simulate_get(f"/tasks/{new_attempt}/").json["mesos_id"] == task["mesos_id"]
    assert [t["mesos_id"] for t in client.simulate_get("/tasks/?state=PENDING").json["items"]] == [
        task["mesos_id"]
    ]
    assert client.simulate_get("/tasks/?state=FAILED").json["total"] == 0


def test_rerun_of_a_task_that_has_not_ended_is_409(client, task_body, error_of, redis_snapshot) -> None:
    task = _post(client, task_body())
    before = redis_snapshot()
    body = error_of(client.simulate_post(f"/tasks/{task['mesos_id']}/retry/"), 409)
    assert "PENDING" in body["description"]
    assert redis_snapshot() == before
