"""``GET /metrics`` in Prometheus' text format; middleware timing every request and naming its ids in logs."""

from __future__ import annotations

import functools
import re
import time
from typing import Any

import falcon

from hippo_core.logformat import bind, unbind
from hippo_core.metrics import CONTENT_TYPE, Metrics, TaskCounts, render
from hippo_core.store import Store

# Requests that matched no route share one label: raw paths would make a series each.
UNMATCHED = "(unmatched)"


class RequestMetrics:
    """Middleware: how long each request took, labelled by its route template (``/tasks/{task_id}``)."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.started = time.perf_counter()

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: object, req_succeeded: bool
    ) -> None:
        started = getattr(req.context, "started", None)
        if started is None:
            return
        route = _route(req.uri_template) if req.uri_template else UNMATCHED
        self.metrics.observe_request(route, req.method, resp.status_code, time.perf_counter() - started)


@functools.lru_cache(maxsize=256)
def _route(template: str) -> str:
    """The template as the OpenAPI document names it: ``/queues/{queue_id}``, converters dropped."""
    return re.sub(r"\{(\w+):[^}]*\}", r"{\1}", template)


class MetricsResource:
    def __init__(self, metrics: Metrics, store: Store) -> None:
        self.registry = metrics.exposed(TaskCounts(store.tasks_by_state_and_queue))

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = CONTENT_TYPE
        resp.data = render(self.registry)


class LogContext:
    """Middleware: lines logged while a request is handled carry the task or queue id it names."""

    def process_resource(
        self, req: falcon.Request, resp: falcon.Response, resource: object, params: dict[str, Any]
    ) -> None:
        task_id, queue_id = params.get("task_id"), params.get("queue_id")
        if task_id is not None or queue_id is not None:
            req.context.log_token = bind(
                task_id=task_id, queue_id=str(queue_id) if queue_id is not None else None
            )

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: object, req_succeeded: bool
    ) -> None:
        token = getattr(req.context, "log_token", None)
        if token is not None:
            unbind(token)
