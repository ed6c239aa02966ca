"""The simulated master: ``Master::Http::scheduler`` in front of the master's books.

Checks run in the order the real endpoint runs them, so each mistake gets the
status a real master gives:

1. unknown path: 404;
2. credentials configured and the request's missing or wrong: 401 with
   ``WWW-Authenticate: Basic realm="mesos-master-scheduler"`` (before anything
   else, so a standby answers 401 too);
3. not the leader: 307 with ``Location: //leader:port/api/v1/scheduler``
   (scheme-relative, as Mesos writes it), or 503 when no leader is known;
4. elected but still reading the registry: 503 "Master has not finished recovery";
5. not POST: 405;
6. no ``Content-Type``: 400; other than ``application/json``: 415;
7. body not JSON, or not a ``Call``: 400; ``Call`` invalid: 400;
8. SUBSCRIBE whose ``Accept`` excludes JSON: 406; SUBSCRIBE carrying a
   ``Mesos-Stream-Id``: 400; else 200 and the event stream;
9. other calls: unknown framework 400 ("Framework cannot be found"), an
   authenticated principal other than the framework's 400, known but not
   subscribed 403, no or another ``Mesos-Stream-Id`` 400; else 202 (200 for
   UPDATE_FRAMEWORK, 501 for UNKNOWN).

``GET /slaves`` (or ``/master/slaves``, ``?slave_id=`` to pick one) lists the
registered agents with their ``pid`` (``slave(1)@ip:port``: where their HTTP API
answers) and the ones a failover left recovered but not reregistered yet; a
standby redirects it to the leader, as for scheduler calls.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from hippo_mesos_peer.agent_api import AgentApiMixin
from hippo_mesos_peer.allocation import AllocationMixin
from hippo_mesos_peer.calls import CallRejected, load_json, principal_mismatch, to_call, validate_call
from hippo_mesos_peer.cluster import RECOVERING, REGISTERED
from hippo_mesos_peer.faults import FaultsMixin
from hippo_mesos_peer.frameworks import (
    FrameworksMixin,
    SimFramework,
    framework_info_error,
)
from hippo_mesos_peer.launch import LaunchMixin
from hippo_mesos_peer.protocol import SCHEDULER_PATHS
from hippo_mesos_peer.replies import JSON, PROTOBUF, Reply
from hippo_mesos_peer.state import MasterState
from hippo_mesos_peer.tasks import TasksMixin

log = logging.getLogger(__name__)

SLAVES_PATHS = frozenset({"/slaves", "/master/slaves"})
SCHEDULER_REALM = "mesos-master-scheduler"


def _accepted_media(header: str | None) -> set[str]:
    """Media ranges an ``Accept`` header allows (q > 0); no header allows anything."""
    if header is None:
        return {"*/*"}
    allowed = set()
    for part in header.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if media and quality > 0:
            allowed.add(media.lower())
    return allowed


def _accepts(header: str | None, media_type: str) -> bool:
    allowed = _accepted_media(header)
    return bool({media_type, media_type.split("/")[0] + "/*", "*/*"} & allowed)


class Master(
    AgentApiMixin, FaultsMixin, TasksMixin, LaunchMixin, AllocationMixin, FrameworksMixin, MasterState
):
    def start_allocation(self) -> None:
        self._allocation_tick()

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Reply:
        """Answer one HTTP request; ``target`` is the request's path and query."""
        parts = urlsplit(target)
        with self.lock:
            if parts.path in SLAVES_PATHS:
                return self._answer(lambda: self._slaves(method, parts.path, parts.query), record=False)
            return self._answer(lambda: self._scheduler(method, parts.path, headers, body), record=True)

    def _answer(self, handler: Callable[[], Reply], *, record: bool) -> Reply:
        call_type = "-"
        try:
            reply = handler()
            call_type = reply.headers.pop("X-Call-Type", "-")
        except CallRejected as rejected:
            call_type = rejected.headers.pop("X-Call-Type", "-")
            headers_out = {"Content-Type": "text/plain; charset=utf-8", **rejected.headers}
            reply = Reply(rejected.status, headers_out, rejected.message.encode("utf-8"))
        except Exception as exc:
            # A bug in the peer: answer 500 and make the test that waits or stops fail.
            log.exception("Mesos test peer failed handling a request")
            self._internal_error(exc)
            body = f"Mesos test peer internal error: {exc!r}".encode()
            reply = Reply(500, {"Content-Type": "text/plain; charset=utf-8"}, body)
        if record:
            self.responses.append((call_type, reply.status, reply.body.decode("utf-8", "replace")))
        return reply

    def _not_leading(self, path: str) -> CallRejected:
        if self.leader_url is None:
            return CallRejected(503, "No leader elected")
        leader = urlsplit(self.leader_url)
        return CallRejected(307, "", {"Location": f"//{leader.netloc}{path}"})

    def _authenticate(self, headers: Mapping[str, str]) -> str | None:
        """The principal of the request's basic credentials; 401 unless they are known."""
        if not self.credentials:
            return None
        refused = CallRejected(
            401, "401 Unauthorized.", {"WWW-Authenticate": f'Basic realm="{SCHEDULER_REALM}"'}
        )
        scheme, _, token = (headers.get("Authorization") or "").partition(" ")
        if scheme != "Basic" or not token or " " in token:
            raise refused
        try:
            decoded = base64.b64decode(token, validate=True).decode("utf-8")
        except (binascii.Error, ValueError) as exc:
            raise refused from exc
        principal, *rest = decoded.split(":")
        if len(rest) != 1 or self.credentials.get(principal) != rest[0]:
            raise refused
        return principal

    def _scheduler(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Reply:
        if path not in SCHEDULER_PATHS:
            raise CallRejected(404, "")
        principal = self._authenticate(headers)
        if not self.leading:
            raise self._not_leading(path)
        if time.monotonic() < self.recovered_at:
            raise CallRejected(503, "Master has not finished recovery")
        if method != "POST":
            message = f"Expecting one of {{ 'POST' }}, but received '{method}'"
            raise CallRejected(405, message, {"Allow": "POST"})
        content_type = headers.get("Content-Type")
        if content_type is None:
            raise CallRejected(400, "Expecting 'Content-Type' to be present")
        if content_type == PROTOBUF:
            raise CallRejected(415, "The Mesos test peer speaks JSON only: send application/json")
        if content_type != JSON:
            raise CallRejected(415, f"Expecting 'Content-Type' of {JSON} or {PROTOBUF}")
        raw, call = self._parse(body, principal)
        call_type = self._call_type(raw)
        try:
            reply = self._dispatch(call, headers, principal)
        except CallRejected as rejected:
            rejected.headers["X-Call-Type"] = call_type
            raise
        reply.headers["X-Call-Type"] = call_type
        return reply

    def _slaves(self, method: str, path: str, query: str) -> Reply:
        """``GET /slaves``: no recovery gate and no authentication (``--authenticate_http_readonly``
        is not simulated)."""
        if not self.leading:
            raise self._not_leading(path + (f"?{query}" if query else ""))
        if method not in ("GET", "HEAD"):
            message = f"Expecting one of {{ 'GET' }}, but received '{method}'"
            raise CallRejected(405, message, {"Allow": "GET"})
        wanted = parse_qs(query).get("slave_id")
        chosen = [a for a in self.agents.values() if wanted is None or a.agent_id in wanted]
        listing = {
            "slaves": [a.slave_json() for a in chosen if a.status == REGISTERED],
            "recovered_slaves": [a.agent_info_json() for a in chosen if a.status == RECOVERING],
        }
        return Reply(200, {"Content-Type": JSON}, json.dumps(listing).encode("utf-8"))

    def _parse(self, body: bytes, principal: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
        raw = load_json(body)
        if isinstance(raw, dict):
            self.calls.append((self._call_type(raw), raw))
        call = to_call(raw)
        validate_call(call, principal)
        return raw, call

    @staticmethod
    def _call_type(raw: dict[str, Any]) -> str:
        call_type = raw.get("type")
        return call_type if isinstance(call_type, str) else "UNKNOWN"

    def _dispatch(self, call: dict[str, Any], headers: Mapping[str, str], principal: str | None) -> Reply:
        call_type = call["type"]
        if call_type in ("SUBSCRIBE", "RECONCILE_OPERATIONS") and not _accepts(headers.get("Accept"), JSON):
            if _accepts(headers.get("Accept"), PROTOBUF):
                raise CallRejected(406, "The Mesos test peer speaks JSON only: accept application/json")
            raise CallRejected(406, f"Expecting 'Accept' to allow '{PROTOBUF}' or '{JSON}'")
        if call_type == "SUBSCRIBE":
            if headers.get("Mesos-Stream-Id") is not None:
                raise CallRejected(400, "Subscribe calls should not include the 'Mesos-Stream-Id' header")
            stream = self.subscribe(call)
            return Reply(200, {"Content-Type": JSON, "Mesos-Stream-Id": stream.stream_id}, stream=stream)
        framework_id = call["framework_id"]["value"]
        framework = self.frameworks.get(framework_id)
        if framework is None:
            raise CallRejected(400, "Framework cannot be found")
        declared = framework.info.get("principal", "")
        if principal is not None and principal != declared:
            raise CallRejected(400, principal_mismatch(principal, declared))
        if not framework.connected:
            raise CallRejected(403, "Framework is not subscribed")
        stream_id = headers.get("Mesos-Stream-Id")
        if stream_id is None:
            raise CallRejected(400, "All non-subscribe calls should include the 'Mesos-Stream-Id' header")
        if stream_id != framework.stream_id:
            raise CallRejected(
                400,
                f"The stream ID '{stream_id}' included in this request didn't match the stream ID"
                f" currently associated with framework ID {framework_id}",
            )
        if call_type == "UPDATE_FRAMEWORK":
            self.update_framework(framework, call["update_framework"])
            return Reply(200)
        if call_type == "UNKNOWN":
            raise CallRejected(501, "")
        self._handlers(framework, call).get(call_type, self._ignore(call_type))()
        return Reply(202)

    def _handlers(self, framework: SimFramework, call: dict[str, Any]) -> dict[str, Callable[[], None]]:
        return {
            "TEARDOWN": lambda: self.remove_framework(framework),
            "ACCEPT": lambda: self.accept(framework, call["accept"]),
            "DECLINE": lambda: self.decline(framework, call["decline"]),
            "REVIVE": lambda: self.revive(framework, call.get("revive", {})),
            "SUPPRESS": lambda: self.suppress(framework, call.get("suppress", {})),
            "KILL": lambda: self.kill(framework, call["kill"]),
            "ACKNOWLEDGE": lambda: self.acknowledge(framework, call["acknowledge"]),
            "RECONCILE": lambda: self.reconcile(framework, call["reconcile"]),
        }

    def _ignore(self, call_type: str) -> Callable[[], None]:
        return lambda: self.notes.append(f"{call_type} accepted but not simulated")

    def update_framework(self, framework: SimFramework, update: dict[str, Any]) -> None:
        info = dict(update["framework_info"])
        suppressed = list(update.get("suppressed_roles", []))
        problem = framework_info_error(info, suppressed)
        old = framework.info
        if problem is None and old.get("principal") != info.get("principal"):
            problem = "Changing framework's principal is not allowed."
        for key in ("user", "checkpoint"):
            if problem is None and old.get(key) != info.get(key):
                problem = f"Updating 'FrameworkInfo.{key}' is unsupported"
        if problem is not None:
            raise CallRejected(400, problem)
        unsuppressed = framework.suppressed_roles - set(suppressed)
        framework.info = info
        self.agent_framework_infos[framework.framework_id] = info
        framework.suppressed_roles = set(suppressed)
        framework.failover_timeout = float(info.get("failover_timeout", 0.0))
        for key in [k for k in self.filters if k[0] == framework.framework_id and k[1] in unsuppressed]:
            del self.filters[key]
        for offer_id in sorted(framework.offer_ids):
            if self.offers[offer_id].role not in framework.roles:
                self._rescind(self.offers[offer_id])
        self._allocate_soon()
