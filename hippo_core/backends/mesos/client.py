"""A Mesos v1 scheduler driver over HTTP, shaped like pymesos' driver.

``MesosSchedulerDriver`` subscribes to the leading master, reads the event stream on
its own thread and hands each event to a :class:`Scheduler` as raw v1 JSON. Calls
(accept, decline, kill, ...) go out on separate connections with the stream's
``Mesos-Stream-Id`` and may be made from any thread, including from inside a callback.

What it takes care of:

- trying the configured masters in turn and following redirects to the leader;
- noticing a dead connection when nothing (not even a HEARTBEAT) arrives for
  ``heartbeat_timeout_factor`` heartbeat intervals, then calling ``disconnected`` and
  subscribing again as the same framework, with capped, jittered exponential backoff;
- acknowledging every update that carries a ``uuid``, but only after ``update``
  returned: if the callback raises, Mesos keeps the update and sends it again;
- stopping for good on an ERROR event (e.g. the framework was removed) or a 4xx
  answer to SUBSCRIBE, after reporting it through ``error``.

It never sends TEARDOWN unless :meth:`MesosSchedulerDriver.teardown` is called:
stopping the driver leaves the framework and its tasks running for a successor.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterable, Sequence
from typing import Any

import requests

from hippo_core.backends.mesos import transport
from hippo_core.backends.mesos.callbacks import Scheduler
from hippo_core.backends.mesos.errors import (
    MesosCallError,
    MesosConnectionError,
    MesosError,
    MesosProtocolError,
    NotSubscribedError,
)
from hippo_core.backends.mesos.stream import STREAM_ID_HEADER, EventStream, subscribe
from hippo_core.backoff import Backoff

log = logging.getLogger(__name__)

DEFAULT_HEARTBEAT_INTERVAL = 15.0

__all__ = ["MesosSchedulerDriver", "Scheduler"]


class MesosSchedulerDriver:
    """Drive one framework on a Mesos cluster through the v1 scheduler HTTP API."""

    def __init__(
        self,
        scheduler: Scheduler,
        masters: Sequence[str],
        framework_info: dict[str, Any],
        framework_id: str | None = None,
        *,
        principal: str | None = None,
        secret: str | None = None,
        heartbeat_timeout_factor: float = 5.0,
        connect_timeout: float = 5.0,
        subscribe_timeout: float = 30.0,
        call_timeout: float = 30.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 15.0,
    ) -> None:
        if not masters:
            raise ValueError("at least one Mesos master address is needed")
        if heartbeat_timeout_factor <= 1:
            raise ValueError("heartbeat_timeout_factor must be above 1 (a few intervals)")
        self.scheduler = scheduler
        self.masters = [transport.scheduler_url(master) for master in masters]
        self._framework_info = dict(framework_info)
        if principal:
            self._framework_info["principal"] = principal
        self._auth = requests.auth.HTTPBasicAuth(principal, secret) if principal and secret else None
        self._heartbeat_timeout_factor = heartbeat_timeout_factor
        self._connect_timeout = connect_timeout
        self._subscribe_timeout = subscribe_timeout
        self._call_timeout = call_timeout
        self._backoff = Backoff(backoff_initial, backoff_max)

        self._lock = threading.Lock()
        self._framework_id = framework_id
        self._stream: EventStream | None = None
        self._stream_id: str | None = None
        self._leader_url: str | None = None
        self._master_index = 0
        self._suppressed_roles: set[str] = set()
        self._sent_suppressed: frozenset[str] = frozenset()
        self._live = False  # SUBSCRIBED arrived on the current stream
        self._error: str | None = None
        self._subscribed = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        # Acknowledgements go out on their own thread, so the event thread can handle the
        # next update while the previous one's ACKNOWLEDGE is on the wire.
        self._acks: queue.SimpleQueue[tuple[str, str, str, str] | None] = queue.SimpleQueue()
        self._ack_thread: threading.Thread | None = None
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._calls = transport.Calls(connect_timeout, call_timeout, principal, secret)

    # --- life cycle ------------------------------------------------------------------

    def start(self) -> None:
        """Begin subscribing in the background; returns at once."""
        with self._lock:
            if self._thread is not None:
                raise RuntimeError("the Mesos scheduler driver was already started")
            self._thread = threading.Thread(target=self._run, name="mesos-scheduler-driver", daemon=True)
            self._ack_thread = threading.Thread(target=self._ack_loop, name="mesos-acks", daemon=True)
        self._thread.start()
        self._ack_thread.start()

    def stop(self, timeout: float | None = 30.0) -> None:
        """Disconnect without tearing the framework down; tasks keep running."""
        self._stopping.set()
        with self._lock:
            stream = self._stream
            self._stream_id = None
            self._subscribed.clear()
        if stream is not None:
            stream.interrupt()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        # Acknowledgements still queued are dropped: Mesos sends those updates again.
        self._acks.put(None)
        ack_thread = self._ack_thread
        if ack_thread is not None and ack_thread is not threading.current_thread():
            ack_thread.join(timeout)
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()
        self._calls.close()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the driver to stop; True once it has."""
        thread = self._thread
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def wait_subscribed(self, timeout: float | None = None) -> bool:
        """Block until a subscription is live; False on timeout."""
        return self._subscribed.wait(timeout)

    @property
    def framework_id(self) -> str | None:
        with self._lock:
            return self._framework_id

    @property
    def subscribed(self) -> bool:
        return self._subscribed.is_set()

    @property
    def suppressed_roles(self) -> frozenset[str]:
        """Roles the master holds offers back for, as far as what was sent says: those the
        live subscription carried in ``suppressed_roles``, then each SUPPRESS and REVIVE since."""
        with self._lock:
            return frozenset(self._suppressed_roles)

    @property
    def error_message(self) -> str | None:
        """Why the driver stopped for good, if Mesos refused it."""
        with self._lock:
            return self._error

    # --- calls -----------------------------------------------------------------------

    def accept(
        self,
        offer_ids: Iterable[str],
        operations: list[dict[str, Any]],
        filters: dict[str, Any] | None = None,
    ) -> None:
        payload: dict[str, Any] = {"offer_ids": _ids(offer_ids), "operations": operations}
        if filters is not None:
            payload["filters"] = filters
        self._call("ACCEPT", "accept", payload)

    def launch(
        self,
        offer_ids: Iterable[str],
        task_infos: list[dict[str, Any]],
        filters: dict[str, Any] | None = None,
    ) -> None:
        operation = {"type": "LAUNCH", "launch": {"task_infos": task_infos}}
        self.accept(offer_ids, [operation], filters)

    def decline(self, offer_ids: Iterable[str], filters: dict[str, Any] | None = None) -> None:
        payload: dict[str, Any] = {"offer_ids": _ids(offer_ids)}
        if filters is not None:
            payload["filters"] = filters
        self._call("DECLINE", "decline", payload)

    def kill(self, task_id: str, agent_id: str | None = None) -> None:
        payload: dict[str, Any] = {"task_id": {"value": task_id}}
        if agent_id:
            payload["agent_id"] = {"value": agent_id}
        self._call("KILL", "kill", payload)

    def acknowledge(self, agent_id: str, task_id: str, uuid: str) -> None:
        """Acknowledge one update; ``uuid`` is the base64 text the update carried."""
        payload = {"agent_id": {"value": agent_id}, "task_id": {"value": task_id}, "uuid": uuid}
        self._call("ACKNOWLEDGE", "acknowledge", payload)

    def reconcile(self, tasks: Iterable[tuple[str, str | None]] = ()) -> None:
        """Ask for the state of ``(task_id, agent_id)`` pairs; none asks for every task."""
        entries = []
        for task_id, agent_id in tasks:
            entry: dict[str, Any] = {"task_id": {"value": task_id}}
            if agent_id:
                entry["agent_id"] = {"value": agent_id}
            entries.append(entry)
        self._call("RECONCILE", "reconcile", {"tasks": entries})

    def suppress(self, roles: Iterable[str] | None = None) -> None:
        """Stop offers for ``roles`` (all of the framework's roles when None)."""
        chosen = list(roles) if roles is not None else self._roles()
        self._call("SUPPRESS", "suppress", {"roles": chosen})
        with self._lock:
            self._suppressed_roles.update(chosen)

    def revive(self, roles: Iterable[str] | None = None) -> None:
        """Offers again for ``roles`` (all when None), clearing refuse filters."""
        chosen = list(roles) if roles is not None else self._roles()
        self._call("REVIVE", "revive", {"roles": chosen})
        with self._lock:
            self._suppressed_roles.difference_update(chosen)

    def teardown(self) -> None:
        """Remove the framework from the cluster: Mesos kills all its tasks. Then stop."""
        self._call("TEARDOWN", None, None)
        self.stop()

    def _roles(self) -> list[str]:
        roles = self._framework_info.get("roles")
        if roles:
            return list(roles)
        return [self._framework_info.get("role", "*")]

    def _call(self, call_type: str, key: str | None, payload: dict[str, Any] | None) -> None:
        with self._lock:
            stream_id, url, framework_id = self._stream_id, self._leader_url, self._framework_id
        if stream_id is None or url is None or framework_id is None:
            raise NotSubscribedError(
                f"cannot send {call_type}: not subscribed to a Mesos master "
                "(not yet, or the subscription was lost and is being renewed)"
            )
        body: dict[str, Any] = {"type": call_type, "framework_id": {"value": framework_id}}
        if key is not None:
            body[key] = payload
        self._calls.post(url, body, call_type=call_type, stream_id=stream_id)

    def _session(self) -> requests.Session:
        # requests does not promise that a Session is thread-safe: one per thread.
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    # --- the event thread ------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._subscribe_loop()
        except Exception as exc:
            # A bug, not a cluster problem: logged with its traceback and reported as fatal.
            log.exception("the Mesos scheduler driver failed unexpectedly")
            self._fail(f"the Mesos scheduler driver failed unexpectedly: {type(exc).__name__}: {exc}")
        finally:
            with self._lock:
                self._stream = None
                self._stream_id = None
            self._subscribed.clear()

    def _subscribe_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                stream = self._open_stream()
            except MesosCallError as exc:
                self._fail(f"Mesos refused the subscription: {exc}{self._refusal_hint(exc)}")
                return
            except MesosConnectionError as exc:
                delay = self._backoff.next()
                log.warning("%s; trying again in %.1fs", exc, delay)
                self._stopping.wait(delay)
                continue
            reason = self._read(stream)
            if reason is None or self._stopping.is_set():
                return
            with self._lock:
                was_subscribed, self._live = self._live, False
            if was_subscribed:
                self._invoke("disconnected", reason)
            delay = self._backoff.next()
            log.warning("lost the Mesos subscription (%s); subscribing again in %.1fs", reason, delay)
            self._stopping.wait(delay)

    def _refusal_hint(self, exc: MesosCallError) -> str:
        if exc.status != 401:
            return ""
        if self._auth is None:
            return (
                "; the master requires HTTP authentication: set [mesos] principal and secret "
                "(HIPPO_MESOS_PRINCIPAL, HIPPO_MESOS_SECRET)"
            )
        return "; the master did not accept the principal and secret Hippo sent"

    def _open_stream(self) -> EventStream:
        with self._lock:
            first = self._master_index
        stream, index = subscribe(
            self.masters,
            self._subscribe_body(),
            first=first,
            timeout=(self._connect_timeout, self._subscribe_timeout),
            auth=self._auth,
        )
        with self._lock:
            self._master_index = index
            self._stream = stream
        if self._stopping.is_set():  # stop() ran while we were connecting
            stream.interrupt()
        return stream

    def _subscribe_body(self) -> dict[str, Any]:
        with self._lock:
            framework_id = self._framework_id
            suppressed = sorted(self._suppressed_roles)
            self._sent_suppressed = frozenset(suppressed)
        framework_info = dict(self._framework_info)
        subscribe_call: dict[str, Any] = {"framework_info": framework_info}
        if suppressed:
            # A resubscription replaces the suppressed set; keep what was asked for.
            subscribe_call["suppressed_roles"] = suppressed
        body: dict[str, Any] = {"type": "SUBSCRIBE", "subscribe": subscribe_call}
        if framework_id:
            framework_info["id"] = {"value": framework_id}
            body["framework_id"] = {"value": framework_id}
        return body

    def _read(self, stream: EventStream) -> str | None:
        """Dispatch events until the stream ends; the reason to resubscribe, or None to quit."""
        try:
            for event in stream.events():
                if not self._dispatch(stream, event):
                    return None
            return None if self._stopping.is_set() else "the event stream ended"
        except MesosProtocolError as exc:
            log.error("%s", exc)
            return str(exc)
        except MesosConnectionError as exc:
            return str(exc)
        finally:
            with self._lock:
                self._stream = None
                self._stream_id = None
            self._subscribed.clear()
            stream.close()

    def _dispatch(self, stream: EventStream, event: dict[str, Any]) -> bool:
        """Handle one event; False when the driver must stop."""
        kind = event["type"]
        try:
            return self._dispatch_kind(stream, kind, event)
        except (KeyError, TypeError, ValueError) as exc:
            raise MesosProtocolError(
                f"malformed {kind} event from {stream.url} ({type(exc).__name__}: {exc}): {str(event)[:300]}"
            ) from exc

    def _dispatch_kind(self, stream: EventStream, kind: str, event: dict[str, Any]) -> bool:
        if kind == "SUBSCRIBED":
            self._on_subscribed(stream, event["subscribed"])
        elif kind == "OFFERS":
            self._invoke("offers", event["offers"].get("offers") or [])
        elif kind == "RESCIND":
            self._invoke("rescind", event["rescind"]["offer_id"]["value"])
        elif kind == "UPDATE":
            self._on_update(event["update"]["status"])
        elif kind == "MESSAGE":
            self._invoke("message", event.get("message") or {})
        elif kind == "FAILURE":
            self._invoke("failure", event.get("failure") or {})
        elif kind == "HEARTBEAT":
            self._invoke("heartbeat")
        elif kind == "ERROR":
            # The v1 JSON nests the message; the Mesos docs' example puts it on top.
            message = (event.get("error") or {}).get("message") or event.get("message")
            self._fail(f"Mesos reported an error: {message or 'no message'}")
            return False
        else:
            log.debug("ignoring Mesos event %s", kind)
        return True

    def _on_subscribed(self, stream: EventStream, subscribed: dict[str, Any]) -> None:
        if not stream.stream_id:
            raise MesosProtocolError(
                f"the master at {stream.url} sent no {STREAM_ID_HEADER} header with SUBSCRIBED"
            )
        framework_id = subscribed["framework_id"]["value"]
        interval = float(subscribed.get("heartbeat_interval_seconds") or DEFAULT_HEARTBEAT_INTERVAL)
        stream.set_idle_timeout(interval * self._heartbeat_timeout_factor)
        with self._lock:
            self._framework_id = framework_id
            self._stream_id = stream.stream_id
            self._leader_url = stream.url
            self._live = True
            # The master took the subscription with exactly the roles it carried suppressed.
            self._suppressed_roles = set(self._sent_suppressed)
        self._backoff.reset()
        self._subscribed.set()
        log.info("subscribed to Mesos at %s as framework %s", stream.url, framework_id)
        self._invoke("subscribed", framework_id, subscribed)

    def _on_update(self, status: dict[str, Any]) -> None:
        if not self._invoke("update", status):
            return  # not acknowledged: Mesos will send it again
        uuid = status.get("uuid")
        if not uuid:
            return  # updates without uuid are not retried and must not be acknowledged
        task_id = status["task_id"]["value"]
        agent_id = (status.get("agent_id") or {}).get("value")
        if not agent_id:
            log.warning("update %s of task %s has a uuid but no agent; not acknowledged", uuid, task_id)
            return
        self._acks.put((agent_id, task_id, uuid, str(status.get("state"))))

    def _ack_loop(self) -> None:
        while not self._stopping.is_set():
            ack = self._acks.get()
            if ack is None or self._stopping.is_set():
                return
            agent_id, task_id, uuid, state = ack
            try:
                self.acknowledge(agent_id, task_id, uuid)
            except MesosError as exc:
                log.warning(
                    "could not acknowledge %s of task %s (Mesos will resend it): %s", state, task_id, exc
                )

    def _invoke(self, callback: str, *args: Any) -> bool:
        """Call a scheduler callback; False if it raised (which is logged)."""
        try:
            getattr(self.scheduler, callback)(self, *args)
        except Exception:
            log.exception("Mesos scheduler callback %s raised", callback)
            return False
        return True

    def _fail(self, message: str) -> None:
        """Stop for good and tell the scheduler why."""
        log.error("%s; the Mesos scheduler driver stops", message)
        with self._lock:
            self._error = message
            self._stream_id = None
        self._subscribed.clear()
        self._stopping.set()
        self._acks.put(None)
        self._invoke("error", message)


def _ids(values: Iterable[str]) -> list[dict[str, str]]:
    return [{"value": value} for value in values]
