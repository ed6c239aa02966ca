"""``/healthz`` (the process answers) and ``/readyz`` (its Redis answers too)."""

from __future__ import annotations

import falcon.testing
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from hippo_core.api import create_app
from hippo_core.config import Config
from hippo_core.ports import free_port
from hippo_core.redis_server import RedisServer
from hippo_core.store import Store

SLASHES = pytest.mark.parametrize("slash", ["", "/"], ids=["no-slash", "slash"])


@pytest.fixture
def dead_client(registry) -> falcon.testing.TestClient:
    """The API on a Redis address where nothing listens (no retries, to fail fast)."""
    client = redis.Redis(
        port=free_port(), decode_responses=True, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0)
    )
    return falcon.testing.TestClient(create_app(Config(), Store(client), registry))


@SLASHES
def test_healthz(client, slash) -> None:
    resp = client.simulate_get(f"/healthz{slash}")
    assert resp.status_code == 200
    assert resp.json == {"status": "ok"}


def test_healthz_does_not_need_redis(dead_client) -> None:
    assert dead_client.simulate_get("/healthz").status_code == 200


@SLASHES
def test_readyz_with_redis(client, slash) -> None:
    resp = client.simulate_get(f"/readyz{slash}")
    assert resp.status_code == 200
    assert resp.json == {"status": "ok", "redis": "ok"}


def test_readyz_without_redis_is_503(dead_client, error_of) -> None:
    body = error_of(dead_client.simulate_get("/readyz"), 503)
    assert body["title"] == "Redis unavailable"
    assert "ConnectionError" in body["description"]
    assert "HIPPO_REDIS_URL" in body["description"]


def test_readyz_follows_redis_going_away(registry, error_of) -> None:
    """Readiness is checked on every call, not once: a Redis that stops is noticed."""
    own = RedisServer().start()
    try:
        store = Store(
            redis.Redis(
                port=own.port, decode_responses=True, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0)
            )
        )
        client = falcon.testing.TestClient(create_app(Config(), store, registry))
        assert client.simulate_get("/readyz").status_code == 200
    finally:
        own.stop()
    error_of(client.simulate_get("/readyz"), 503)
