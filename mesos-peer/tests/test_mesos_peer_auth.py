"""Who may talk to the peer: HTTP basic authentication (as ``--authenticate_http_frameworks``),
principals, ``--root_submissions``, and the 503 while a new leader recovers."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest
import requests

from hippo_mesos_peer import MesosMasterPeer, SimAgent
from hippo_mesos_peer.probe import SchedulerProbe

FAST = {"heartbeat_interval": 5.0, "allocation_interval": 0.02, "status_update_retry": 0.1}
CREDENTIALS = {"hippo": "s3cret", "other": "pw"}
REALM = 'Basic realm="mesos-master-scheduler"'


@pytest.fixture
def peer() -> Iterator[MesosMasterPeer]:
    with MesosMasterPeer(agents=[SimAgent(hostname="agent1")], credentials=CREDENTIALS, **FAST) as peer:
        yield peer


def _basic(text: str) -> str:
    return "Basic " + base64.b64encode(text.encode()).decode()


SUBSCRIBE = {"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "u", "name": "n"}}}

# (what it proves, Authorization header or None)
UNAUTHORIZED = [
    ("no credentials", None),
    ("an unknown principal", _basic("mallory:s3cret")),
    ("a wrong secret", _basic("hippo:guess")),
    ("a secret with a colon never matches", _basic("hippo:s3cret:x")),
    ("not the basic scheme", "Bearer abc"),
    ("basic without a token", "Basic"),
    ("a token that is not base64", "Basic !!!"),
]


@pytest.mark.parametrize("authorization", [c[1] for c in UNAUTHORIZED], ids=[c[0] for c in UNAUTHORIZED])
def test_without_the_right_credentials_every_call_is_401(peer: MesosMasterPeer, authorization: str | None):
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization

    response = requests.post(peer.scheduler_url, json=SUBSCRIBE, headers=headers, timeout=5)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == REALM
    assert response.text == "401 Unauthorized."
    assert peer.frameworks == {}


def test_a_standby_asks_for_credentials_before_it_redirects(peer: MesosMasterPeer):
    peer.set_leader(False, leader_url="http://127.0.0.1:1")

    response = requests.post(peer.scheduler_url, json=SUBSCRIBE, timeout=5, allow_redirects=False)

    assert response.status_code == 401


def test_the_right_credentials_subscribe_and_call(peer: MesosMasterPeer):
    probe = SchedulerProbe(peer.scheduler_url, timeout=5.0)
    probe.session.auth = ("hippo", "s3cret")
    try:
        assert probe.subscribe(probe.framework_info(principal="hippo")).status_code == 200
        assert probe.call({"type": "REVIVE"}).status_code == 202
        probe.session.auth = ("other", "pw")
        mismatch = probe.call({"type": "REVIVE"})
    finally:
        probe.close()
    assert mismatch.status_code == 400
    assert mismatch.text == (
        "Authenticated principal 'other' does not match principal 'hippo' set in `FrameworkInfo`"
    )


def test_subscribing_as_another_principal_than_authenticated_is_400(peer: MesosMasterPeer):
    body = {
        "type": "SUBSCRIBE",
        "subscribe": {"framework_info": {"user": "u", "name": "n", "principal": "x"}},
    }

    response = requests.post(peer.scheduler_url, json=body, auth=("hippo", "s3cret"), timeout=5)

    assert response.status_code == 400
    assert (
        "Failed to validate scheduler::Call: Authenticated principal 'hippo' does not match" in response.text
    )


def test_without_credentials_configured_nothing_is_checked():
    with MesosMasterPeer(agents=[SimAgent(hostname="agent1")], **FAST) as peer:
        probe = SchedulerProbe(peer.scheduler_url, timeout=5.0)
        try:
            assert probe.subscribe().status_code == 200
        finally:
            probe.close()


@pytest.mark.parametrize(("user", "refused"), [("root", True), ("hippo", False), ("Root", False)])
def test_root_frameworks_are_refused_without_root_submissions(user: str, refused: bool):
    with MesosMasterPeer(agents=[SimAgent(hostname="agent1")], root_submissions=False, **FAST) as peer:
        probe = SchedulerProbe(peer.scheduler_url, timeout=5.0)
        try:
            response = probe.subscribe(probe.framework_info(user=user))
            first = probe.events[0]
        finally:
            probe.close()
    # Refused the way a real master refuses a subscription: 200, one ERROR event, end of stream.
    assert response.status_code == 200
    if refused:
        assert first == {
            "type": "ERROR",
            "error": {
                "message": "User 'root' is not allowed to run frameworks without --root_submissions set"
            },
        }
    else:
        assert first["type"] == "SUBSCRIBED"


def test_a_new_leader_answers_503_until_it_has_recovered():
    with MesosMasterPeer(agents=[SimAgent(hostname="agent1")], recovery_seconds=0.5, **FAST) as peer:
        peer.restart()
        during = requests.post(peer.scheduler_url, json=SUBSCRIBE, timeout=5)
        slaves_during = requests.get(peer.url + "/slaves", timeout=5)
        peer.wait_for(lambda: peer.recovered)
        probe = SchedulerProbe(peer.scheduler_url, timeout=5.0)
        try:
            after = probe.subscribe()
        finally:
            probe.close()
    assert (during.status_code, during.text) == (503, "Master has not finished recovery")
    # Read-only endpoints have no recovery gate.
    assert slaves_during.status_code == 200
    assert json.loads(slaves_during.text)["recovered_slaves"][0]["hostname"] == "agent1"
    assert after.status_code == 200
