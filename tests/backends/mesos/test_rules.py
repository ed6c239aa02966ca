"""Hippo's Mesos rules and the Mesos test peer's agree, case by case: what the backend refuses
before a task is stored is exactly what the peer (a master and its agents) would refuse of
the TaskInfo Hippo would send, in the same words; what one accepts, the other does too."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from hippo_core import schemas, states
from hippo_core.backends.mesos import rules
from hippo_core.backends.mesos.taskinfo import task_info
from hippo_core.launch import task_launch
from hippo_core.validation import complete
from hippo_mesos_peer import rules as peer_rules

BASE: dict[str, Any] = {
    "cmd": "echo hi",
    "cpus": 0.5,
    "mem": 64,
    "container": {"docker": {"image": "busybox"}},
}


def _with(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(BASE)
    body.update(changes)
    return body


def _docker(**docker: Any) -> dict[str, Any]:
    return {"docker": {"image": "busybox", **docker}}


def _volumes(*pairs: tuple[str, str]) -> dict[str, Any]:
    return {
        "docker": {"image": "busybox"},
        "volumes": [{"hostPath": h, "containerPath": c, "mode": "RW"} for h, c in pairs],
    }


# (what it proves, task body, the rule broken or None). Bodies the schema would refuse are
# still meaningful here: the worker checks stored tasks again before it launches them.
CASES: list[tuple[str, dict[str, Any], str | None]] = [
    ("a plain Docker task", _with(), None),
    ("cpus that round to zero", _with(cpus=0.0004), "resources"),
    ("cpus that round up to 0.001", _with(cpus=0.0005), None),
    ("mem that rounds to zero", _with(mem=0.0001), "resources"),
    (
        "a docker parameter 'name'",
        _with(container=_docker(parameters=[{"key": "name", "value": "x"}])),
        "docker-parameter-name",
    ),
    (
        "'Name' is another parameter",
        _with(container=_docker(parameters=[{"key": "Name", "value": "x"}])),
        None,
    ),
    ("other parameters", _with(container=_docker(parameters=[{"key": "memory-swap", "value": "1g"}])), None),
    ("both volume paths relative", _with(container=_volumes(("data", "out"))), "docker-volume-paths"),
    ("a relative host path (in the sandbox)", _with(container=_volumes(("data", "/out"))), None),
    ("a relative container path (in the sandbox)", _with(container=_volumes(("/srv/data", "out"))), None),
    (
        "the second volume relative",
        _with(container=_volumes(("/a", "/b"), ("./c", "d"))),
        "docker-volume-paths",
    ),
    ("an id with a slash", _with(id="a/b"), "task-id"),
    ("an id with a backslash", _with(id="a\\b"), "task-id"),
    ("an id with a control character", _with(id="a\x01b"), "task-id"),
    ("an id as long as can be", _with(id="x" * 218), None),
    ("an id one byte too long", _with(id="x" * 219), "task-id"),
    ("an id too long in bytes, not in characters", _with(id="é" * 110), "task-id"),
]


def _record(body: dict[str, Any]) -> dict[str, Any]:
    """The stored task Hippo makes of ``body`` (the schema's checks left out on purpose)."""
    definition = copy.deepcopy(body)
    family = definition.pop("id", "family")
    definition.setdefault("constraints", [])
    definition.setdefault("env", {})
    definition.setdefault("max_concurrent", 10)
    for key, value in (("task_retries", 0), ("system_retries", 2)):
        definition.setdefault(key, value)
    definition["container"].setdefault("volumes", [])
    return dict(states.new_task(definition, family=family, queue_id=None, data=""))


@pytest.mark.parametrize(("body", "rule"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_the_backend_and_the_peer_agree(body: dict[str, Any], rule: str | None) -> None:
    record = _record(body)
    sent = task_info(task_launch(record, "agent-1"))  # type: ignore[arg-type]

    ours = rules.refusals(record)
    theirs = peer_rules.first_refusal(sent)

    if rule is None:
        assert ours == [] and theirs is None
        return
    assert theirs is not None, f"the peer accepts what Hippo refuses: {ours}"
    assert [r.rule for r in ours] == [rule]
    assert (ours[0].rule, ours[0].message) == (theirs.rule, theirs.message)
    assert rules.RULES[rule].enforcer == peer_rules.RULES[rule]


def test_the_api_names_the_same_rule_as_the_stored_task() -> None:
    """A definition (no attempt yet) breaks the same rules as the task made from it."""
    for _, body, rule in CASES:
        on_definition = [r.rule for r in rules.refusals(body)]
        assert on_definition == ([rule] if rule else [])


def test_every_hippo_rule_is_a_peer_rule_enforced_where_mesos_does() -> None:
    for name, rule in rules.RULES.items():
        assert peer_rules.RULES[name] == rule.enforcer


def test_a_definition_stored_before_the_schema_said_so_gets_a_message_naming_the_rule() -> None:
    # The task schema now refuses this parameter itself; a task stored before it did is
    # still checked by the worker before launch, with this message.
    definition = complete(
        schemas.load("task"), _with(container=_docker(parameters=[{"key": "name", "value": "x"}]))
    )

    (error,) = rules.field_errors(definition)

    assert error.path == "$.container.docker.parameters[0].key"
    assert error.message == (
        "the Mesos master would refuse this (docker-parameter-name): Task's `ContainerInfo` is invalid: "
        "Parameter in DockerInfo must not be 'name'; Mesos names every container itself; drop this parameter"
    )


def test_an_id_is_quoted_with_a_placeholder_for_its_attempt() -> None:
    (refusal,) = rules.refusals({"id": "a/b"})
    assert refusal.message == "'a/b.<uuid>' contains invalid characters"
