"""The Mesos test peer's HTTP surface: SUBSCRIBE streams, and what each malformed call gets."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from hippo_mesos_peer import MesosMasterPeer, SimAgent
from hippo_mesos_peer.probe import RecordIOReader, SchedulerProbe

FAST = {"heartbeat_interval": 0.2, "allocation_interval": 0.02, "status_update_retry": 0.1}


@pytest.fixture
def peer() -> Iterator[MesosMasterPeer]:
    with MesosMasterPeer(agents=[SimAgent(hostname="agent1")], **FAST) as peer:
        yield peer


@pytest.fixture
def probe(peer: MesosMasterPeer) -> Iterator[SchedulerProbe]:
    probe = SchedulerProbe(peer.scheduler_url, timeout=5.0)
    yield probe
    probe.close()


def test_subscribe_streams_subscribed_then_heartbeats(peer: MesosMasterPeer, probe: SchedulerProbe):
    response = probe.subscribe()

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Transfer-Encoding"] == "chunked"
    assert "Content-Length" not in response.headers
    assert len(response.headers["Mesos-Stream-Id"]) <= 128
    subscribed = probe.events[0]["subscribed"]
    assert subscribed["heartbeat_interval_seconds"] == 0.2
    assert subscribed["framework_id"]["value"] in peer.frameworks
    assert subscribed["master_info"]["port"] == int(peer.url.rsplit(":", 1)[1])
    # The master beats once right away, then every interval.
    assert probe.next_event()["type"] == "HEARTBEAT"
    probe.next_event("HEARTBEAT")
    probe.next_event("HEARTBEAT")


def test_stream_is_recordio_with_exact_lengths(peer: MesosMasterPeer):
    body = {"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "u", "name": "n"}}}
    with socket.create_connection(("127.0.0.1", int(peer.url.rsplit(":", 1)[1])), timeout=5) as sock:
        data = json.dumps(body).encode()
        sock.sendall(
            b"POST /api/v1/scheduler HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(data)}\r\n\r\n".encode()
            + data
        )
        raw = b""
        while b"HEARTBEAT" not in raw:
            data = sock.recv(65536)
            assert data, f"connection closed before the first HEARTBEAT: {raw!r}"
            raw += data
    head, _, chunked = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    payload = b""
    while chunked:
        size_line, _, rest = chunked.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0 or len(rest) < size + 2:
            break
        payload += rest[:size]
        chunked = rest[size + 2 :]
    records = RecordIOReader().feed(payload)
    assert [json.loads(r)["type"] for r in records][:2] == ["SUBSCRIBED", "HEARTBEAT"]
    assert payload.startswith(str(len(records[0])).encode() + b"\n{")


def _post(peer: MesosMasterPeer, body: Any, headers: dict[str, str] | None = None, method: str = "POST"):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    sent = {"Content-Type": "application/json", **(headers or {})}
    return requests.request(
        method, peer.scheduler_url, data=data, headers=sent, timeout=5, allow_redirects=False
    )


SUBSCRIBE = {"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "u", "name": "n"}}}
UNKNOWN_FW = {"framework_id": {"value": "no-such-framework"}, "type": "REVIVE"}

# (what it proves, body, extra headers, method, status, text in the answer)
REJECTIONS = [
    ("only POST is served", SUBSCRIBE, {}, "GET", 405, "POST"),
    ("a body that is not JSON", b"{nope", {}, "POST", 400, "Failed to parse body into JSON"),
    ("JSON that is not an object", b"[1]", {}, "POST", 400, "Expecting a JSON object"),
    (
        "a field of the wrong JSON kind",
        {"type": "SUBSCRIBE", "subscribe": "x"},
        {},
        "POST",
        400,
        "Not expecting a JSON string for field 'subscribe'",
    ),
    (
        "required FrameworkInfo fields",
        {"type": "SUBSCRIBE", "subscribe": {"framework_info": {}}},
        {},
        "POST",
        400,
        "Missing required fields: subscribe.framework_info.user, subscribe.framework_info.name",
    ),
    ("no type at all", {"framework_id": {"value": "x"}}, {}, "POST", 400, "Expecting 'type' to be present"),
    ("an unknown type is no type", {"type": "FLY"}, {}, "POST", 400, "Expecting 'type' to be present"),
    (
        "calls other than SUBSCRIBE need framework_id",
        {"type": "REVIVE"},
        {},
        "POST",
        400,
        "Expecting 'framework_id' to be present",
    ),
    (
        "framework_id must match framework_info.id",
        {**SUBSCRIBE, "framework_id": {"value": "x"}},
        {},
        "POST",
        400,
        "'framework_id' differs from 'subscribe.framework_info.id'",
    ),
    (
        "each call carries its own message",
        {"framework_id": {"value": "x"}, "type": "ACCEPT"},
        {},
        "POST",
        400,
        "Expecting 'accept' to be present",
    ),
    (
        "SUBSCRIBE never carries a stream id",
        SUBSCRIBE,
        {"Mesos-Stream-Id": "abc"},
        "POST",
        400,
        "should not include the 'Mesos-Stream-Id'",
    ),
    ("SUBSCRIBE needs JSON acceptable", SUBSCRIBE, {"Accept": "text/plain"}, "POST", 406, "Accept"),
    ("a framework never subscribed", UNKNOWN_FW, {}, "POST", 400, "Framework cannot be found"),
    ("a wrong media type", SUBSCRIBE, {"Content-Type": "text/plain"}, "POST", 415, "application/json"),
    (
        "media type parameters are not understood either",
        SUBSCRIBE,
        {"Content-Type": "application/json; charset=utf-8"},
        "POST",
        415,
        "application/json",
    ),
]


@pytest.mark.parametrize(
    ("body", "headers", "method", "status", "text"),
    [case[1:] for case in REJECTIONS],
    ids=[case[0] for case in REJECTIONS],
)
def test_malformed_calls_get_the_masters_status(
    peer: MesosMasterPeer, body: Any, headers: dict[str, str], method: str, status: int, text: str
):
    response = _post(peer, body, headers, method)

    assert response.status_code == status, response.text
    assert text in response.text + response.headers.get("Allow", "")


def test_missing_content_type_is_400(peer: MesosMasterPeer):
    response = requests.post(peer.scheduler_url, data=json.dumps(SUBSCRIBE), timeout=5)

    assert response.status_code == 400
    assert "Expecting 'Content-Type' to be present" in response.text


def test_unknown_path_is_404(peer: MesosMasterPeer):
    response = requests.post(peer.url + "/api/v1/executor", json=SUBSCRIBE, timeout=5)

    assert response.status_code == 404


def test_stream_id_is_checked_for_a_subscribed_framework(peer: MesosMasterPeer, probe: SchedulerProbe):
    probe.subscribe()
    revive = {"type": "REVIVE"}

    missing = probe.call(revive, with_stream_id=False)
    wrong = probe.call(revive, headers={"Mesos-Stream-Id": "not-the-stream"})
    right = probe.call(revive)

    assert missing.status_code == 400
    assert "should include the 'Mesos-Stream-Id' header" in missing.text
    assert wrong.status_code == 400
    assert "didn't match the stream ID" in wrong.text
    assert right.status_code == 202
    assert right.text == ""


def test_disconnected_framework_gets_403_until_it_resubscribes(peer: MesosMasterPeer, probe: SchedulerProbe):
    probe.subscribe()
    old_stream = probe.stream_id
    probe.close_stream()
    peer.wait_for(lambda: not next(iter(peer.frameworks.values())).connected)

    refused = probe.call({"type": "REVIVE"}, headers={"Mesos-Stream-Id": old_stream})
    probe.subscribe(resubscribe=True)
    accepted = probe.call({"type": "REVIVE"})

    assert refused.status_code == 403
    assert "Framework is not subscribed" in refused.text
    assert accepted.status_code == 202
    assert probe.stream_id != old_stream


def test_invalid_framework_info_answers_200_with_an_error_event(probe: SchedulerProbe):
    info = {"user": "u", "name": "n", "roles": ["a"]}  # roles need MULTI_ROLE

    response = probe.subscribe(info)

    assert response.status_code == 200
    error = probe.events[0]
    assert error["type"] == "ERROR"
    assert "MULTI_ROLE" in error["error"]["message"]
    probe.wait_ended()
    assert probe.stream_error is None  # closed properly, with the final chunk


def test_calls_are_recorded_in_order(peer: MesosMasterPeer, probe: SchedulerProbe):
    probe.subscribe()
    probe.call({"type": "SUPPRESS"})
    probe.call({"type": "REVIVE"})

    assert [call_type for call_type, _ in peer.calls] == ["SUBSCRIBE", "SUPPRESS", "REVIVE"]
    assert peer.calls[1][1]["framework_id"]["value"] == probe.framework_id


def test_non_leader_redirects_every_call_to_the_leader(peer: MesosMasterPeer):
    peer.set_leader(False, leader_url="http://10.0.0.7:5050")

    subscribe = _post(peer, SUBSCRIBE)
    other = _post(peer, UNKNOWN_FW)
    get = _post(peer, SUBSCRIBE, method="GET")

    for response in (subscribe, other, get):
        assert response.status_code == 307
        # Mesos writes the leader scheme-relative.
        assert response.headers["Location"] == "//10.0.0.7:5050/api/v1/scheduler"


def test_no_leader_known_is_503(peer: MesosMasterPeer):
    peer.set_leader(False)

    assert _post(peer, SUBSCRIBE).status_code == 503


def test_following_the_redirect_reaches_the_leader(peer: MesosMasterPeer):
    with MesosMasterPeer(agents=[SimAgent(hostname="agent2")], **FAST) as leader:
        peer.set_leader(False, leader_url=leader.url)
        probe = SchedulerProbe(peer.scheduler_url, timeout=5.0)
        try:
            redirected = probe.subscribe()
            assert redirected.status_code == 307
            probe.url = "http:" + redirected.headers["Location"]
            assert probe.subscribe().status_code == 200
            assert probe.framework_id in leader.frameworks
        finally:
            probe.close()
