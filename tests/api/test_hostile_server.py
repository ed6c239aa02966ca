"""Hostile requests against a real ``hippo api``: none breaks it, for the sender or anyone else.

Each case is one an attacker tried on an earlier Hippo: a lone surrogate that made every
listing answer 500, JSON nested deep enough to overflow a recursive copy, a body of
150,000 constraints, a 300 MB body spooled to disk before its 413, idle connections
holding every slot, an offset past Redis' integers, and a Host header of another site.
"""

from __future__ import annotations

import json
import socket
import time
from urllib.parse import urlsplit

import pytest
import requests

pytestmark = pytest.mark.slow

TASK = {"cmd": "echo hi", "container": {"docker": {"image": "busybox:1.36"}}}
JSON_HEADERS = {"Content-Type": "application/json"}


def _post_raw(url: str, path: str, raw: bytes) -> requests.Response:
    return requests.post(f"{url}{path}", data=raw, headers=JSON_HEADERS, timeout=30)


def _connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    return socket.create_connection((parts.hostname, parts.port), timeout=30)


def test_a_lone_surrogate_is_refused_and_listings_keep_working(hippo_api, redis_client) -> None:
    api = hippo_api()
    poisoned = json.dumps({**TASK, "cmd": "echo \ud800"}).encode()
    resp = _post_raw(api.url, "/tasks/", poisoned)
    assert resp.status_code == 400, resp.text
    assert resp.json()["errors"][0]["path"] == "$.cmd"
    queue = {**TASK, "queue": {"type": "cron", "name": "x\udfff", "cron": {}}}
    assert _post_raw(api.url, "/queues/", json.dumps(queue).encode()).status_code == 400
    assert redis_client.keys("*") == [], "nothing was stored"
    # A record that holds one anyway (written by something else) does not break its listing.
    assert requests.post(f"{api.url}/tasks/", json={**TASK, "id": "fine"}, timeout=10).status_code == 201
    key = next(k for k in redis_client.keys("hippo:task:*"))
    record = json.loads(redis_client.get(key))
    redis_client.set(key, json.dumps({**record, "cmd": "echo \ud800"}))
    listed = requests.get(f"{api.url}/tasks/", timeout=10)
    assert listed.status_code == 200, listed.text
    assert listed.json()["items"][0]["cmd"] == "echo \ufffd"
    assert requests.get(f"{api.url}/queues/", timeout=10).status_code == 200


@pytest.mark.parametrize("depth", [33, 600, 990, 100_000])
def test_deep_nesting_is_a_400_not_a_500(hippo_api, depth) -> None:
    api = hippo_api()
    raw = b'{"cmd": "x", "env": ' + b"[" * depth + b"]" * depth + b"}"
    resp = _post_raw(api.url, "/tasks/", raw)
    assert resp.status_code == 400, resp.text[:300]
    assert requests.get(f"{api.url}/healthz", timeout=10).status_code == 200


def test_a_flood_of_constraints_is_refused_cheaply_with_a_short_answer(hippo_api) -> None:
    api = hippo_api()
    body = json.dumps({**TASK, "constraints": [[]] * 150_000}, separators=(",", ":")).encode()
    assert 400_000 < len(body) < 1024 * 1024
    resp = _post_raw(api.url, "/tasks/", body)
    assert resp.status_code == 400
    assert resp.json()["errors"] == [
        {"path": "$.constraints", "message": "has 150000 items; at most 100 are allowed"}
    ]
    assert len(resp.content) < 2000
    assert max(len(line) for line in api.log().splitlines()) < 5000


def test_many_problems_are_listed_twenty_at_most_and_values_are_not_echoed_whole(hippo_api) -> None:
    api = hippo_api()
    long_value = "v" * 10_000
    body = {**TASK, "env": {f"bad name {n}": 1 for n in range(50)}, "cpus": long_value}
    resp = requests.post(f"{api.url}/tasks/", json=body, timeout=30)
    error = resp.json()
    assert resp.status_code == 400
    assert len(error["errors"]) == 20
    assert "and 31 more" in error["description"]
    assert "v" * 201 not in resp.text


def test_a_body_over_the_limit_is_refused_before_it_is_received(hippo_api) -> None:
    """A 300 MB Content-Length is answered 413 at once: the server reads none of the body."""
    api = hippo_api()
    with _connect(api.url) as conn:
        conn.sendall(
            b"POST /tasks/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 300000000\r\n\r\n{"
        )
        answer = conn.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    # A chunked body is cut off as soon as it passes the limit.
    with _connect(api.url) as conn:
        conn.sendall(
            b"POST /tasks/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"x" * 65536
        answer = b""
        for _ in range(40):  # 2.5 MiB offered, more than twice the limit
            try:
                conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except OSError:
                break
        conn.settimeout(10)
        try:
            answer = conn.recv(4096)
        except OSError:
            answer = b""
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert requests.get(f"{api.url}/healthz", timeout=10).status_code == 200


def test_idle_connections_do_not_starve_the_api(hippo_api) -> None:
    api = hippo_api(env={"HIPPO_API_CHANNEL_TIMEOUT": "3"})
    idle = [_connect(api.url) for _ in range(150)]  # more than waitress' default limit of 100
    try:
        started = time.monotonic()
        assert requests.get(f"{api.url}/tasks/", timeout=10).status_code == 200
        # The server closes an idle connection after api_channel_timeout.
        idle[0].settimeout(30)
        assert idle[0].recv(1) == b""
        assert time.monotonic() - started < 30
    finally:
        for conn in idle:
            conn.close()


@pytest.mark.parametrize(
    "params",
    [{"offset": "9223372036854775807"}, {"offset": "1000000001"}, {"limit": "0"}, {"offset": "-1"}],
)
def test_paging_out_of_range_is_400(hippo_api, params) -> None:
    api = hippo_api()
    for path in ("/tasks/", "/queues/"):
        resp = requests.get(f"{api.url}{path}", params=params, timeout=10)
        assert resp.status_code == 400, resp.text


def test_without_tokens_only_loopback_host_names_are_answered(hippo_api) -> None:
    api = hippo_api()
    for host in ("localhost", "127.0.0.1", "[::1]:8080", "app.localhost"):
        assert requests.get(f"{api.url}/tasks/", headers={"Host": host}, timeout=10).status_code == 200
    rebound = requests.get(f"{api.url}/tasks/", headers={"Host": "attacker.example"}, timeout=10)
    assert rebound.status_code == 421
    assert rebound.json()["title"] == "Misdirected request"


def test_with_tokens_every_route_but_the_open_ones_needs_one(hippo_api) -> None:
    token = "an-admin-token-for-the-test-0123"
    api = hippo_api(env={"HIPPO_ADMIN_TOKEN": token})
    assert requests.get(f"{api.url}/tasks/", timeout=10).status_code == 401
    assert requests.get(f"{api.url}/healthz", timeout=10).status_code == 200
    ok = requests.get(f"{api.url}/tasks/", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert ok.status_code == 200
    # Any Host is fine with tokens (behind a balancer), unless allowed_hosts says otherwise.
    assert (
        requests.get(f"{api.url}/healthz", headers={"Host": "hippo.example"}, timeout=10).status_code == 200
    )
    assert token not in api.log()
