"""The SUBSCRIBE connection: open it on the leading master and read its event stream.

The stream is read with ``read1`` so each event is handed over as soon as its bytes
arrive, whatever the HTTP chunking. Dead connections are found through the socket's
read timeout, which is tightened to a few heartbeat intervals once the master has
said how often it beats. Another thread can :meth:`EventStream.interrupt` a blocked
read by shutting the socket down (closing a socket does not wake a blocked ``recv``).
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
from collections.abc import Iterator, Sequence
from typing import Any

import requests
import urllib3.exceptions

from hippo_core.backends.mesos import transport
from hippo_core.backends.mesos.errors import (
    MesosCallError,
    MesosConnectionError,
    MesosProtocolError,
)
from hippo_core.backends.mesos.recordio import RecordIODecoder, RecordIOError

log = logging.getLogger(__name__)

STREAM_ID_HEADER = "Mesos-Stream-Id"
READ_SIZE = 64 * 1024
_READ_ERRORS = (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError, ValueError)


class EventStream:
    """A live subscription response; iterate :meth:`events` on one thread only."""

    def __init__(self, session: requests.Session, response: requests.Response, url: str) -> None:
        self.url = url
        self.stream_id = response.headers.get(STREAM_ID_HEADER)
        self._session = session
        self._response = response
        self._decoder = RecordIODecoder()
        self._interrupted = False
        connection = getattr(response.raw, "connection", None)
        self._socket: socket.socket | None = getattr(connection, "sock", None)
        if self._socket is None:
            log.warning(
                "cannot reach the socket of the Mesos event stream from %s; dead connections "
                "will only be noticed by the initial read timeout",
                url,
            )

    def set_idle_timeout(self, seconds: float) -> None:
        """Fail a read that waits longer than ``seconds`` for any byte."""
        if self._socket is not None:
            self._socket.settimeout(seconds)

    def events(self) -> Iterator[dict[str, Any]]:
        """Decoded events until the stream ends (returns) or breaks (raises)."""
        while True:
            try:
                data = self._response.raw.read1(READ_SIZE)
            except _READ_ERRORS as exc:
                if self._interrupted:
                    return
                raise MesosConnectionError(f"event stream from {self.url} broke: {_describe(exc)}") from exc
            if not data:
                if self._interrupted:
                    return
                try:
                    self._decoder.close()
                except RecordIOError as exc:
                    raise MesosProtocolError(f"event stream from {self.url}: {exc}") from exc
                raise MesosConnectionError(f"the master at {self.url} closed the event stream")
            try:
                records = self._decoder.feed(data)
            except RecordIOError as exc:
                raise MesosProtocolError(f"event stream from {self.url}: {exc}") from exc
            for record in records:
                if record:  # an empty record carries no event
                    yield _decode_event(record, self.url)

    def interrupt(self) -> None:
        """Wake a blocked read and make the stream end; safe from any thread."""
        self._interrupted = True
        if self._socket is None:
            return
        try:
            self._socket.shutdown(socket.SHUT_RDWR)
        except OSError as exc:
            # The connection may already be gone, which is what we wanted anyway.
            log.debug("shutting down the event stream socket: %s", exc)

    def close(self) -> None:
        """Release the connection; call from the thread that reads the events."""
        self._interrupted = True
        self._response.close()
        self._session.close()


def _decode_event(record: bytes, url: str) -> dict[str, Any]:
    try:
        event = json.loads(record)
    except ValueError as exc:
        raise MesosProtocolError(
            f"event stream from {url}: record is not JSON ({exc}): {record[:200]!r}"
        ) from exc
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise MesosProtocolError(f"event stream from {url}: record has no type: {record[:200]!r}")
    return event


def _describe(exc: BaseException) -> str:
    if isinstance(exc, urllib3.exceptions.ReadTimeoutError | socket.timeout):
        return "no data within the read timeout"
    return f"{type(exc).__name__}: {exc}"


def subscribe(
    masters: Sequence[str],
    body: dict[str, Any],
    *,
    first: int = 0,
    timeout: tuple[float, float],
    auth: requests.auth.AuthBase | None = None,
) -> tuple[EventStream, int]:
    """Open a subscription on the first master (from index ``first``) that takes it.

    Returns the stream and the index of the master that led to it. A 4xx answer
    raises :class:`MesosCallError` at once (asking again will not help); when every
    master fails otherwise, :class:`MesosConnectionError` lists what each said.
    """
    failures = []
    for step in range(len(masters)):
        index = (first + step) % len(masters)
        # A fresh session per subscription: the stream must own its connection.
        session = requests.Session()
        try:
            response, url = transport.post(
                session,
                masters[index],
                body,
                call_type="SUBSCRIBE",
                timeout=timeout,
                # Compression would hold events back in the decompressor's buffer.
                headers={"Accept-Encoding": "identity"},
                auth=auth,
                stream=True,
            )
        except MesosConnectionError as exc:
            session.close()
            failures.append(str(exc))
            continue
        if response.status_code == 200:
            return EventStream(session, response, url), index
        error = MesosCallError("SUBSCRIBE", response.status_code, transport.failure_detail(response), url)
        session.close()
        if not error.retriable:
            raise error
        failures.append(str(error))
    raise MesosConnectionError("no Mesos master accepted SUBSCRIBE: " + "; ".join(failures))
