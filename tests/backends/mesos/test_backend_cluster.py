"""``MesosBackend`` against a stricter master: authentication, ``--root_submissions``, the user it
subscribes as, and suppression carried across a master failover."""

from __future__ import annotations

import os
import pwd
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from hippo_core.backend import Offer, TaskStatus
from hippo_core.backends.mesos.backend import MesosBackend
from hippo_core.backends.mesos.settings import MesosSettings, running_user
from hippo_core.config import load_config
from hippo_mesos_peer import MesosMasterPeer, SimAgent

FAST = {"heartbeat_interval": 5.0, "allocation_interval": 0.05, "status_update_retry": 0.2}


class Callbacks:
    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def of(self, kind: str) -> list[Any]:
        return [value for k, value in list(self.events) if k == kind]

    def registered(self, framework_id: str) -> None:
        self.events.append(("registered", framework_id))

    def offers(self, offers: list[Offer]) -> None:
        self.events.append(("offers", offers))

    def rescinded(self, offer_id: str) -> None:
        self.events.append(("rescinded", offer_id))

    def status_update(self, status: TaskStatus) -> None:
        self.events.append(("status", status))

    def disconnected(self, reason: str) -> None:
        self.events.append(("disconnected", reason))

    def error(self, message: str) -> None:
        self.events.append(("error", message))


@pytest.fixture
def start() -> Iterator[Callable[..., tuple[MesosBackend, Callbacks]]]:
    started: list[MesosBackend] = []

    def run(masters: list[str], **options: Any) -> tuple[MesosBackend, Callbacks]:
        options.setdefault("backoff_initial", 0.05)
        options.setdefault("backoff_max", 0.3)
        backend = MesosBackend(masters, **options)
        callbacks = Callbacks()
        backend.start(callbacks, None)
        started.append(backend)
        return backend, callbacks

    yield run
    for backend in started:
        backend.stop()


# (what it proves, principal, secret, how the refusal ends, or None when subscribed)
AUTH = [
    ("the right credentials", "hippo", "s3cret", None),
    ("a wrong secret", "hippo", "guess", "did not accept the principal and secret Hippo sent"),
    ("a principal alone sends no credentials", "hippo", None, "set [mesos] principal and secret"),
    ("no credentials at all", None, None, "set [mesos] principal and secret"),
]


@pytest.mark.parametrize(("principal", "secret", "hint"), [c[1:] for c in AUTH], ids=[c[0] for c in AUTH])
def test_http_basic_authentication_to_the_master(start, wait_until, principal, secret, hint) -> None:
    with MesosMasterPeer(agents=[SimAgent("agent1")], credentials={"hippo": "s3cret"}, **FAST) as peer:
        backend, callbacks = start([peer.url], principal=principal, secret=secret)

        if hint is None:
            wait_until(lambda: callbacks.of("registered"), what="registered")
            backend.revive()  # calls carry the credentials too
            assert [status for call, status, _ in peer.responses if call == "REVIVE"] == [202]
        else:
            (message,) = wait_until(lambda: callbacks.of("error"), what="the refusal")
            assert "refused SUBSCRIBE: HTTP 401: 401 Unauthorized." in message
            assert hint in message
            assert peer.frameworks == {}


def test_a_master_without_root_submissions_refuses_a_root_framework(start, wait_until) -> None:
    with MesosMasterPeer(agents=[SimAgent("agent1")], root_submissions=False, **FAST) as peer:
        _, refused = start([peer.url], user="root")
        _, accepted = start([peer.url], user="hippo")

        (message,) = wait_until(lambda: refused.of("error"), what="the refusal")
        wait_until(lambda: accepted.of("registered"), what="the other framework")
    assert message == (
        "Mesos reported an error: User 'root' is not allowed to run frameworks without --root_submissions set"
    )


def test_the_user_defaults_to_the_one_hippo_runs_as() -> None:
    name = pwd.getpwuid(os.geteuid()).pw_name

    assert running_user() == name
    assert load_config(env={}).section(MesosSettings).user == name
    assert MesosBackend(["http://127.0.0.1:9"]).framework_info["user"] == name
    configured = load_config(env={"HIPPO_MESOS_USER": "batch"}).section(MesosSettings)
    assert MesosBackend.from_config(load_config(env={"HIPPO_MESOS_USER": "batch"})).framework_info[
        "user"
    ] == (configured.user)


def test_a_suppress_carried_into_a_resubscription_is_known(start, wait_until) -> None:
    with MesosMasterPeer(agents=[SimAgent("agent1")], **FAST) as peer:
        backend, callbacks = start([peer.url])
        wait_until(lambda: callbacks.of("registered"), what="registered")
        assert backend.offers_suppressed() is False
        backend.suppress()
        assert backend.offers_suppressed() is True

        peer.restart()
        wait_until(lambda: len(callbacks.of("registered")) == 2, what="registered again")

        framework_id = backend.framework_id
        assert framework_id is not None
        assert peer.frameworks[framework_id].suppressed_roles == {"*"}
        assert backend.offers_suppressed() is True
        backend.revive()
        assert backend.offers_suppressed() is False
        wait_until(lambda: len(callbacks.of("offers")) > 0, what="offers after the revive")
