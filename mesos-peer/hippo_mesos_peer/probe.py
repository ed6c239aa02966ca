"""A bare v1 scheduler for poking a master by hand in tests: plain ``requests``, its own
RecordIO reader, no retries and no cleverness, so the master's answers show as they are.

    probe = SchedulerProbe(peer.scheduler_url)
    probe.subscribe()                       # SUBSCRIBED and the first HEARTBEAT arrive
    offers = probe.next_event("OFFERS")["offers"]["offers"]
    probe.call({"type": "DECLINE", "decline": {"offer_ids": [offers[0]["id"]]}})
    probe.close()
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import requests

Event = dict[str, Any]


def task_info(
    task_id: str,
    offer: Event,
    *,
    cpus: float = 0.1,
    mem: float = 32.0,
    command: str = "true",
    labels: dict[str, str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A command ``TaskInfo`` for ``offer``'s agent."""
    info: dict[str, Any] = {
        "name": task_id,
        "task_id": {"value": task_id},
        "agent_id": offer["agent_id"],
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": mem}},
        ],
        "command": {"value": command, "shell": True},
    }
    if labels:
        info["labels"] = {"labels": [{"key": k, "value": v} for k, v in labels.items()]}
    info.update(extra)
    return info


class RecordIOReader:
    """Splits ``<length>\\n<bytes>`` records out of a byte stream cut anywhere."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        records = []
        while True:
            newline = self._buffer.find(b"\n")
            if newline < 0:
                return records
            length = int(self._buffer[:newline])
            end = newline + 1 + length
            if len(self._buffer) < end:
                return records
            records.append(self._buffer[newline + 1 : end])
            self._buffer = self._buffer[end:]

    @property
    def leftover(self) -> bytes:
        return self._buffer


class SchedulerProbe:
    """One subscription (read on a thread) plus calls on other connections."""

    def __init__(self, url: str, timeout: float = 10.0):
        self.url = url
        self.timeout = timeout
        self.session = requests.Session()
        self.framework_id: str | None = None
        self.stream_id: str | None = None
        self.response: requests.Response | None = None
        self.events: list[Event] = []
        self.ended = False
        self.stream_error: BaseException | None = None
        self._taken: set[int] = set()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    @staticmethod
    def framework_info(**overrides: Any) -> dict[str, Any]:
        info: dict[str, Any] = {
            "user": "root",
            "name": "probe",
            "failover_timeout": 60.0,
            "roles": ["*"],
            "capabilities": [{"type": "MULTI_ROLE"}, {"type": "PARTITION_AWARE"}],
        }
        info.update(overrides)
        return info

    def subscribe(
        self,
        framework_info: dict[str, Any] | None = None,
        *,
        resubscribe: bool = False,
        headers: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> requests.Response:
        """POST SUBSCRIBE and start reading the stream; waits for its first event on 200."""
        info = dict(framework_info or self.framework_info())
        if resubscribe and self.framework_id:
            info["id"] = {"value": self.framework_id}
        if body is None:
            body = {"type": "SUBSCRIBE", "subscribe": {"framework_info": info}}
            if "id" in info:
                body["framework_id"] = info["id"]
        self.close_stream()
        with self._cond:
            self.events, self._taken, self.ended, self.stream_error = [], set(), False, None
        response = self.session.post(
            self.url,
            json=body,
            headers={"Accept": "application/json", **(headers or {})},
            stream=True,
            timeout=self.timeout,
            allow_redirects=False,
        )
        self.response = response
        if response.status_code != 200:
            response.close()
            return response
        self.stream_id = response.headers.get("Mesos-Stream-Id")
        self._thread = threading.Thread(target=self._read, args=(response,), daemon=True)
        self._thread.start()
        first = self.next_event()
        if first["type"] == "SUBSCRIBED":
            self.framework_id = first["subscribed"]["framework_id"]["value"]
        return response

    def _read(self, response: requests.Response) -> None:
        reader = RecordIOReader()
        try:
            for data in response.iter_content(chunk_size=None):
                for record in reader.feed(data):
                    with self._cond:
                        self.events.append(json.loads(record))
                        self._cond.notify_all()
        except (requests.RequestException, OSError, ValueError) as exc:
            # Kept for the test to look at: an abrupt end is what some tests expect.
            self.stream_error = exc
        finally:
            with self._cond:
                self.ended = True
                self._cond.notify_all()

    def _take(self, event_type: str | None, where: Callable[[Event], bool] | None) -> Event | None:
        for index, event in enumerate(self.events):
            if index in self._taken or event_type not in (None, event["type"]):
                continue
            if where is None or where(event):
                self._taken.add(index)
                return event
        return None

    def next_event(
        self, event_type: str | None = None, where: Callable[[Event], bool] | None = None
    ) -> Event:
        """The oldest event not returned yet (of ``event_type``, matching ``where``);
        events of other kinds stay for later calls."""
        deadline = time.monotonic() + self.timeout
        with self._cond:
            while True:
                event = self._take(event_type, where)
                if event is not None:
                    return event
                if self.ended:
                    raise EOFError(f"stream ended before a {event_type or 'event'} arrived")
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [e["type"] for e in self.events]
                    raise TimeoutError(f"no {event_type or 'event'} within {self.timeout}s; got {seen}")
                self._cond.wait(left)

    def next_update(
        self, task_id: str, state: str | None = None, reason: str | None = None
    ) -> dict[str, Any]:
        """The status of the next UPDATE for ``task_id`` (in ``state``, with ``reason``)."""

        def matches(event: Event) -> bool:
            status = event["update"]["status"]
            return (
                status["task_id"]["value"] == task_id
                and state in (None, status["state"])
                and reason in (None, status.get("reason"))
            )

        return self.next_event("UPDATE", matches)["update"]["status"]

    def wait_ended(self) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: self.ended, self.timeout):
                raise TimeoutError(f"stream still open after {self.timeout}s")

    def call(
        self,
        body: dict[str, Any],
        *,
        headers: dict[str, str] | None = None,
        with_stream_id: bool = True,
    ) -> requests.Response:
        """POST a call with this framework's id and stream id unless the body/headers say otherwise."""
        body = dict(body)
        if self.framework_id and "framework_id" not in body:
            body["framework_id"] = {"value": self.framework_id}
        sent = {"Content-Type": "application/json"}
        if with_stream_id and self.stream_id:
            sent["Mesos-Stream-Id"] = self.stream_id
        sent.update(headers or {})
        return self.session.post(
            self.url, data=json.dumps(body), headers=sent, timeout=self.timeout, allow_redirects=False
        )

    def acknowledge(self, status: dict[str, Any]) -> requests.Response:
        return self.call(
            {
                "type": "ACKNOWLEDGE",
                "acknowledge": {
                    "agent_id": status["agent_id"],
                    "task_id": status["task_id"],
                    "uuid": status["uuid"],
                },
            }
        )

    def next_offers(self) -> list[Event]:
        return self.next_event("OFFERS")["offers"]["offers"]

    def offers_for(self, *hostnames: str) -> dict[str, Event]:
        """The next offer of each of ``hostnames`` (over as many OFFERS events as it takes)."""
        got: dict[str, Event] = {}
        while not set(hostnames) <= set(got):
            for offer in self.next_offers():
                got.setdefault(offer["hostname"], offer)
        return got

    def arriving(
        self, event_type: str, seconds: float, where: Callable[[Event], bool] | None = None
    ) -> list[Event]:
        """Every ``event_type`` event (matching ``where``) not returned yet, waiting
        ``seconds`` for more."""
        deadline = time.monotonic() + seconds
        found = []
        with self._cond:
            while True:
                event = self._take(event_type, where)
                while event is not None:
                    found.append(event)
                    event = self._take(event_type, where)
                left = deadline - time.monotonic()
                if left <= 0 or self.ended:
                    return found
                self._cond.wait(left)

    def accept(
        self,
        offers: Event | list[Event],
        task_infos: list[dict[str, Any]],
        *,
        refuse_seconds: float | None = None,
    ) -> requests.Response:
        offers = offers if isinstance(offers, list) else [offers]
        accept: dict[str, Any] = {
            "offer_ids": [o["id"] for o in offers],
            "operations": [{"type": "LAUNCH", "launch": {"task_infos": task_infos}}],
        }
        if refuse_seconds is not None:
            accept["filters"] = {"refuse_seconds": refuse_seconds}
        return self.call({"type": "ACCEPT", "accept": accept})

    def decline(self, offers: Event | list[Event], refuse_seconds: float | None = None) -> requests.Response:
        offers = offers if isinstance(offers, list) else [offers]
        decline: dict[str, Any] = {"offer_ids": [o["id"] for o in offers]}
        if refuse_seconds is not None:
            decline["filters"] = {"refuse_seconds": refuse_seconds}
        return self.call({"type": "DECLINE", "decline": decline})

    def kill(self, task_id: str, agent_id: str | None = None) -> requests.Response:
        kill: dict[str, Any] = {"task_id": {"value": task_id}}
        if agent_id is not None:
            kill["agent_id"] = {"value": agent_id}
        return self.call({"type": "KILL", "kill": kill})

    def reconcile(self, tasks: list[tuple[str, str | None]]) -> requests.Response:
        items: list[dict[str, Any]] = []
        for task_id, agent_id in tasks:
            item: dict[str, Any] = {"task_id": {"value": task_id}}
            if agent_id is not None:
                item["agent_id"] = {"value": agent_id}
            items.append(item)
        return self.call({"type": "RECONCILE", "reconcile": {"tasks": items}})

    def close_stream(self) -> None:
        """Hang up the subscription: shutting the socket wakes the reading thread."""
        if self.response is None:
            return
        raw = self.response.raw
        connection = getattr(raw, "connection", None) or getattr(raw, "_connection", None)
        sock = getattr(connection, "sock", None)
        if sock is not None:
            # OSError: the other side closed it already, nothing left to hang up.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=self.timeout)
            self._thread = None
        self.response.close()
        self.response = None

    def close(self) -> None:
        self.close_stream()
        self.session.close()
