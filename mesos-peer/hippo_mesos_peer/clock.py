"""One thread that runs the peer's timers (heartbeats, allocation, retries, task lives).

Callbacks run one at a time while holding the peer's state lock, so they see
and change the master's books exactly like a call handler does. An exception in
a callback is logged and handed to ``on_error``; the peer reports it when the
test waits or stops.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class Timer:
    """A scheduled callback; :meth:`cancel` makes it a no-op."""

    __slots__ = ("cancelled", "due")

    def __init__(self, due: float):
        self.due = due
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Clock:
    def __init__(self, state_lock: threading.RLock, on_error: Callable[[BaseException], None]):
        self._state_lock = state_lock
        self._on_error = on_error
        self._heap: list[tuple[float, int, Timer, Callable[..., Any], tuple[Any, ...]]] = []
        self._counter = itertools.count()
        self._wake = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="mesos-peer-clock", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=5.0)

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> Timer:
        timer = Timer(time.monotonic() + max(0.0, delay))
        with self._wake:
            heapq.heappush(self._heap, (timer.due, next(self._counter), timer, callback, args))
            self._wake.notify()
        return timer

    def _next_due(self) -> tuple[Timer, Callable[..., Any], tuple[Any, ...]] | None:
        with self._wake:
            while not self._stopping:
                if not self._heap:
                    self._wake.wait()
                    continue
                wait = self._heap[0][0] - time.monotonic()
                if wait > 0:
                    self._wake.wait(wait)
                    continue
                _, _, timer, callback, args = heapq.heappop(self._heap)
                if not timer.cancelled:
                    return timer, callback, args
            return None

    def _run(self) -> None:
        while True:
            due = self._next_due()
            if due is None:
                return
            timer, callback, args = due
            with self._state_lock:
                if timer.cancelled:
                    continue
                try:
                    callback(*args)
                except Exception as exc:
                    log.exception("Mesos test peer: timer callback %r failed", callback)
                    self._on_error(exc)
