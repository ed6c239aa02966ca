"""``GET /events/``: server-sent events read by a real HTTP client from a running ``hippo api``."""

from __future__ import annotations

import http.client
import json
import time
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest

from hippo_core import schemas

from .conftest import AUTH, Process, Starter, one_off

pytestmark = pytest.mark.slow

EVENT = jsonschema.Draft202012Validator(schemas.load("event"))
HEARTBEAT = 0.3


class EventSource:
    """A minimal SSE client over http.client: events and comments as they arrive."""

    def __init__(self, url: str, path: str = "/events/", last_event_id: str | None = None) -> None:
        parts = urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        headers = {"Accept": "text/event-stream", **AUTH}
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        self.conn.request("GET", path, headers=headers)
        self.response = self.conn.getresponse()

    def __enter__(self) -> EventSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        # The response owns the socket once the server said it closes the connection.
        self.response.close()
        self.conn.close()

    def next(self) -> dict[str, Any]:
        """The next message: ``{"id", "event", "data"}`` for an event, ``{"comment"}`` for a comment."""
        message: dict[str, Any] = {}
        while True:
            line = self.response.readline().decode()
            if not line:
                raise EOFError("the stream ended")
            line = line.rstrip("\n")
            if line == "":
                if message:
                    return message
                continue
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "":
                return {"comment": value}
            if field == "data":
                message["data"] = json.loads(value)
            else:
                message[field] = value

    def events(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The next ``count`` events (heartbeats and the reconnection delay skipped)."""
        out: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while len(out) < count:
            assert time.monotonic() < deadline, f"only {len(out)} of {count} events: {out}"
            message = self.next()
            if "data" in message:
                out.append(message)
        return out


def _api(hippo: Starter, redis_url: str, max_streams: int) -> Process:
    return hippo.start(
        ["api", "--port", "{port}"],
        env={
            "HIPPO_REDIS_URL": redis_url,
            "HIPPO_EVENTS_HEARTBEAT_SECONDS": str(HEARTBEAT),
            "HIPPO_EVENTS_MAX_STREAMS": str(max_streams),
        },
    )


@pytest.fixture
def api(hippo: Starter, redis_url: str) -> Process:
    return _api(hippo, redis_url, max_streams=6)


def test_changes_arrive_as_they_happen_with_heartbeats_between(api: Process) -> None:
    with EventSource(api.url) as stream:
        assert stream.response.status == 200
        assert stream.response.getheader("Content-Type").startswith("text/event-stream")
        assert stream.next() == {"retry": "3000"}
        # Idle: a comment keeps proxies from closing the connection.
        assert stream.next() == {"comment": "heartbeat"}

        api.post("/tasks/", one_off("sleep 60", id="watched"))
        api.http.post(f"{api.url}/tasks/watched/kill/", timeout=10)
        created, kill, killed = stream.events(3)
    for message in (created, kill, killed):
        EVENT.validate(message["data"])
    assert [m["data"]["kind"] for m in (created, kill, killed)] == [
        "task.created",
        "task.kill_requested",
        "task.KILLED",
    ]
    assert created["data"]["family"] == "watched" and killed["data"]["state"] == "KILLED"
    ids = [m["id"] for m in (created, kill, killed)]
    assert ids == sorted(ids, key=lambda i: tuple(map(int, i.split("-")))) and len(set(ids)) == 3


def test_a_client_resumes_after_the_last_event_it_saw(api: Process) -> None:
    with EventSource(api.url) as stream:
        for name in ("one", "two"):
            api.post("/tasks/", one_off("true", id=name))
        one, two = stream.events(2)
    assert (one["data"]["family"], two["data"]["family"]) == ("one", "two")

    # Changes while no one listens...
    for name in ("three", "four"):
        api.post("/tasks/", one_off("true", id=name))
    # ...are there after reconnecting with the last id seen: nothing lost, nothing twice.
    with EventSource(api.url, last_event_id=one["id"]) as stream:
        assert stream.next() == {"retry": "3000"}
        resumed = stream.events(3)
    assert [m["data"]["family"] for m in resumed] == ["two", "three", "four"]
    assert resumed[0]["id"] == two["id"]


def test_a_client_too_far_behind_is_told_to_start_over(api: Process) -> None:
    api.post("/tasks/", one_off("true", id="kept"))
    with EventSource(api.url, last_event_id="1-0") as stream:
        assert stream.next() == {"retry": "3000"}
        reset = stream.next()
        assert reset["event"] == "reset" and "no longer kept" in reset["data"]["reason"]
        # Then whatever the stream still holds.
        assert stream.events(1)[0]["data"]["family"] == "kept"


def test_filters_by_family_queue_and_state(api: Process) -> None:
    queue = api.post(
        "/queues/",
        {
            **one_off("true"),
            "queue": {"type": "redis", "name": "q", "status": "DISABLED", "redis": {"name": "l"}},
        },
    )
    qid = queue["id"]
    with (
        EventSource(api.url, "/events/?family=mine,other") as family,
        EventSource(api.url, f"/events/?queue={qid}&state=") as by_queue,
    ):
        for name in ("theirs", "mine"):
            api.post("/tasks/", one_off("true", id=name))
        api.http.post(f"{api.url}/queues/{qid}/toggle/", timeout=10)
        assert [m["data"]["family"] for m in family.events(1)] == ["mine"]
        assert [m["data"]["kind"] for m in by_queue.events(1)] == ["queue.enabled"]

    with EventSource(api.url, "/events/?state=killed") as killed:
        api.post("/tasks/", one_off("true", id="victim"))
        api.http.post(f"{api.url}/tasks/victim/kill/", timeout=10)
        messages = killed.events(2)
    # A task event carries the task's state after the change: the kill request came with it.
    assert [(m["data"]["kind"], m["data"]["family"]) for m in messages] == [
        ("task.kill_requested", "victim"),
        ("task.KILLED", "victim"),
    ]


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/events/?state=SLEEPING", {}),  # no such state
        ("/events/", {"Last-Event-ID": "yesterday"}),  # not an id the stream sends
    ],
)
def test_bad_requests(api: Process, path: str, headers: dict[str, str]) -> None:
    resp = api.http.get(f"{api.url}{path}", headers=headers, timeout=10)
    assert resp.status_code == 400
    assert resp.json()["status"] == 400


def test_streams_are_limited_and_a_closed_one_frees_its_place(hippo: Starter, redis_url: str) -> None:
    api = _api(hippo, redis_url, max_streams=2)
    first, second = EventSource(api.url), EventSource(api.url)
    try:
        assert first.next() == second.next() == {"retry": "3000"}
        refused = api.http.get(f"{api.url}/events/", timeout=10)
        assert refused.status_code == 503 and refused.headers["Retry-After"] == "5"
        assert "max_streams" in refused.json()["description"]
    finally:
        first.close()

    # The server notices at the next heartbeat at the latest.
    def accepted() -> bool:
        with api.http.get(f"{api.url}/events/", stream=True, timeout=10) as resp:
            return resp.status_code == 200

    api.wait("a place for a new stream", accepted, timeout=10)
    second.close()
