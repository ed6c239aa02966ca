"""Secrets at rest: sealed in Redis, opened for the queue type, kept on round trips only while
what they unlock is unchanged, and sealed at start when an older Hippo stored them in clear."""

from __future__ import annotations

import json
from pathlib import Path

import falcon.testing
import pytest

from hippo_core import compose, crypto, records
from hippo_core.api import create_app
from hippo_core.config import Config
from hippo_core.crypto import Sealer
from hippo_core.poller import Poller
from hippo_core.testing.memory_queue import MemoryQueueType
from hippo_core.testing.polling import poll_now
from tests.conftest import TOKEN, URL_PASSWORD

DATA = Path(__file__).parent / "data" / "records"
KEY = crypto.new_key()
OLD_KEY = crypto.new_key()


@pytest.fixture
def keyed(store, registry) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(create_app(Config().with_table("secrets", key=KEY), store, registry))


def _raw(redis_client, queue_id: str) -> str:
    return redis_client.get(f"hippo:queue:{queue_id}")


def test_secrets_are_sealed_in_redis_and_masked_in_answers(keyed, queue_body, redis_client) -> None:
    resp = keyed.simulate_post("/queues/", json=queue_body())
    assert resp.status_code == 201, resp.text
    raw = _raw(redis_client, resp.json["id"])
    assert TOKEN not in raw and URL_PASSWORD not in raw
    stored = json.loads(raw)["queue"]["memory"]
    assert crypto.is_sealed(stored["token"]) and crypto.is_sealed(stored["url"])
    assert Sealer([KEY]).open(stored["token"]) == TOKEN
    assert resp.json["queue"]["memory"]["url"] == "memory://app:********@broker/jobs"
    assert keyed.simulate_get(f"/queues/{resp.json['id']}/").json["queue"]["memory"]["token"] == "********"


def test_the_poller_hands_the_queue_type_its_secrets_in_clear(keyed, queue_body, store, registry) -> None:
    seen = []

    class Recording(MemoryQueueType):
        def __init__(self, settings, queue_id):
            seen.append(dict(settings))
            super().__init__(settings, queue_id)

    queue = keyed.simulate_post("/queues/", json=queue_body()).json
    poller = Poller(store, type(registry).of(Recording), sealer=Sealer([KEY]))
    Recording.name = "memory"
    poll_now(poller, store, queue["id"])
    poller.stop()
    assert seen and seen[0]["token"] == TOKEN and URL_PASSWORD in seen[0]["url"]


def test_a_poller_without_the_key_says_so_on_the_queue(keyed, queue_body, store, registry) -> None:
    queue = keyed.simulate_post("/queues/", json=queue_body()).json
    poller = Poller(store, registry, sealer=Sealer([OLD_KEY]))
    poll_now(poller, store, queue["id"])
    poller.stop()
    error = keyed.simulate_get(f"/queues/{queue['id']}/").json["queue"]["last_error"]
    assert "HIPPO_SECRET_KEY" in error and TOKEN not in error


UNLOCKS = [
    # (change beside the masked secrets, kept)
    ({"name": "renamed"}, True),
    ({"frequency_seconds": 5}, True),
    ({"memory.start": 3}, True),  # not in x-hippo-unlocks of the memory type
    ({"memory.list": "elsewhere"}, False),  # what both secrets unlock
]


@pytest.mark.parametrize(("change", "kept"), UNLOCKS, ids=[next(iter(c)) for c, _ in UNLOCKS])
def test_a_masked_secret_is_kept_only_while_what_it_unlocks_is_unchanged(
    keyed, queue_body, error_of, change, kept
) -> None:
    record = keyed.simulate_post("/queues/", json=queue_body()).json
    for name, value in change.items():
        block, _, key = name.rpartition(".")
        target = record["queue"][block] if block else record["queue"]
        target[key] = value
    resp = keyed.simulate_put(f"/queues/{record['id']}/", json=record)
    if kept:
        assert resp.status_code == 200, resp.text
    else:
        paths = {e["path"] for e in error_of(resp, 400)["errors"]}
        assert paths == {"$.queue.memory.token", "$.queue.memory.url"}


def test_the_sqlquery_password_does_not_follow_a_new_query() -> None:
    from hippo_core import secrets
    from hippo_sqlquery import SqlQueryQueueType

    schema = SqlQueryQueueType.schema
    old = {"conn_string": "postgresql://app:pw-1@db/x", "query": "SELECT id FROM jobs", "filter_field": "id"}
    new = {**old, "conn_string": "postgresql://app:********@db/x"}
    secrets.keep_masked(schema, new, old)
    assert new["conn_string"] == old["conn_string"], "the same query keeps the password"
    new = {
        **old,
        "conn_string": "postgresql://app:********@db/x",
        "query": "SELECT pg_read_file('/etc/hostname')",
    }
    secrets.keep_masked(schema, new, old)
    assert secrets.masked_paths(schema, new) == ["$.conn_string"], "a new query needs the password again"


@pytest.mark.parametrize("version", [1, 2])
def test_secrets_an_older_hippo_stored_in_clear_are_sealed_at_start(
    version, redis_client, store, registry
) -> None:
    queue = json.loads((DATA / "queue-format-1.json").read_text())
    if version == 2:
        queue["format"] = 2
    redis_client.set(f"hippo:queue:{queue['id']}", json.dumps(queue))
    redis_client.zadd("hippo:queues", {queue["id"]: queue["created_at"]})
    secrets_in_clear = ("tok-1111aaaa", "pw-2222bbbb")
    assert all(s in _raw(redis_client, queue["id"]) for s in secrets_in_clear)

    compose.seal_stored_secrets(Config().with_table("secrets", key=KEY), store, registry)

    raw = _raw(redis_client, queue["id"])
    assert not any(s in raw for s in secrets_in_clear)
    assert json.loads(raw)["format"] == records.FORMAT
    client = falcon.testing.TestClient(create_app(Config().with_table("secrets", key=KEY), store, registry))
    shown = client.simulate_get(f"/queues/{queue['id']}/").json["queue"]["memory"]
    assert shown["token"] == "********" and shown["url"] == "memory://app:********@broker/convert"
    opened = crypto.open_secrets(
        {"properties": {"queue": {"properties": {"memory": MemoryQueueType.schema}}}},
        json.loads(raw),
        Sealer([KEY]),
    )
    assert opened["queue"]["memory"]["token"] == "tok-1111aaaa"


def test_a_rotated_key_seals_again_what_the_old_one_sealed(queue_body, store, registry, redis_client) -> None:
    old = falcon.testing.TestClient(create_app(Config().with_table("secrets", key=OLD_KEY), store, registry))
    queue = old.simulate_post("/queues/", json=queue_body()).json
    before = _raw(redis_client, queue["id"])
    rotated = Config().with_table("secrets", key=KEY, previous_keys=(OLD_KEY,))
    compose.seal_stored_secrets(rotated, store, registry)
    after = json.loads(_raw(redis_client, queue["id"]))["queue"]["memory"]["token"]
    assert after != json.loads(before)["queue"]["memory"]["token"]
    assert Sealer([KEY]).open(after) == TOKEN


def test_a_malformed_key_stops_hippo_without_repeating_it() -> None:
    with pytest.raises(ValueError) as caught:
        Sealer(["not-a-fernet-key"])
    assert "not-a-fernet-key" not in str(caught.value)
    assert "HIPPO_SECRET_KEY" in str(caught.value)
