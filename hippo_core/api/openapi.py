"""``GET /openapi.json``: an OpenAPI 3.1 document of every route, built from the schemas."""

from __future__ import annotations

from typing import Any

import falcon

import hippo_core
from hippo_core import schemas
from hippo_core.api import auth, openapi_schemas
from hippo_core.api.paging import DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET
from hippo_core.policy import Policy
from hippo_core.registry import QueueTypeRegistry
from hippo_core.taskstate import State


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    reasons = {
        400: "Invalid request: every problem is listed with its JSONPath",
        404: "No such resource",
        405: "Method not allowed (see the Allow header)",
        409: "Conflict with the resource's state",
        411: "Chunked body the server cannot bound; send Content-Length",
        413: "Body larger than max_body_bytes",
        415: "Body is not JSON",
        502: "The host holding the logs did not answer; try again",
        503: "Redis unavailable",
    }
    return {str(c): _json(_ref("Error"), reasons[c]) for c in codes}


def _items(item: str) -> dict[str, Any]:
    return {"type": "object", "properties": {"items": {"type": "array", "items": _ref(item)}}}


def _listing(item: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": _ref(item)},
            "total": {"type": "integer"},
            "offset": {"type": "integer"},
            "limit": {"type": "integer"},
        },
    }


PAGING = [
    {
        "name": "offset",
        "in": "query",
        "schema": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0},
    },
    {
        "name": "limit",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
    },
]


def _body(name: str, description: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"required": True, "content": {"application/json": {"schema": _ref(name)}}}
    if description:
        body["description"] = description
    return body


def _created(record: str, links: dict[str, Any]) -> dict[str, Any]:
    return {**_json(_ref(record), "Created; Location names it"), "links": links}


def _logs_schema() -> dict[str, Any]:
    stream = {
        "type": "object",
        "properties": {
            "text": {"type": "string"},
            "size": {"type": "integer", "description": "Bytes the stream holds in all"},
            "truncated": {"type": "boolean", "description": "Bytes before offset were left out"},
            "offset": {"type": "integer", "description": "Byte of the stream where text begins"},
            "next_offset": {
                "type": "integer",
                "description": "Byte to read on from (<stream>_offset=next_offset); below size: more",
            },
        },
    }
    return {
        "type": "object",
        "properties": {
            "task_id": {"type": "string"},
            "attempt": {"type": "integer"},
            "mesos_id": {"type": "string"},
            "state": {"type": "string"},
            "attempts": {
                "type": "array",
                "items": {"type": "integer"},
                "description": "Attempts that have logs",
            },
            "warning": {
                "type": ["string", "null"],
                "description": "E.g. that the image was not used (no Docker engine)",
            },
            "stdout": stream,
            "stderr": stream,
        },
    }


def build(registry: QueueTypeRegistry, policy: Policy | None = None) -> dict[str, Any]:
    components: dict[str, Any] = {}
    for name, title in (
        ("error", "Error"),
        ("queuetype", "QueueType"),
        ("event", "Event"),
        ("status", "Status"),
    ):
        schema = schemas.load(name)
        schema.pop("$schema", None)
        components[title] = schema
    # Task and Queue in requests, TaskRecord and QueueRecord in responses, queue types' settings.
    components.update(openapi_schemas.components(registry, policy))

    queue_id = {
        "name": "queue_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "format": "uuid"},
    }
    task_id = {
        "name": "task_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "description": "A task's mesos_id, the mesos id of any of its attempts, or a family id "
        "(meaning that family's newest task).",
    }
    create_queue = {
        "summary": "Create a queue",
        "requestBody": _body("Queue"),
        "responses": {
            "201": _created("QueueRecord", openapi_schemas.queue_links()),
            **_errors(400, 411, 413, 415, 503),
        },
    }
    update_queue = {
        "summary": "Replace a queue's definition (masked secrets sent back keep their value)",
        "parameters": [queue_id],
        "requestBody": _body("Queue", "The queue's new definition; an id in it must be the URL's."),
        "responses": {"200": _json(_ref("QueueRecord"), "Updated"), **_errors(400, 404, 411, 413, 415, 503)},
    }
    toggle = {
        "summary": "Switch a queue between ENABLED and DISABLED",
        "parameters": [queue_id],
        "responses": {"200": _json(_ref("QueueRecord"), "The new record"), **_errors(404, 503)},
    }
    kill = {
        "summary": "Kill a task (a pending one ends at once; an active one is killed on its agent)",
        "parameters": [task_id],
        "responses": {
            "200": _json(_ref("TaskRecord"), "The task, KILLING or KILLED"),
            **_errors(404, 409, 503),
        },
    }
    paths = {
        "/queues/": {
            "get": {
                "summary": "List queues, newest first",
                "parameters": PAGING,
                "responses": {"200": _json(_listing("QueueRecord"), "A page of queues"), **_errors(400, 503)},
            },
            "post": create_queue,
            "put": create_queue,
        },
        "/queues/{queue_id}/": {
            "get": {
                "summary": "Read a queue (secrets masked, poller state included)",
                "parameters": [queue_id],
                "responses": {"200": _json(_ref("QueueRecord"), "The queue"), **_errors(404, 503)},
            },
            "post": update_queue,
            "put": update_queue,
            "delete": {
                "summary": "Delete a queue (its tasks stay)",
                "parameters": [queue_id],
                "responses": {"204": {"description": "Deleted"}, **_errors(404, 503)},
            },
        },
        "/queues/{queue_id}/toggle/": {"get": toggle, "post": toggle},
        "/queuetypes/": {
            "get": {
                "summary": "Installed queue types and their settings schemas; "
                "failed plugins are listed as unavailable",
                "responses": {"200": _json(_items("QueueType"), "Every queue type")},
            }
        },
        "/tasks/": {
            "get": {
                "summary": "List tasks, newest first",
                "parameters": [
                    *PAGING,
                    {"name": "state", "in": "query", "schema": {"enum": list(State)}},
                    {
                        "name": "id",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "Only the tasks of this family (a one-off's id, or a queue's id)",
                    },
                    {
                        "name": "queue_id",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "Only the tasks of this queue; with id too, the tasks both select "
                        "(none when they differ, since a queue's tasks have its id as family id)",
                    },
                ],
                "responses": {"200": _json(_listing("TaskRecord"), "A page of tasks"), **_errors(400, 503)},
            },
            "post": {
                "summary": "Post a one-off task",
                "requestBody": _body("Task"),
                "responses": {
                    "201": _created("TaskRecord", openapi_schemas.task_links()),
                    **_errors(400, 409, 411, 413, 415, 503),
                },
            },
        },
        "/tasks/{task_id}/": {
            "get": {
                "summary": "Read a task with all its attempts",
                "parameters": [task_id],
                "responses": {"200": _json(_ref("TaskRecord"), "The task"), **_errors(404, 503)},
            },
            "delete": {
                "summary": "Delete a task; an active one only with force=true (it is killed first)",
                "parameters": [
                    task_id,
                    {"name": "force", "in": "query", "schema": {"type": "boolean", "default": False}},
                ],
                "responses": {"204": {"description": "Deleted"}, **_errors(400, 404, 409, 503)},
            },
        },
        "/tasks/{task_id}/kill/": {"get": kill, "post": kill},
        "/tasks/{task_id}/retry/": {
            "post": {
                "summary": "Run an ended task again as a new attempt, retry budgets restored",
                "parameters": [task_id],
                "responses": {
                    "200": _json(_ref("TaskRecord"), "The task, PENDING again"),
                    **_errors(404, 409, 503),
                },
            }
        },
        "/tasks/{task_id}/logs/": {
            "get": {
                "summary": "stdout and stderr of a task's attempt, read where it ran",
                "parameters": [
                    task_id,
                    {
                        "name": "attempt",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1},
                        "description": "Attempt number; default: the newest attempt that has logs",
                    },
                    {
                        "name": "tail",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 0},
                        "description": "Only the last BYTES of each stream",
                    },
                    {
                        "name": "stdout_offset",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 0},
                        "description": "Bytes of stdout already read: stdout from there on, at most a MiB "
                        "(follow its next_offset); without it, its end",
                    },
                    {
                        "name": "stderr_offset",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 0},
                        "description": "Likewise for stderr",
                    },
                ],
                "responses": {
                    "200": _json(_logs_schema(), "The attempt's output"),
                    **_errors(400, 404, 502, 503),
                },
            }
        },
        "/tasks/{task_id}/events/": {
            "get": {
                "summary": "A task's event history across its attempts, oldest first (bounded: the newest "
                "[events] history_per_task)",
                "parameters": [task_id],
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {
                                "task_id": {"type": "string"},
                                "items": {"type": "array", "items": _ref("Event")},
                            },
                        },
                        "The task's events",
                    ),
                    **_errors(404, 503),
                },
            }
        },
        "/events/": {
            "get": {
                "summary": "Live task, queue, leader and backend events, as server-sent events",
                "description": "Each event is `id: <id>` and `data: <Event JSON>`; reconnect with the "
                "Last-Event-ID header to resume after that event (an `event: reset` says the events in "
                "between are no longer kept). Idle streams get a `: heartbeat` comment line. Filters are "
                "comma-separated and combined.",
                "parameters": [
                    {
                        "name": "queue",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "Queue id(s)",
                    },
                    {
                        "name": "family",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "Family id(s)",
                    },
                    {
                        "name": "state",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": f"Task state(s): {', '.join(State)}",
                    },
                    {
                        "name": "Last-Event-ID",
                        "in": "header",
                        "schema": {"type": "string", "pattern": "^[0-9]+-[0-9]+$"},
                        "description": "Resume after this event",
                    },
                ],
                "responses": {
                    "200": {
                        "description": "A stream of events, each data line an Event",
                        "content": {"text/event-stream": {"schema": {"type": "string"}}},
                    },
                    "400": _json(_ref("Error"), "An unknown state, or a malformed Last-Event-ID"),
                    "503": _json(
                        _ref("Error"), "Redis unavailable, or too many streams open ([events] max_streams)"
                    ),
                },
            }
        },
        "/status/": {
            "get": {
                "summary": "Leader, backend connection, tasks by state, the last hour, each queue's counts",
                "responses": {"200": _json(_ref("Status"), "Hippo at a glance"), **_errors(503)},
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics of this process (text exposition format)",
                "responses": {
                    "200": {
                        "description": "Metrics in the Prometheus text format",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "responses": {"200": {"description": "OpenAPI 3.1 document of every route"}},
            }
        },
        "/healthz": {"get": {"summary": "The process answers", "responses": {"200": {"description": "Up"}}}},
        "/readyz": {
            "get": {
                "summary": "The process and its Redis answer",
                "responses": {"200": {"description": "Ready"}, "503": {"description": "Redis unreachable"}},
            }
        },
    }
    return auth.document(
        {
            "openapi": "3.1.0",
            "info": {
                "title": "Hippo",
                "version": hippo_core.__version__,
                "description": "Eat work items off queues and run each as a Docker task on Apache Mesos. "
                "Every route answers with or without its trailing slash.",
            },
            "paths": paths,
            "components": {"schemas": components},
        }
    )


class OpenAPIResource:
    def __init__(self, registry: QueueTypeRegistry, policy: Policy | None = None) -> None:
        self.registry = registry
        self.policy = policy

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = build(self.registry, self.policy)
