"""What a Mesos master or agent would refuse in a task definition, refused before it is stored.

Each rule is one check of Mesos 1.11 that a definition Hippo's schema accepts can
still fail; the message quotes Mesos' own words, so a user can search for them:

``task-id`` (master, ``common::validation::validateID``)
    A task's Mesos id is ``<id>.<uuid>``: at most 255 bytes, no control characters,
    no ``/`` or ``\\``. (The task schema's id pattern is stricter, so at the API this
    only catches definitions stored before; the worker checks every task again.)
``resources`` (master, ``Resources::validate``)
    Mesos keeps three decimals of ``cpus`` and ``mem``: a value that rounds to zero
    is refused, and it fails every other task launched with it too.
``docker-parameter-name`` (master, ``common::validation::validateContainerInfo``)
    ``container.docker.parameters`` may not set ``name``: the Docker containerizer
    names each container itself to find it again.
``docker-volume-paths`` (agent, ``Docker::RunOptions::create``)
    A volume whose ``hostPath`` and ``containerPath`` are both relative fails on the
    agent. (One relative path is fine: a relative ``containerPath`` is inside the
    sandbox mapped into the container, a relative ``hostPath`` inside the sandbox.)

A master's refusal is a TASK_ERROR with REASON_TASK_INVALID, an agent's a TASK_FAILED
from the Docker executor; either costs a retry and a launch for nothing. The Mesos
test peer (``hippo_mesos_peer.rules``) applies the same rules under the same names,
and a test runs both over the same cases.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from hippo_core.errors import FieldError

MASTER = "master"
AGENT = "agent"
NAME_MAX = 255
# What Hippo appends to a task's id for each attempt: "." and a UUID.
ATTEMPT_SUFFIX = ".<uuid>"
_UUID_TEXT_LENGTH = 36


@dataclass(frozen=True)
class Rule:
    name: str
    enforcer: str  # MASTER (TASK_ERROR at the ACCEPT) or AGENT (TASK_FAILED once launched)
    hint: str


RULES: dict[str, Rule] = {
    rule.name: rule
    for rule in (
        Rule("task-id", MASTER, "use at most 218 bytes of letters, digits, '_', '.' and '-'"),
        Rule("resources", MASTER, "Mesos keeps three decimals: ask for at least 0.001"),
        Rule("docker-parameter-name", MASTER, "Mesos names every container itself; drop this parameter"),
        Rule("docker-volume-paths", AGENT, "make hostPath or containerPath absolute"),
    )
}


@dataclass(frozen=True)
class Refusal:
    """A rule the definition breaks: where, and what Mesos would say (``message``)."""

    rule: str
    path: str
    message: str

    def field_error(self) -> FieldError:
        rule = RULES[self.rule]
        return FieldError(
            self.path,
            f"the Mesos {rule.enforcer} would refuse this ({self.rule}): {self.message}; {rule.hint}",
        )


def id_error(value: str) -> str | None:
    """``validateID``: its length counts bytes; control characters, ``/`` and ``\\`` are refused."""
    if not value:
        return "ID must not be empty"
    if len(value.encode("utf-8")) > NAME_MAX:
        return f"ID must not be greater than {NAME_MAX} characters"
    if value in (".", ".."):
        return f"'{value}' is disallowed"
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F or ch in "/\\" for ch in value):
        return f"'{value}' contains invalid characters"
    return None


def fixed_point(value: float) -> int:
    """Mesos' scalar: ``llround(value * 1000)``, halves away from zero."""
    return int(Decimal(value * 1000).to_integral_value(rounding=ROUND_HALF_UP))


def scalar_text(value: float) -> str:
    """A scalar as Mesos prints it: its three decimals, then up to 15 significant digits."""
    fixed = fixed_point(value)
    sign = -1 if fixed < 0 else 1
    return f"{sign * (abs(fixed) // 1000 + (abs(fixed) % 1000) / 1000.0):.15g}"


def _task_id(definition: Mapping[str, Any]) -> tuple[str, str] | None:
    """(path, the Mesos task id) to check: the current attempt's of a stored task, else
    the definition's ``id`` with a UUID's length of suffix."""
    attempts = definition.get("attempts")
    if attempts:
        return "$.mesos_id", str(attempts[-1]["mesos_id"])
    family = definition.get("id")
    if isinstance(family, str):
        return "$.id", family + "." + "0" * _UUID_TEXT_LENGTH
    return None


def _task_id_refusals(definition: Mapping[str, Any]) -> list[Refusal]:
    found = _task_id(definition)
    if found is None:
        return []
    path, task_id = found
    problem = id_error(task_id)
    if problem is None:
        return []
    if path == "$.id":
        # Quote the id as Mesos would, with the attempt's UUID left as a placeholder.
        problem = problem.replace(task_id, str(definition["id"]) + ATTEMPT_SUFFIX)
    return [Refusal("task-id", path, problem)]


def _resource_refusals(definition: Mapping[str, Any]) -> list[Refusal]:
    refusals = []
    for name in ("cpus", "mem"):
        value = definition.get(name)
        # Zero itself is allowed; anything else that is zero or less in fixed point is not.
        if isinstance(value, int | float) and value and fixed_point(float(value)) <= 0:
            resource = f"{name}:{scalar_text(float(value))}"
            message = f"Resource '{resource}' is invalid: Invalid scalar resource: value <= 0"
            refusals.append(Refusal("resources", f"$.{name}", message))
    return refusals


def _container_refusals(definition: Mapping[str, Any]) -> list[Refusal]:
    container = definition.get("container")
    if not isinstance(container, Mapping):
        return []
    refusals = []
    docker = container.get("docker")
    parameters = docker.get("parameters") if isinstance(docker, Mapping) else None
    for index, parameter in enumerate(parameters or []):
        if isinstance(parameter, Mapping) and parameter.get("key") == "name":
            refusals.append(
                Refusal(
                    "docker-parameter-name",
                    f"$.container.docker.parameters[{index}].key",
                    "Task's `ContainerInfo` is invalid: Parameter in DockerInfo must not be 'name'",
                )
            )
    for index, volume in enumerate(container.get("volumes") or []):
        if not isinstance(volume, Mapping):
            continue
        host, inside = volume.get("hostPath"), volume.get("containerPath")
        if (
            isinstance(host, str)
            and isinstance(inside, str)
            and not host.startswith("/")
            and not inside.startswith("/")
        ):
            refusals.append(
                Refusal(
                    "docker-volume-paths",
                    f"$.container.volumes[{index}]",
                    "Failed to create docker run options: "
                    f"Both host_path '{host}' and container_path '{inside}' of a volume are relative",
                )
            )
    return refusals


def refusals(definition: Mapping[str, Any]) -> list[Refusal]:
    """Every rule the definition (or stored task) breaks, in Mesos' order of checking."""
    return [
        *_resource_refusals(definition),
        *_task_id_refusals(definition),
        *_container_refusals(definition),
    ]


def field_errors(definition: Mapping[str, Any]) -> list[FieldError]:
    return [refusal.field_error() for refusal in refusals(definition)]
