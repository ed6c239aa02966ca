"""``/queues/``: create, list, read, update, toggle, delete; defaults, secrets, poller state."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import falcon.testing
import pytest

from hippo_core.api import create_app
from hippo_core.config import Config
from hippo_core.registry import QueueTypeRegistry

SLASHES = pytest.mark.parametrize("slash", ["", "/"], ids=["no-slash", "slash"])


def _create(client: Any, body: dict[str, Any]) -> dict[str, Any]:
    resp = client.simulate_post("/queues/", json=body)
    assert resp.status_code == 201, resp.text
    return resp.json


def _stored(redis_client: Any, queue_id: str) -> dict[str, Any]:
    return json.loads(redis_client.get(f"hippo:queue:{queue_id}"))


@SLASHES
@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_create_answers_201_with_location_and_defaults(client, queue_body, method, slash) -> None:
    resp = client.simulate_request(method, f"/queues{slash}", json=queue_body())
    assert resp.status_code == 201, resp.text
    record = resp.json
    assert uuid.UUID(record["id"])
    assert resp.headers["location"] == f"/queues/{record['id']}/"
    assert record["created_at"] == record["updated_at"]
    # The seed's defaults, filled in.
    assert record["container"]["docker"]["network"] == "BRIDGE"
    assert (record["task_retries"], record["system_retries"]) == (0, 2)
    assert record["queue"]["max_concurrent"] == 10000
    assert record["queue"]["status"] == "ENABLED"
    assert (record["queue"]["batch_size"], record["queue"]["frequency_seconds"]) == (1, 60)
    # Read back through its Location, it is the same record.
    assert client.simulate_get(resp.headers["location"]).json == record


def test_create_ignores_an_id_in_the_body(client, queue_body) -> None:
    """Hippo generates queue ids: one sent along is read-only and dropped."""
    record = _create(client, queue_body(id="my-own-id"))
    assert record["id"] != "my-own-id"
    assert uuid.UUID(record["id"])


@SLASHES
def test_read(client, queue_body, slash) -> None:
    record = _create(client, queue_body())
    resp = client.simulate_get(f"/queues/{record['id']}{slash}")
    assert resp.status_code == 200
    assert resp.json == record


@SLASHES
def test_list_is_newest_first_and_paged(client, queue_body, slash) -> None:
    ids = [_create(client, queue_body(cmd=f"echo {n}"))["id"] for n in range(5)]
    page = client.simulate_get(f"/queues{slash}").json
    assert [q["id"] for q in page["items"]] == ids[::-1]
    assert (page["total"], page["offset"], page["limit"]) == (5, 0, 100)
    page = client.simulate_get("/queues/", params={"offset": 1, "limit": 2}).json
    assert [q["id"] for q in page["items"]] == [ids[3], ids[2]]
    assert page["total"] == 5


def test_list_when_empty(client) -> None:
    assert client.simulate_get("/queues/").json == {"items": [], "total": 0, "offset": 0, "limit": 100}


@pytest.mark.parametrize(
    "params",
    [{"limit": "0"}, {"limit": "1001"}, {"limit": "ten"}, {"offset": "-1"}],
    ids=["limit-0", "limit-over-max", "limit-not-a-number", "negative-offset"],
)
def test_bad_paging_is_400(client, error_of, params) -> None:
    body = error_of(client.simulate_get("/queues/", params=params), 400)
    assert next(iter(params)) in body["description"]


@pytest.mark.parametrize(
    "path", [f"/queues/{uuid.uuid4()}", "/queues/not-a-uuid", f"/queues/{uuid.uuid4()}/toggle"]
)
def test_unknown_queue_is_404(client, error_of, path) -> None:
    # GET toggle changes state: without a bearer token it is refused before the queue is looked up.
    method = "POST" if path.endswith("/toggle") else "GET"
    error_of(client.simulate_request(method, path), 404)


@SLASHES
@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_update_replaces_the_definition_but_keeps_id_and_created_at(
    client, queue_body, redis_client, method, slash
) -> None:
    record = _create(client, queue_body(cpus=2, env={"A": "1"}))
    new_body = queue_body(cmd="echo changed")
    new_body["queue"]["batch_size"] = 5
    resp = client.simulate_request(method, f"/queues/{record['id']}{slash}", json=new_body)
    assert resp.status_code == 200, resp.text
    new = resp.json
    assert (new["id"], new["created_at"]) == (record["id"], record["created_at"])
    assert new["updated_at"] >= record["updated_at"]
    assert new["cmd"] == "echo changed"
    assert new["queue"]["batch_size"] == 5
    # Replaced, not merged: what the new body leaves out is back to its default.
    assert (new["cpus"], new["env"]) == (0.1, {})
    assert _stored(redis_client, record["id"])["cmd"] == "echo changed"
    assert client.simulate_get(f"/queues/{record['id']}/").json == new


def test_update_with_another_id_in_the_body_is_400(client, queue_body, error_of, redis_snapshot) -> None:
    record = _create(client, queue_body())
    before = redis_snapshot()
    resp = client.simulate_put(f"/queues/{record['id']}/", json=queue_body(id=str(uuid.uuid4())))
    assert error_of(resp, 400)["errors"][0]["path"] == "$.id"
    assert redis_snapshot() == before


def test_update_of_unknown_queue_is_404_and_writes_nothing(
    client, queue_body, error_of, redis_snapshot
) -> None:
    before = redis_snapshot()
    error_of(client.simulate_put(f"/queues/{uuid.uuid4()}/", json=queue_body()), 404)
    assert redis_snapshot() == before


def test_invalid_update_leaves_the_queue_as_it_was(client, queue_body, error_of, redis_snapshot) -> None:
    record = _create(client, queue_body())
    before = redis_snapshot()
    bad = queue_body(cpus=-1)
    bad["queue"]["batch_size"] = 0
    body = error_of(client.simulate_post(f"/queues/{record['id']}/", json=bad), 400)
    assert {e["path"] for e in body["errors"]} == {"$.cpus", "$.queue.batch_size"}
    assert redis_snapshot() == before


@SLASHES
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_toggle_both_ways(request, queue_body, redis_client, method, slash) -> None:
    # The seed's GET toggle changes state, so it takes a bearer token.
    client = request.getfixturevalue("admin_client" if method == "GET" else "client")
    record = _create(client, queue_body())
    path = f"/queues/{record['id']}/toggle{slash}"
    off = client.simulate_request(method, path)
    assert off.status_code == 200
    assert off.json["queue"]["status"] == "DISABLED"
    assert _stored(redis_client, record["id"])["queue"]["status"] == "DISABLED"
    on = client.simulate_request(method, path)
    assert on.json["queue"]["status"] == "ENABLED"
    assert on.json["id"] == record["id"]
    assert _stored(redis_client, record["id"])["queue"]["status"] == "ENABLED"


def test_a_queue_can_be_created_disabled(client, queue_body) -> None:
    body = queue_body()
    body["queue"]["status"] = "DISABLED"
    record = _create(client, body)
    assert record["queue"]["status"] == "DISABLED"
    toggled = client.simulate_post(f"/queues/{record['id']}/toggle/").json
    assert toggled["queue"]["status"] == "ENABLED"


@SLASHES
def test_delete(client, queue_body, store, redis_client, error_of, slash) -> None:
    record = _create(client, queue_body())
    store.set_queue_state(record["id"], {"cursor": 3})
    resp = client.simulate_delete(f"/queues/{record['id']}{slash}")
    assert resp.status_code == 204
    assert resp.text == ""
    error_of(client.simulate_get(f"/queues/{record['id']}/"), 404)
    assert client.simulate_get("/queues/").json["total"] == 0
    assert redis_client.keys("hippo:queue*") == []
    error_of(client.simulate_delete(f"/queues/{record['id']}/"), 404)


def test_unknown_queue_type_lists_installed_types_and_suggests(
    client, queue_body, error_of, redis_snapshot
) -> None:
    body = queue_body()
    body["queue"]["type"] = "memroy"
    body["queue"]["memroy"] = body["queue"].pop("memory")
    before = redis_snapshot()
    error = error_of(client.simulate_post("/queues/", json=body), 400)
    assert error["errors"] == [
        {
            "path": "$.queue.type",
            "message": "unknown queue type 'memroy'; did you mean 'memory'? installed: memory",
        }
    ]
    assert redis_snapshot() == before


def test_unknown_queue_type_without_a_close_name(client, queue_body, error_of) -> None:
    body = queue_body()
    body["queue"]["type"] = "kafka"
    del body["queue"]["memory"]
    [error] = error_of(client.simulate_post("/queues/", json=body), 400)["errors"]
    assert error["message"] == "unknown queue type 'kafka'; installed: memory"


def test_settings_are_validated_by_the_plugin(client, queue_body, error_of) -> None:
    body = queue_body()
    body["queue"]["memory"].update(start=4, stop=2, extra=1)
    del body["queue"]["memory"]["list"]
    errors = error_of(client.simulate_post("/queues/", json=body), 400)["errors"]
    assert {e["path"] for e in errors} == {"$.queue.memory.list", "$.queue.memory.extra"}
    # The plugin's cross-field rule runs once the schema passes.
    body["queue"]["memory"].update(list="jobs")
    del body["queue"]["memory"]["extra"]
    [error] = error_of(client.simulate_post("/queues/", json=body), 400)["errors"]
    assert error == {"path": "$.queue.memory.stop", "message": "must be greater than start (4), or null"}


def test_poller_state_is_shown_read_only(client, queue_body, store) -> None:
    record = _create(client, queue_body())
    assert {
        k: record["queue"][k]
        for k in ("last_run_tstamp", "next_run_tstamp", "last_error", "last_error_tstamp", "cursor")
    } == dict.fromkeys(("last_run_tstamp", "next_run_tstamp", "last_error", "last_error_tstamp", "cursor"))
    state = {
        "last_run_tstamp": 100.0,
        "next_run_tstamp": 160.0,
        "last_error": "source said no",
        "last_error_tstamp": 99.0,
        "cursor": 42,
    }
    store.set_queue_state(record["id"], state)
    shown = client.simulate_get(f"/queues/{record['id']}/").json
    assert {k: shown["queue"][k] for k in state} == state
    listed = client.simulate_get("/queues/").json["items"][0]
    assert listed["queue"]["cursor"] == 42
    # Sending the record back with other values changes neither the state nor the definition's keys.
    shown["queue"].update(cursor=0, last_error=None)
    updated = client.simulate_put(f"/queues/{record['id']}/", json=shown)
    assert updated.status_code == 200, updated.text
    assert updated.json["queue"]["cursor"] == 42
    assert updated.json["queue"]["last_error"] == "source said no"
    assert store.get_queue_states([record["id"]]) == [state]
    assert "cursor" not in store.get_queue(record["id"])["queue"]


# -- secrets ------------------------------------------------------------------------------


def _assert_no_secret(text: str, secrets: tuple[str, str]) -> None:
    for secret in secrets:
        assert secret not in text


def test_secrets_are_masked_in_every_answer(client, queue_body, secrets_sent, redis_client) -> None:
    token, password = secrets_sent
    created = client.simulate_post("/queues/", json=queue_body())
    record = created.json
    qid = record["id"]
    assert record["queue"]["memory"]["token"] == "********"
    assert record["queue"]["memory"]["url"] == "memory://app:********@broker/jobs"
    answers = [
        created,
        client.simulate_get(f"/queues/{qid}/"),
        client.simulate_get("/queues/"),
        client.simulate_put(f"/queues/{qid}/", json=record),
        client.simulate_post(f"/queues/{qid}/toggle/"),
    ]
    for resp in answers:
        assert resp.status_code in (200, 201), resp.text
        _assert_no_secret(resp.text, secrets_sent)
    # Stored in full: the worker needs them.
    stored = _stored(redis_client, qid)["queue"]["memory"]
    assert stored["token"] == token
    assert stored["url"] == f"memory://app:{password}@broker/jobs"


def test_secrets_stay_hidden_when_the_queue_type_is_gone(client, queue_body, store, secrets_sent) -> None:
    """Without its plugin nobody knows which settings are secret: every setting is masked."""
    record = _create(client, queue_body())
    without_plugin = falcon.testing.TestClient(create_app(Config(), store, QueueTypeRegistry.of()))
    for resp in (
        without_plugin.simulate_get(f"/queues/{record['id']}/"),
        without_plugin.simulate_get("/queues/"),
        without_plugin.simulate_post(f"/queues/{record['id']}/toggle/"),
    ):
        assert resp.status_code == 200, resp.text
        _assert_no_secret(resp.text, secrets_sent)
    shown = without_plugin.simulate_get(f"/queues/{record['id']}/").json["queue"]["memory"]
    assert shown == {"list": "********", "token": "********", "url": "********", "start": 0, "stop": None}


def test_a_masked_secret_sent_back_keeps_the_stored_one(
    client, queue_body, secrets_sent, redis_client
) -> None:
    token, password = secrets_sent
    record = _create(client, queue_body())
    # Edit what was read: the name; the secrets go back masked.
    record["queue"]["name"] = "renamed"
    resp = client.simulate_post(f"/queues/{record['id']}/", json=record)
    assert resp.status_code == 200, resp.text
    stored = _stored(redis_client, record["id"])["queue"]
    assert stored["name"] == "renamed"
    assert stored["memory"]["token"] == token
    assert stored["memory"]["url"].endswith(f":{password}@broker/jobs")


def test_a_masked_secret_does_not_follow_its_settings_elsewhere(
    client, queue_body, error_of, redis_snapshot
) -> None:
    """Pointing a queue at another host with its password masked must not send the stored one there."""
    record = _create(client, queue_body())
    record["queue"]["memory"]["url"] = "memory://app:********@other-broker/jobs"
    record["queue"]["memory"]["list"] = "elsewhere"
    before = redis_snapshot()
    errors = error_of(client.simulate_post(f"/queues/{record['id']}/", json=record), 400)["errors"]
    assert {e["path"] for e in errors} == {"$.queue.memory.url", "$.queue.memory.token"}
    assert redis_snapshot() == before


def test_a_new_secret_replaces_the_stored_one(client, queue_body, redis_client) -> None:
    record = _create(client, queue_body())
    record["queue"]["memory"].update(token="brand-new-token", url="memory://app:newpw@broker/jobs")
    assert client.simulate_put(f"/queues/{record['id']}/", json=record).status_code == 200
    stored = _stored(redis_client, record["id"])["queue"]["memory"]
    assert (stored["token"], stored["url"]) == ("brand-new-token", "memory://app:newpw@broker/jobs")


def test_a_mask_with_nothing_to_keep_is_refused(client, queue_body, error_of, redis_snapshot) -> None:
    """Creating a queue from a masked record would store the mask as the secret: 400 instead."""
    body = queue_body()
    body["queue"]["memory"].update(token="********", url="memory://app:********@broker/jobs")
    before = redis_snapshot()
    errors = error_of(client.simulate_post("/queues/", json=body), 400)["errors"]
    assert {e["path"] for e in errors} == {"$.queue.memory.token", "$.queue.memory.url"}
    assert redis_snapshot() == before


@pytest.mark.parametrize(
    ("settings", "path"),
    [
        ({"token": "tok-7f3"}, "$.queue.memory.token"),  # fails the 8+ characters pattern
        ({"token": "tok-7f3a9c1e5b", "url": "redis://app:pw-5d8e2b6a0c@h/x"}, "$.queue.memory.url"),
        ({"token": "tok-7f3a9c1e5b", "start": 5, "stop": 1}, "$.queue.memory.stop"),
        ({"token": "tok-7f3a9c1e5b", "start": 5, "stop": 5}, "$.queue.memory.stop"),
    ],
    ids=["bad-token", "bad-url", "cross-field-schema", "cross-field-rule"],
)
def test_secrets_stay_out_of_validation_errors_and_logs(
    client, queue_body, error_of, caplog, settings, path
) -> None:
    caplog.set_level(logging.DEBUG)
    body = queue_body()
    body["queue"]["memory"].update(settings)
    resp = client.simulate_post("/queues/", json=body)
    error = error_of(resp, 400)
    assert path in {e["path"] for e in error["errors"]}
    for value in ("tok-7f3", "pw-5d8e2b6a0c"):
        assert value not in resp.text
        assert value not in caplog.text
    assert "rejected" in caplog.text  # the rejection itself is logged, without the secrets


def test_secrets_never_reach_the_log(client, queue_body, secrets_sent, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    record = _create(client, queue_body())
    client.simulate_put(f"/queues/{record['id']}/", json=record)
    client.simulate_post(f"/queues/{record['id']}/toggle/")
    client.simulate_get("/queues/")
    client.simulate_delete(f"/queues/{record['id']}/")
    assert caplog.records, "queue changes are logged"
    _assert_no_secret(caplog.text, secrets_sent)
