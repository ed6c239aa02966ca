"""The Queue and Task schemas: every default, every required field, every bad type.

Driven through ``hippo_core.documents`` (what the API calls) with the reference queue
type installed, so the queue's settings block is validated by its plugin schema.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from hippo_core import schemas
from hippo_core.documents import validate_queue, validate_task
from hippo_core.errors import ValidationFailed
from hippo_core.registry import QueueTypeRegistry
from hippo_core.testing.memory_queue import MemoryQueueType

REGISTRY = QueueTypeRegistry.of(MemoryQueueType)

MINIMAL_QUEUE: dict[str, Any] = {
    "cmd": "echo $HIPPO_DATA",
    "container": {"docker": {"image": "busybox:1.36"}},
    "queue": {"type": "memory", "name": "jobs", "memory": {"list": "jobs"}},
}
MINIMAL_TASK: dict[str, Any] = {"cmd": "echo hi", "container": {"docker": {"image": "busybox:1.36"}}}
# Bodies with every nested optional object present, so nested requirements can be tested.
FULL_DEFINITION: dict[str, Any] = {
    "container": {
        "docker": {"image": "busybox:1.36", "parameters": [{"key": "memory-swap", "value": "1g"}]},
        "volumes": [{"containerPath": "/data", "hostPath": "/srv/data", "mode": "RO"}],
    },
}


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        doc = doc[key]
    return doc


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    doc = copy.deepcopy(doc)
    _get(doc, path[:-1])[path[-1]] = value
    return doc


def _drop(doc: Any, path: tuple[Any, ...]) -> Any:
    doc = copy.deepcopy(doc)
    del _get(doc, path[:-1])[path[-1]]
    return doc


def _jsonpath(path: tuple[Any, ...]) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


def _case_id(case: Any) -> str:
    return _jsonpath(case) if isinstance(case, tuple) else repr(case)[:20]


def _errors(validate: Any, body: Any) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as caught:
        validate(body)
    return {e.path: e.message for e in caught.value.errors}


def _queue(body: Any) -> dict[str, Any]:
    return validate_queue(body, REGISTRY)


# (path, default) shared by queues and tasks: the definition of what runs.
DEFINITION_DEFAULTS = [
    (("container", "type"), "DOCKER"),
    (("container", "docker", "network"), "BRIDGE"),
    (("container", "docker", "force_pull_image"), False),
    (("container", "docker", "parameters"), []),
    (("container", "volumes"), []),
    (("cpus",), 0.1),
    (("mem",), 256),
    (("env",), {}),
    (("constraints",), []),
    (("task_retries",), 0),
    (("system_retries",), 2),
]
QUEUE_DEFAULTS = [
    *DEFINITION_DEFAULTS,
    (("queue", "status"), "ENABLED"),
    (("queue", "max_concurrent"), 10000),
    (("queue", "batch_size"), 1),
    (("queue", "batch_separator"), "|"),
    (("queue", "frequency_seconds"), 60),
    # The settings block gets its plugin's defaults too.
    (("queue", "memory", "start"), 0),
    (("queue", "memory", "stop"), None),
    (("queue", "memory", "token"), ""),
    (("queue", "memory", "url"), ""),
]
TASK_DEFAULTS = [*DEFINITION_DEFAULTS, (("max_concurrent",), 10), (("data",), "")]


@pytest.mark.parametrize(("path", "default"), QUEUE_DEFAULTS, ids=_case_id)
def test_queue_default(path: tuple[str, ...], default: Any) -> None:
    """A queue that leaves the field out gets the seed's default."""
    assert _get(_queue(MINIMAL_QUEUE), path) == default


@pytest.mark.parametrize(("path", "default"), TASK_DEFAULTS, ids=_case_id)
def test_task_default(path: tuple[str, ...], default: Any) -> None:
    """A task that leaves the field out gets the seed's default."""
    assert _get(validate_task(MINIMAL_TASK), path) == default


# A valid value other than the default for each defaulted queue field.
OTHER_VALUES = {
    "type": "DOCKER",
    "network": "HOST",
    "force_pull_image": True,
    "parameters": [{"key": "memory-swap", "value": "1g"}],
    "volumes": [{"containerPath": "/d", "hostPath": "/d", "mode": "RW"}],
    "cpus": 2,
    "mem": 64,
    "env": {"A": "1"},
    "constraints": [["hostname", "UNIQUE"]],
    "task_retries": 3,
    "system_retries": 0,
    "status": "DISABLED",
    "max_concurrent": 1,
    "batch_size": 5,
    "batch_separator": "",
    "frequency_seconds": 0,
    "start": 3,
    "stop": 9,
    "token": "a-longer-token",
    "url": "memory://u:p@h/x",
}


@pytest.mark.parametrize(("path", "default"), QUEUE_DEFAULTS, ids=_case_id)
def test_queue_given_value_wins_over_default(path: tuple[str, ...], default: Any) -> None:
    """Defaults fill only what is absent: a value given (even a falsy one) is kept."""
    given = OTHER_VALUES[path[-1]]
    assert _get(_queue(_set(_queue(MINIMAL_QUEUE), path, given)), path) == given


def test_defaults_fill_inside_array_items() -> None:
    """Defaults reach into array items too (none declared there today: items stay as given)."""
    body = _set(MINIMAL_TASK, ("container",), copy.deepcopy(FULL_DEFINITION["container"]))
    doc = validate_task(body)
    assert doc["container"]["volumes"] == FULL_DEFINITION["container"]["volumes"]
    assert doc["container"]["docker"]["network"] == "BRIDGE"


QUEUE_REQUIRED = [
    ("cmd",),
    ("container",),
    ("container", "docker"),
    ("container", "docker", "image"),
    ("container", "docker", "parameters", 0, "key"),
    ("container", "docker", "parameters", 0, "value"),
    ("container", "volumes", 0, "containerPath"),
    ("container", "volumes", 0, "hostPath"),
    ("container", "volumes", 0, "mode"),
    ("queue",),
    ("queue", "type"),
    ("queue", "name"),
    ("queue", "memory"),
    ("queue", "memory", "list"),
]
TASK_REQUIRED = [p for p in QUEUE_REQUIRED if p[0] != "queue"]


@pytest.mark.parametrize("path", QUEUE_REQUIRED, ids=_jsonpath)
def test_queue_required_field(path: tuple[Any, ...]) -> None:
    """Leaving out a required field is an error at exactly its path."""
    body = {**MINIMAL_QUEUE, **copy.deepcopy(FULL_DEFINITION)}
    errors = _errors(_queue, _drop(body, path))
    assert errors == {_jsonpath(path): "is required"}


@pytest.mark.parametrize("path", TASK_REQUIRED, ids=_jsonpath)
def test_task_required_field(path: tuple[Any, ...]) -> None:
    body = {**MINIMAL_TASK, **copy.deepcopy(FULL_DEFINITION)}
    errors = _errors(validate_task, _drop(body, path))
    assert errors == {_jsonpath(path): "is required"}


# (path, bad value, a word the message must contain): wrong types, enums, ranges, patterns.
DEFINITION_BAD = [
    (("cmd",), 5, "string"),
    (("cmd",), "", "non-empty"),
    (("cpus",), "1", "number"),
    (("cpus",), 0, "less than the minimum"),
    (("cpus",), 0.0004, "less than the minimum"),
    (("cpus",), 2000, "maximum"),
    (("mem",), [256], "number"),
    (("mem",), 1, "minimum"),
    (("container",), "busybox", "object"),
    (("container", "type"), "MESOS", "DOCKER"),
    (("container", "docker"), [], "object"),
    (("container", "docker", "image"), None, "string"),
    (("container", "docker", "network"), "BRDIGE", "BRIDGE"),
    (("container", "docker", "force_pull_image"), "yes", "boolean"),
    (("container", "docker", "parameters"), {"key": "a"}, "array"),
    (("container", "docker", "parameters", 0), "memory-swap=1g", "object"),
    (("container", "volumes"), "/data:/data", "array"),
    (("container", "volumes", 0, "mode"), "rw", "RO"),
    (
        ("container", "volumes", 0),
        {"hostPath": "cache", "containerPath": "cache", "mode": "RW"},
        "both relative",
    ),
    (("container", "docker", "parameters", 0, "key"), "name", "names every container itself"),
    (("env",), ["A=1"], "object"),
    (("env", "FOO"), {"nested": 1}, "string"),
    (("env", "FOO"), True, "string"),
    (("constraints",), "hostname:UNIQUE", "array"),
    (("constraints", 0), ["hostname"], "2 or 3 items"),
    (("constraints", 0), ["hostname", "UNIQUE", "x", "y"], "2 or 3 items"),
    (("constraints", 0), ["hostname", "SOMETIMES"], "SOMETIMES"),
    (("task_retries",), "0", "integer"),
    (("task_retries",), 1.5, "integer"),
    (("task_retries",), -1, "minimum"),
    (("task_retries",), 101, "maximum"),
    (("system_retries",), None, "integer"),
    (("system_retries",), -1, "minimum"),
]
QUEUE_BAD = [
    *DEFINITION_BAD,
    (("queue",), "memory", "object"),
    (("queue", "name"), "", "non-empty"),
    (("queue", "name"), 3, "string"),
    (("queue", "status"), "enabled", "ENABLED"),
    (("queue", "max_concurrent"), 0, "minimum"),
    (("queue", "max_concurrent"), "10", "integer"),
    (("queue", "batch_size"), 0, "minimum"),
    (("queue", "batch_size"), 1001, "maximum"),
    (("queue", "batch_size"), 2.5, "integer"),
    (("queue", "batch_separator"), 1, "string"),
    (("queue", "frequency_seconds"), -1, "minimum"),
    (("queue", "frequency_seconds"), 86401, "maximum"),
    (("queue", "frequency_seconds"), "60", "integer"),
    (("queue", "memory"), "jobs", "object"),
    (("queue", "memory", "list"), 7, "string"),
    (("queue", "memory", "start"), -1, "minimum"),
    (("queue", "memory", "stop"), "end", "integer"),
]
TASK_BAD = [
    *DEFINITION_BAD,
    (("id",), "has space", "match"),
    (("id",), "-leading-dash", "match"),
    (("id",), 42, "string"),
    (("max_concurrent",), 0, "minimum"),
    (("max_concurrent",), "ten", "integer"),
    (("data",), ["a", "b"], "string"),
]


@pytest.mark.parametrize(("path", "value", "word"), QUEUE_BAD, ids=_case_id)
def test_queue_bad_value(path: tuple[Any, ...], value: Any, word: str) -> None:
    """A bad value is reported at its own path, with a message saying what is wrong."""
    body = {
        **copy.deepcopy(MINIMAL_QUEUE),
        **copy.deepcopy(FULL_DEFINITION),
        "env": {"FOO": "bar"},
        "constraints": [["hostname", "UNIQUE"]],
    }
    errors = _errors(_queue, _set(body, path, value))
    where = _jsonpath(path)
    assert where in errors, errors
    assert word.lower() in errors[where].lower(), errors


@pytest.mark.parametrize(("path", "value", "word"), TASK_BAD, ids=_case_id)
def test_task_bad_value(path: tuple[Any, ...], value: Any, word: str) -> None:
    body = {
        **copy.deepcopy(MINIMAL_TASK),
        **copy.deepcopy(FULL_DEFINITION),
        "env": {"FOO": "bar"},
        "constraints": [["hostname", "UNIQUE"]],
    }
    errors = _errors(validate_task, _set(body, path, value))
    where = _jsonpath(path)
    assert where in errors, errors
    assert word.lower() in errors[where].lower(), errors


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("HIPPO_DATA", "names starting with HIPPO_ are reserved for Hippo"),
        ("1ABC", "a variable name cannot start with a digit"),
        ("A-B", "a variable name has no dashes"),
    ],
)
def test_env_names_are_checked(name: str, why: str) -> None:
    errors = _errors(validate_task, {**MINIMAL_TASK, "env": {name: "x"}})
    assert list(errors) == ["$.env"], why
    assert name in errors["$.env"]


@pytest.mark.parametrize(
    ("typo", "suggestion"),
    [
        ("task_retry", "task_retries"),
        ("system_retry", "system_retries"),
        ("cpu", "cpus"),
        ("memory", "mem"),
        ("comand", "cmd"),
        ("constraint", "constraints"),
    ],
)
@pytest.mark.parametrize("kind", ["queue", "task"])
def test_unknown_top_level_field_names_it_and_suggests(kind: str, typo: str, suggestion: str) -> None:
    """A typo is not silently ignored: the field is named, and the close one suggested."""
    if kind == "queue":
        errors = _errors(_queue, {**MINIMAL_QUEUE, typo: 1})
    else:
        errors = _errors(validate_task, {**MINIMAL_TASK, typo: 1})
    assert errors == {f"$.{typo}": f"unknown field; did you mean {suggestion!r}?"}


def test_unknown_field_without_a_close_name_lists_the_known_ones() -> None:
    errors = _errors(validate_task, {**MINIMAL_TASK, "zzzzzz": 1})
    assert errors["$.zzzzzz"].startswith("unknown field; known fields: ")
    assert "task_retries" in errors["$.zzzzzz"]


@pytest.mark.parametrize(
    ("path", "typo"),
    [
        (("queue",), "batchsize"),
        (("queue", "memory"), "lsit"),
        (("container", "docker"), "imagee"),
        (("container",), "dockr"),
    ],
)
def test_unknown_nested_field_is_reported_at_its_path(path: tuple[str, ...], typo: str) -> None:
    body = _set(MINIMAL_QUEUE, (*path, typo), 1)
    errors = _errors(_queue, body)
    assert list(errors) == [_jsonpath((*path, typo))]
    assert errors[_jsonpath((*path, typo))].startswith("unknown field")


def test_every_error_is_listed_together_with_its_path() -> None:
    """One response lists every problem, so a user fixes them all in one go."""
    body = {
        "cmd": "",
        "container": {"docker": {"network": "BRDIGE"}},
        "cpus": "lots",
        "task_retry": 3,
        "queue": {"type": "memory", "name": "jobs", "batch_size": 0, "memory": {"start": -1}},
    }
    errors = _errors(_queue, body)
    assert set(errors) == {
        "$.cmd",
        "$.container.docker.image",
        "$.container.docker.network",
        "$.cpus",
        "$.task_retry",
        "$.queue.batch_size",
        "$.queue.memory.list",
        "$.queue.memory.start",
    }


def test_read_only_fields_are_ignored_on_input() -> None:
    """A record read from the API can be sent back: Hippo's own fields are dropped, not errors."""
    body = {**MINIMAL_TASK, "mesos_id": "x.y", "state": "RUNNING", "attempts": [], "created_at": 1.0}
    doc = validate_task(body)
    assert not {"mesos_id", "state", "attempts", "created_at"} & set(doc)
    queue = _set(MINIMAL_QUEUE, ("queue", "last_error"), "boom")
    assert "last_error" not in _queue({**queue, "id": "abc", "updated_at": 3.0})["queue"]


@pytest.mark.parametrize("body", [[], "queue", 3, None, True])
def test_body_must_be_an_object(body: Any) -> None:
    assert _errors(_queue, body) == {"$": "the body must be a JSON object"}
    assert _errors(validate_task, body) == {"$": "the body must be a JSON object"}


def test_settings_block_of_an_unknown_type_is_one_clear_error() -> None:
    """An unknown type names the installed ones and suggests the nearest; no noise about its block."""
    body = _set(MINIMAL_QUEUE, ("queue", "type"), "memroy")
    body["queue"]["memroy"] = body["queue"].pop("memory")
    errors = _errors(_queue, body)
    assert list(errors) == ["$.queue.type"]
    assert "unknown queue type 'memroy'" in errors["$.queue.type"]
    assert "did you mean 'memory'?" in errors["$.queue.type"]
    assert "installed: memory" in errors["$.queue.type"]


def test_settings_block_of_another_type_is_unknown() -> None:
    body = _set(MINIMAL_QUEUE, ("queue", "sqs"), {"queue_url": "x"})
    assert list(_errors(_queue, body)) == ["$.queue.sqs"]


def test_plugin_cross_field_rule_runs_after_the_schema() -> None:
    body = _set(MINIMAL_QUEUE, ("queue", "memory", "stop"), 5)
    body["queue"]["memory"]["start"] = 5
    assert _errors(_queue, body) == {"$.queue.memory.stop": "must be greater than start (5), or null"}


@pytest.mark.parametrize("name", ["queue", "task", "error", "queuetype"])
def test_schema_is_a_valid_draft_2020_12_schema(name: str) -> None:
    Draft202012Validator.check_schema(schemas.load(name))


@pytest.mark.parametrize("name", ["queue", "task"])
def test_definition_fields_are_merged_into(name: str) -> None:
    """Queue and task share what runs, declared once in definition.json."""
    shared = set(schemas.load("definition")["properties"])
    assert shared <= set(schemas.load(name)["properties"])
    assert "x-hippo-include" not in schemas.load(name)


def test_load_returns_a_fresh_copy() -> None:
    schemas.load("task")["properties"]["cpus"]["default"] = 99
    assert schemas.load("task")["properties"]["cpus"]["default"] == 0.1


@pytest.mark.parametrize("name", ["queue", "task"])
def test_every_property_is_described_or_read_only(name: str) -> None:
    """The schemas are the API's documentation (OpenAPI): every input field says what it is."""
    props = schemas.load(name)["properties"]
    undocumented = [k for k, v in props.items() if not v.get("description") and not v.get("readOnly")]
    assert undocumented == []
