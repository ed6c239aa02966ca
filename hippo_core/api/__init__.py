"""Hippo's REST API: a Falcon application assembled by :func:`create_app`."""

from __future__ import annotations

from typing import Any

import falcon

from hippo_core.api import errors, untrusted
from hippo_core.api.auth import AuthSettings, Guard
from hippo_core.api.body import BodyLimit
from hippo_core.api.events import EventStreamResource, TaskEventsResource
from hippo_core.api.health import HealthResource, ReadyResource
from hippo_core.api.logs import LogsResource
from hippo_core.api.metrics import LogContext, MetricsResource, RequestMetrics
from hippo_core.api.openapi import OpenAPIResource
from hippo_core.api.queues import QueueResource, QueuesResource
from hippo_core.api.queuetypes import QueueTypesResource
from hippo_core.api.status import StatusResource
from hippo_core.api.tasks import TaskResource, TasksResource
from hippo_core.backend import Backend
from hippo_core.config import Config
from hippo_core.crypto import Sealer
from hippo_core.journal import EventsSettings
from hippo_core.metrics import Metrics, MetricsSettings, install
from hippo_core.policy import Policy
from hippo_core.queues import QueueService
from hippo_core.registry import QueueTypeRegistry
from hippo_core.status import StatusService
from hippo_core.store import Store
from hippo_core.tasks import TaskService


def create_app(
    config: Config,
    store: Store,
    registry: QueueTypeRegistry,
    backend: Backend | None = None,
    metrics: Metrics | None = None,
) -> falcon.App:
    """The API on ``store``, with the queue types of ``registry``.

    ``backend`` (built, never started: :func:`hippo_core.compose.api_app`) checks task
    definitions for what it could not run and reads task logs; without one, nothing
    backend-specific is checked and no task has logs. Who may call it: ``[auth]``
    (:mod:`hippo_core.api.auth`); without tokens, anyone on this machine. ``metrics``:
    the process's (:func:`hippo_core.metrics.install`) unless given.
    """
    metrics = metrics or install(config.section(MetricsSettings))
    guard = Guard(config.section(AuthSettings))
    # Timing first, so that it sees every request, those refused by the others too.
    middleware: list[Any] = [
        RequestMetrics(metrics),
        guard,
        LogContext(),
        BodyLimit(config.max_body_bytes),
    ]
    app = falcon.App(middleware=middleware)
    # /queues and /queues/ are the same route.
    app.req_options.strip_url_path_trailing_slash = True
    errors.install(app)
    untrusted.install(app)

    policy = Policy.from_config(config)
    queues = QueueService(store, registry, backend, sealer=Sealer.configured(config), policy=policy)
    tasks = TaskService(store, backend, policy=policy)
    app.add_route("/queues", QueuesResource(queues))
    queue = QueueResource(queues)
    app.add_route("/queues/{queue_id:uuid}", queue)
    app.add_route("/queues/{queue_id:uuid}/toggle", queue, suffix="toggle")
    app.add_route("/queuetypes", QueueTypesResource(registry))
    app.add_route("/tasks", TasksResource(tasks))
    task = TaskResource(tasks)
    app.add_route("/tasks/{task_id}", task)
    app.add_route("/tasks/{task_id}/kill", task, suffix="kill")
    app.add_route("/tasks/{task_id}/retry", task, suffix="retry")
    app.add_route("/tasks/{task_id}/logs", LogsResource(tasks, backend))
    app.add_route("/tasks/{task_id}/events", TaskEventsResource(tasks))
    app.add_route("/events", EventStreamResource(store, config.section(EventsSettings)))
    app.add_route("/status", StatusResource(StatusService(store)))
    app.add_route("/openapi.json", OpenAPIResource(registry, policy))
    app.add_route("/metrics", MetricsResource(metrics, store))
    app.add_route("/healthz", HealthResource())
    app.add_route("/readyz", ReadyResource(store))
    return app
