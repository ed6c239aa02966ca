"""Bad requests of every kind get one JSON error shape, and change nothing in Redis."""

from __future__ import annotations

import io
import json
import logging
import uuid
from typing import Any, ClassVar

import falcon.testing
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from hippo_core.api import create_app
from hippo_core.config import Config
from hippo_core.ports import free_port
from hippo_core.registry import QueueTypeRegistry
from hippo_core.store import Store
from hippo_core.testing.memory_queue import MemoryQueueType

QID = "0b5c6a9e-2f51-4c59-9d3e-6b1f0c7d8e9a"

# Every route with the methods it allows (OPTIONS is Falcon's, answered everywhere).
ROUTES = {
    "/queues": {"GET", "POST", "PUT"},
    f"/queues/{QID}": {"GET", "POST", "PUT", "DELETE"},
    f"/queues/{QID}/toggle": {"GET", "POST"},
    "/queuetypes": {"GET"},
    "/tasks": {"GET", "POST"},
    "/tasks/some-task": {"GET", "DELETE"},
    "/tasks/some-task/kill": {"GET", "POST"},
    "/tasks/some-task/retry": {"POST"},
    "/openapi.json": {"GET"},
    "/healthz": {"GET"},
    "/readyz": {"GET"},
}
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
WRONG = [(path, method) for path, allowed in ROUTES.items() for method in METHODS if method not in allowed]
CREATE_OR_UPDATE = [
    ("POST", "/queues/"),
    ("PUT", "/queues/"),
    ("POST", "/tasks/"),
    ("POST", f"/queues/{QID}/"),
    ("PUT", f"/queues/{QID}/"),
]


@pytest.mark.parametrize("slash", ["", "/"], ids=["no-slash", "slash"])
@pytest.mark.parametrize(("path", "method"), WRONG, ids=[f"{m} {p}" for p, m in WRONG])
def test_wrong_method_is_405_with_allow(client, error_of, path, method, slash) -> None:
    resp = client.simulate_request(method, path + slash)
    body = error_of(resp, 405)
    allowed = {m.strip() for m in resp.headers["allow"].split(",")}
    assert allowed == ROUTES[path] | {"OPTIONS"}
    assert method in body["description"]


def test_wrong_method_wins_over_a_bad_body(client, error_of) -> None:
    """A body is only read by a method that takes one: PATCH with garbage is still a 405."""
    resp = client.simulate_patch("/queues/", body=b"<xml/>", headers={"Content-Type": "text/xml"})
    error_of(resp, 405)


@pytest.mark.parametrize("path", ["/nope", "/queues/x/y/z", "/tasks/a/b", "/queues/not-a-uuid/"])
def test_unknown_route_is_404(client, error_of, path) -> None:
    body = error_of(client.simulate_get(path), 404)
    assert "openapi.json" in body["description"]


@pytest.mark.parametrize(("method", "path"), CREATE_OR_UPDATE)
@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
)
def test_wrong_content_type_is_415(client, error_of, redis_snapshot, method, path, content_type) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    before = redis_snapshot()
    body = error_of(client.simulate_request(method, path, body=b'{"cmd": "x"}', headers=headers), 415)
    assert "application/json" in body["description"]
    assert redis_snapshot() == before


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "application/merge-patch+json", "APPLICATION/JSON"]
)
def test_json_content_types_are_accepted(client, task_body, content_type) -> None:
    resp = client.simulate_post(
        "/tasks/", body=json.dumps(task_body()), headers={"Content-Type": content_type}
    )
    assert resp.status_code == 201, resp.text


MALFORMED = {
    "truncated": b'{"cmd": "echo',
    "trailing garbage": b'{"cmd": "echo"} x',
    "single quotes": b"{'cmd': 'echo'}",
    "NaN": b'{"cmd": "echo", "cpus": NaN}',
    "Infinity": b'{"cmd": "echo", "mem": Infinity}',
    "not UTF-8": b'{"cmd": "\xff\xfe"}',
    "nested too deep": b"[" * 100_000 + b"]" * 100_000,
}


@pytest.mark.parametrize(("method", "path"), CREATE_OR_UPDATE)
@pytest.mark.parametrize("raw", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_json_is_400(client, error_of, redis_snapshot, method, path, raw) -> None:
    before = redis_snapshot()
    resp = client.simulate_request(method, path, body=raw, headers={"Content-Type": "application/json"})
    assert error_of(resp, 400)["title"] == "Malformed JSON"
    assert redis_snapshot() == before


@pytest.mark.parametrize(("method", "path"), [("POST", "/queues/"), ("POST", "/tasks/")])
@pytest.mark.parametrize("raw", [b"", b"   ", b"null"], ids=["empty", "blank", "null"])
def test_missing_body_is_400(client, error_of, method, path, raw) -> None:
    resp = client.simulate_request(method, path, body=raw, headers={"Content-Type": "application/json"})
    assert error_of(resp, 400)["title"] == "Missing body"


@pytest.mark.parametrize(("method", "path"), [("POST", "/queues/"), ("POST", "/tasks/")])
@pytest.mark.parametrize("raw", [b"[]", b'"a"', b"3", b"true"])
def test_a_body_that_is_not_an_object_is_400(client, error_of, method, path, raw) -> None:
    resp = client.simulate_request(method, path, body=raw, headers={"Content-Type": "application/json"})
    assert error_of(resp, 400)["errors"] == [{"path": "$", "message": "the body must be a JSON object"}]


# -- body size ----------------------------------------------------------------------------

LIMIT = 2000


@pytest.fixture
def small_client(store: Store, registry: QueueTypeRegistry) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(create_app(Config(max_body_bytes=LIMIT), store, registry))


def _padded(task_body: Any, size: int) -> bytes:
    """A valid task body of exactly ``size`` bytes."""
    raw = json.dumps(task_body(data=""))
    padded = json.dumps(task_body(data="x" * (size - len(raw))))
    assert len(padded) == size
    return padded.encode()


def test_body_at_the_limit_is_read(small_client, task_body) -> None:
    resp = small_client.simulate_post(
        "/tasks/", body=_padded(task_body, LIMIT), headers={"Content-Type": "application/json"}
    )
    assert resp.status_code == 201, resp.text


@pytest.mark.parametrize(("method", "path"), CREATE_OR_UPDATE)
def test_body_over_the_limit_is_413(small_client, task_body, error_of, redis_snapshot, method, path) -> None:
    before = redis_snapshot()
    resp = small_client.simulate_request(
        method, path, body=_padded(task_body, LIMIT + 1), headers={"Content-Type": "application/json"}
    )
    body = error_of(resp, 413)
    assert str(LIMIT) in body["description"]
    assert "max_body_bytes" in body["description"]
    assert redis_snapshot() == before


def test_body_over_the_limit_is_413_on_any_route(small_client, error_of) -> None:
    """A declared length over the limit is refused before routing, whatever the route."""
    resp = small_client.simulate_get("/healthz", body=b"x" * (LIMIT + 1))
    error_of(resp, 413)


def _chunked(client: Any, path: str, raw: bytes, terminated: bool = True) -> Any:
    """A request as a server hands on a chunked body: no Content-Length, a stream to read."""
    extras = {"wsgi.input": io.BytesIO(raw)}
    if terminated:
        extras["wsgi.input_terminated"] = True
    return client.simulate_request(
        "POST",
        path,
        headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        extras=extras,
    )


def test_chunked_body_over_the_limit_is_413(small_client, task_body, error_of, redis_snapshot) -> None:
    before = redis_snapshot()
    error_of(_chunked(small_client, "/tasks/", _padded(task_body, LIMIT * 5)), 413)
    assert redis_snapshot() == before


def test_chunked_body_within_the_limit_is_read(small_client, task_body) -> None:
    resp = _chunked(small_client, "/tasks/", _padded(task_body, LIMIT))
    assert resp.status_code == 201, resp.text


def test_chunked_body_the_server_cannot_bound_is_411(small_client, task_body, error_of) -> None:
    error_of(_chunked(small_client, "/tasks/", _padded(task_body, 100), terminated=False), 411)


def test_default_limit_is_one_mib(client, task_body, error_of) -> None:
    assert Config().max_body_bytes == 1024 * 1024
    resp = client.simulate_post(
        "/tasks/", body=_padded(task_body, 1024 * 1024 + 1), headers={"Content-Type": "application/json"}
    )
    error_of(resp, 413)


# -- failures behind the API --------------------------------------------------------------


def test_redis_down_is_503_in_the_error_shape(registry, error_of) -> None:
    # No retries: redis-py's default backoff would only make the test slow.
    dead = Store(
        redis.Redis(
            port=free_port(), decode_responses=True, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0)
        )
    )
    client = falcon.testing.TestClient(create_app(Config(), dead, registry))
    for path in ("/queues/", "/tasks/", f"/queues/{uuid.uuid4()}/"):
        body = error_of(client.simulate_get(path), 503)
        assert "HIPPO_REDIS_URL" in body["description"]


class ExplodingQueueType(MemoryQueueType):
    name: ClassVar[str] = "exploding"

    @classmethod
    def validate(cls, settings: dict[str, Any]) -> list[tuple[str, str]]:
        raise RuntimeError("plugin bug")


def test_an_unexpected_error_is_500_in_the_error_shape_and_logged(
    store, error_of, redis_snapshot, caplog, queue_body
) -> None:
    client = falcon.testing.TestClient(create_app(Config(), store, QueueTypeRegistry.of(ExplodingQueueType)))
    body = queue_body()
    body["queue"]["type"] = "exploding"
    body["queue"]["exploding"] = body["queue"].pop("memory")
    before = redis_snapshot()
    error = error_of(client.simulate_post("/queues/", json=body), 500)
    assert "plugin bug" not in json.dumps(error)  # internals stay in the log
    assert redis_snapshot() == before
    assert any(
        r.levelno == logging.ERROR and r.exc_info and "plugin bug" in str(r.exc_info[1])
        for r in caplog.records
    )
