"""Prometheus metrics: a subscriber of the event hook, plus the API's request durations.

Each process counts what it did itself: the worker its launches, transitions, polls
and offers; the API the requests it served and the changes made through it (a kill,
a re-run). ``hippo up`` runs both in one process and serves them on one ``/metrics``.
``hippo_tasks`` (tasks by state and queue) is read from Redis when the API is scraped,
so it is the same whichever API answers.

Metrics (``queue`` is a queue id, empty for one-off tasks)::

    hippo_tasks{state,queue}                          gauge, from Redis at scrape time (API)
    hippo_task_transitions_total{state,reason}        tasks entering a state (reason: Mesos')
    hippo_launches_total                              launches sent to the backend
    hippo_retries_total{kind}                         attempts retried: task / system failures
    hippo_poll_duration_seconds{queue_type}           how long sources took to answer a poll
    hippo_poll_errors_total{queue_type}               polls that failed
    hippo_items_taken_total{queue_type}               items taken into custody
    hippo_queue_lag_seconds{queue}                    how late the queue's last poll ran
    hippo_offers_total{outcome}                       offers used / declined
    hippo_backend_connected                           1 while this worker's backend is subscribed
    hippo_leader                                      1 while this worker leads
    hippo_http_request_duration_seconds{route,method,status}   API requests, by route template

Several processes (an API under a pre-forking server): set ``[metrics] multiprocess_dir``
(or prometheus-client's own ``PROMETHEUS_MULTIPROC_DIR``) to a directory the processes
share and that is emptied before they start; every ``/metrics`` then reports the sum
over the processes (gauges: the highest value among live processes).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_wsgi_server,
    values,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from hippo_core import events
from hippo_core.events import Event
from hippo_core.settings import Settings, setting
from hippo_core.taskstate import State

CONTENT_TYPE = CONTENT_TYPE_LATEST
_STATES = frozenset(f"task.{s}" for s in State)
# Request durations of an API: most are milliseconds, an event stream may be held for long.
_HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_POLL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


@dataclass(frozen=True)
class MetricsSettings(Settings):
    table = "metrics"

    port: int | None = setting(
        None,
        "Port `hippo worker` serves /metrics on (`--metrics-port`); unset: none. "
        "`hippo api` and `hippo up` serve /metrics on their own port.",
        minimum=0,
        maximum=65535,
    )
    host: str = setting("127.0.0.1", "Address `hippo worker` serves /metrics on (`--metrics-host`).")
    multiprocess_dir: str | None = setting(
        None,
        "A directory shared by several processes of one Hippo API (pre-forking servers): each "
        "/metrics then sums them. Empty it before they start. Unset: each process reports its own.",
        env="PROMETHEUS_MULTIPROC_DIR",
    )


class Metrics:
    """The process's metrics, fed by the event hook (:meth:`handle`) and the API's middleware."""

    def __init__(self, multiprocess_dir: str | None = None) -> None:
        self.multiprocess_dir = multiprocess_dir
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.transitions = Counter(
            "hippo_task_transitions", "Tasks entering a state", ["state", "reason"], registry=r
        )
        self.launches = Counter("hippo_launches", "Task launches sent to the backend", registry=r)
        self.retries = Counter(
            "hippo_retries", "Attempts retried, by whose failure it was (task, system)", ["kind"], registry=r
        )
        self.poll_duration = Histogram(
            "hippo_poll_duration_seconds",
            "Seconds a queue's source took to answer a poll",
            ["queue_type"],
            buckets=_POLL_BUCKETS,
            registry=r,
        )
        self.poll_errors = Counter("hippo_poll_errors", "Polls that failed", ["queue_type"], registry=r)
        self.items_taken = Counter(
            "hippo_items_taken", "Work items taken into custody", ["queue_type"], registry=r
        )
        self.queue_lag = Gauge(
            "hippo_queue_lag_seconds",
            "How late the queue's last poll ran after it was due",
            ["queue"],
            multiprocess_mode="livemax",
            registry=r,
        )
        self.offers = Counter("hippo_offers", "Offers used or declined", ["outcome"], registry=r)
        self.backend_connected = Gauge(
            "hippo_backend_connected",
            "1 while this worker's backend is subscribed to its cluster",
            multiprocess_mode="livemax",
            registry=r,
        )
        self.leader = Gauge(
            "hippo_leader",
            "1 while this worker holds the leader lease",
            multiprocess_mode="livemax",
            registry=r,
        )
        self.http_duration = Histogram(
            "hippo_http_request_duration_seconds",
            "API requests: seconds until the response began, by route template",
            ["route", "method", "status"],
            buckets=_HTTP_BUCKETS,
            registry=r,
        )

    # -- the hook ---------------------------------------------------------------------------

    def handle(self, event: Event) -> None:
        kind = event.kind
        data = event.data
        if kind in _STATES:
            self.transitions.labels(kind[5:], event.reason or "").inc()
        elif kind == "task.launched":
            self.launches.inc()
        elif kind == "task.retry":
            if data.get("kind") in ("task", "system"):
                self.retries.labels(data["kind"]).inc()
        elif kind == "queue.polled":
            queue_type = str(data.get("queue_type", ""))
            self.poll_duration.labels(queue_type).observe(float(data.get("seconds", 0.0)))
            self.items_taken.labels(queue_type).inc(int(data.get("items", 0)))
            if event.queue_id is not None:
                self.queue_lag.labels(event.queue_id).set(float(data.get("lag", 0.0)))
        elif kind == "queue.error":
            self.poll_errors.labels(str(data.get("queue_type", ""))).inc()
        elif kind == "queue.deleted":
            self._forget_queue(event.queue_id)
        elif kind == "offers.declined":
            self.offers.labels("declined").inc(int(data.get("offers", 0)))
        elif kind == "offers.used":
            self.offers.labels("used").inc(int(data.get("offers", 0)))
        elif kind == "backend.connected":
            self.backend_connected.set(1)
        elif kind == "backend.disconnected":
            self.backend_connected.set(0)
        elif kind == "leader.changed":
            leading = bool(data.get("leading"))
            self.leader.set(1 if leading else 0)
            if not leading:
                self.backend_connected.set(0)

    def _forget_queue(self, queue_id: str | None) -> None:
        if queue_id is None or self.multiprocess_dir:
            return  # a live process's series file cannot drop one label set
        with contextlib.suppress(KeyError):
            self.queue_lag.remove(queue_id)

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        self.http_duration.labels(route, method, str(status)).observe(seconds)

    # -- exposition ------------------------------------------------------------------------

    def exposed(self, *extra: Any) -> CollectorRegistry:
        """What a ``/metrics`` shows: this process's metrics (multi-process: every process's)
        and ``extra`` collectors (each with a ``collect()``), read at each scrape."""
        registry = CollectorRegistry(auto_describe=False)
        if self.multiprocess_dir:
            MultiProcessCollector(registry, path=self.multiprocess_dir)
        else:
            registry.register(_Forward(self.registry))
        for collector in extra:
            registry.register(collector)
        return registry


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)


def serve(registry: CollectorRegistry, host: str, port: int) -> Callable[[], None]:
    """Serve ``/metrics`` of ``registry`` on ``host:port`` from a thread; returns how to stop it."""
    server, thread = start_wsgi_server(port, host, registry=registry)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(5.0)

    return stop


class _Forward:
    """Another registry's metrics, as one collector."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterator[Metric]:
        yield from self._registry.collect()


class TaskCounts:
    """``hippo_tasks{state,queue}``: the tasks stored in Redis, read when scraped."""

    def __init__(self, count: Any) -> None:
        # ``count()`` returns {(state, queue id or ""): n}; the store's reading, passed in.
        self._count = count

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "hippo_tasks", "Tasks stored, by state and queue", labels=["state", "queue"]
        )
        for (state, queue), n in sorted(self._count().items()):
            family.add_metric([state, queue], n)
        yield family


_lock = threading.Lock()
_installed: Metrics | None = None


def install(settings: MetricsSettings | None = None) -> Metrics:
    """The process's metrics, subscribed to the hook on the first call (later calls return them).

    A multi-process directory must be known before the first metric is made, so it is
    taken from the first call's ``settings`` (or ``PROMETHEUS_MULTIPROC_DIR``).
    """
    global _installed
    with _lock:
        if _installed is not None:
            return _installed
        directory = (settings.multiprocess_dir if settings else None) or os.environ.get(
            "PROMETHEUS_MULTIPROC_DIR"
        )
        if directory:
            os.makedirs(directory, exist_ok=True)
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
            values.ValueClass = values.get_value_class()
            # Gauges of live processes only: this one's files are retired when it exits.
            atexit.register(mark_process_dead, os.getpid(), directory)
        _installed = Metrics(directory or None)
        events.subscribe(_installed.handle)
        return _installed
