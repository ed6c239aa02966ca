"""JSON into a Call as stout converts it: as lenient where stout is, as strict where it is strict."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from hippo_mesos_peer import MesosMasterPeer, SimAgent
from hippo_mesos_peer.calls import stout_base64_decode, to_call
from hippo_mesos_peer.probe import SchedulerProbe, task_info

FAST = {"heartbeat_interval": 5.0, "allocation_interval": 0.02, "status_update_retry": 0.1}


def _subscribe(**info: Any) -> dict[str, Any]:
    return {"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "u", "name": "n", **info}}}


def _info(call: dict[str, Any]) -> dict[str, Any]:
    return call["subscribe"]["framework_info"]


# (what it proves, body, what the parsed call holds)
ACCEPTED = [
    (
        "a double sent as a string",
        _subscribe(failover_timeout="60.5"),
        lambda c: _info(c)["failover_timeout"] == 60.5,
    ),
    (
        "a double as Infinity",
        _subscribe(failover_timeout="Infinity"),
        lambda c: _info(c)["failover_timeout"] > 1e308,
    ),
    ("a boolean sent as a string", _subscribe(checkpoint="true"), lambda c: _info(c)["checkpoint"] is True),
    ("false as a string", _subscribe(checkpoint="false"), lambda c: _info(c)["checkpoint"] is False),
    (
        "an exponent for a double",
        _subscribe(failover_timeout=1e3),
        lambda c: _info(c)["failover_timeout"] == 1000.0,
    ),
    ("null is unset", _subscribe(checkpoint=None), lambda c: "checkpoint" not in _info(c)),
    ("unknown keys are ignored", _subscribe(colour="red"), lambda c: "colour" not in _info(c)),
    (
        "camelCase is an unknown key",
        _subscribe(failoverTimeout=5),
        lambda c: "failover_timeout" not in _info(c),
    ),
    ("Subscribe.force is not in v1: ignored", {**_subscribe(), "force": True}, lambda c: "force" not in c),
    (
        "force inside subscribe is ignored too",
        {"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "u", "name": "n"}, "force": True}},
        lambda c: "force" not in c["subscribe"],
    ),
    ("one value for a repeated field", _subscribe(roles="web"), lambda c: _info(c)["roles"] == ["web"]),
    (
        "an unknown name of an optional enum leaves it unset",
        _subscribe(capabilities=[{"type": "TELEPATHY"}]),
        lambda c: _info(c)["capabilities"] == [{}],
    ),
    (
        "the last of duplicate keys wins",
        b'{"type":"TEARDOWN","type":"SUBSCRIBE",'
        + json.dumps({"subscribe": {"framework_info": {"user": "u", "name": "n"}}}).encode()[1:],
        lambda c: c["type"] == "SUBSCRIBE",
    ),
]


@pytest.mark.parametrize(("body", "check"), [c[1:] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED])
def test_what_stout_accepts(body: Any, check: Any) -> None:
    raw = json.loads(body) if isinstance(body, bytes) else body
    assert check(to_call(raw))


_DOCKER_TASK = {
    "name": "t",
    "task_id": {"value": "t"},
    "agent_id": {"value": "a"},
    "command": {"value": "true"},
    "container": {
        "type": "DOCKER",
        "docker": {"image": "busybox"},
        "volumes": [{"container_path": "/x", "host_path": "/y", "mode": "rw"}],
    },
}


def _kill(nanoseconds: Any) -> dict[str, Any]:
    return {
        "type": "KILL",
        "framework_id": {"value": "f"},
        "kill": {"task_id": {"value": "t"}, "kill_policy": {"grace_period": {"nanoseconds": nanoseconds}}},
    }


def _grace(call: dict[str, Any]) -> int:
    return call["kill"]["kill_policy"]["grace_period"]["nanoseconds"]


ACCEPTED += [
    ("a fraction for an integer is truncated", _kill(1.9), lambda c: _grace(c) == 1),
    ("an integer sent as a string", _kill("7"), lambda c: _grace(c) == 7),
    ("an integer written with an exponent", _kill("2e3"), lambda c: _grace(c) == 2000),
]

# (what it proves, body, the master's message)
REFUSED = [
    ("NaN is not JSON", b'{"type": NaN}', "Failed to parse body into JSON"),
    ("Infinity is not JSON either", b'{"type": Infinity}', "Failed to parse body into JSON"),
    (
        "a number for a string field",
        _subscribe(hostname=5),
        "Failed to convert JSON into Call protobuf: Not expecting a JSON number for field 'hostname'",
    ),
    (
        "a number for an enum",
        {"type": 1},
        "Failed to convert JSON into Call protobuf: Not expecting a JSON number for field 'type'",
    ),
    (
        "a number for a boolean",
        _subscribe(checkpoint=1),
        "Failed to convert JSON into Call protobuf: Not expecting a JSON number for field 'checkpoint'",
    ),
    (
        "a string that is no boolean",
        _subscribe(checkpoint="yes"),
        "Failed to convert JSON into Call protobuf: "
        "Failed to parse 'yes' as a JSON boolean for field 'checkpoint'",
    ),
    (
        "a string that is no number",
        _subscribe(failover_timeout="soon"),
        "Failed to convert JSON into Call protobuf: Failed to parse 'soon' as a JSON number for field "
        "'failover_timeout'",
    ),
    (
        "NaN as a string is no number",
        _subscribe(failover_timeout="NaN"),
        "Failed to parse 'NaN' as a JSON number for field 'failover_timeout'",
    ),
    (
        "a string for a message",
        _subscribe(id="abc"),
        "Failed to convert JSON into Call protobuf: Not expecting a JSON string for field 'id'",
    ),
    (
        "an array for a single field",
        _subscribe(user=["u"]),
        "Failed to convert JSON into Call protobuf: Not expecting a JSON array for field 'user'",
    ),
    (
        "an unknown name of a required enum",
        {
            "type": "ACCEPT",
            "framework_id": {"value": "f"},
            "accept": {"operations": [{"type": "LAUNCH", "launch": {"task_infos": [_DOCKER_TASK]}}]},
        },
        "Failed to convert JSON into Call protobuf: Failed to find enum for 'rw'",
    ),
]


def test_a_repeated_single_value_and_strings_for_numbers_reach_a_launch() -> None:
    with MesosMasterPeer(agents=[SimAgent(hostname="agent1")], **FAST) as peer:
        probe = SchedulerProbe(peer.scheduler_url, timeout=5.0)
        try:
            probe.subscribe()
            offer = probe.next_offers()[0]
            task = task_info("t1", offer)
            task["resources"][0]["scalar"]["value"] = "0.5"  # a number as a string
            task["resources"] = task["resources"][0]  # one resource for the repeated field
            assert probe.accept(offer, [task]).status_code == 202
            assert probe.next_update("t1")["state"] == "TASK_STARTING"
            assert peer.tasks["t1"].resources.scalar("cpus") == 0.5
        finally:
            probe.close()


@pytest.fixture(scope="module")
def peer() -> Iterator[MesosMasterPeer]:
    with MesosMasterPeer(agents=[SimAgent(hostname="agent1")], **FAST) as peer:
        yield peer


@pytest.mark.parametrize(("body", "message"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_what_stout_refuses_is_a_400(peer: MesosMasterPeer, body: Any, message: str) -> None:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = requests.post(
        peer.scheduler_url, data=data, headers={"Content-Type": "application/json"}, timeout=5
    )
    assert response.status_code == 400
    assert message in response.text


# (base64 text, bytes stout decodes, or the error): standard alphabet, whitespace skipped,
# everything from the first '=' ignored, URL-safe characters refused.
BASE64 = [
    ("aGVsbG8=", b"hello"),
    ("aGVsbG8", b"hello"),
    ("aGVs\nbG8=", b"hello"),
    ("aGVsbG8=garbage", b"hello"),
    ("+/+/", b"\xfb\xff\xbf"),
    ("-_-_", "Invalid character '-'"),
    ("a_b", "Invalid character '_'"),
]


@pytest.mark.parametrize(("text", "result"), BASE64)
def test_bytes_are_base64_as_stout_reads_it(text: str, result: bytes | str) -> None:
    if isinstance(result, bytes):
        assert stout_base64_decode(text) == result
    else:
        with pytest.raises(ValueError, match=result):
            stout_base64_decode(text)
