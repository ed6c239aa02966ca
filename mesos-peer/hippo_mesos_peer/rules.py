"""What a Mesos 1.11 master and agent refuse in a ``TaskInfo``, with their exact words.

Each check is named by a *rule* (``docker-parameter-name``, ...), the same names
Hippo's Mesos backend uses for the definitions it refuses before anything reaches
Mesos; a test in Hippo's tree runs both over the same cases, so they cannot drift.
The peer owns this copy: it depends on nothing of Hippo.

Where each rule lives in Mesos and how a framework learns of it:

- ``resources`` (``validateAndUpgradeResources``, ``Resources::validate``): checked
  over a whole LAUNCH operation before any task is looked at; a bad resource in one
  task gets ``TASK_ERROR`` / ``REASON_TASK_INVALID`` for *every* task of that
  operation, with the raw message (``Resource 'cpus:0' is invalid: ...``).
- ``task-id``, ``kill-policy``, ``max-completion-time``, ``task-resources``,
  ``command-environment``, ``container-volume``, ``docker-info``,
  ``docker-parameter-name``, ``command-or-executor`` (``master/validation.cpp``,
  ``common/validation.cpp``): one task at a time, in the master's order, first
  failure wins: ``TASK_ERROR`` / ``REASON_TASK_INVALID`` from the master.
- ``docker-volume-paths``, ``docker-volume-source``, ``docker-network``,
  ``docker-hostname``, ``docker-port-mappings``, ``docker-shell-command``
  (``Docker::RunOptions::create``): the agent launches the task and the Docker
  executor refuses it: ``TASK_STARTING``, then ``TASK_FAILED`` from the executor,
  no reason, ``Failed to create docker run options: ...``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

MASTER = "master"
AGENT = "agent"

NAME_MAX = 255
DOCKER_RUN_OPTIONS = "Failed to create docker run options: "

# Rule name -> who enforces it.
RULES: dict[str, str] = {
    "resources": MASTER,
    "task-id": MASTER,
    "kill-policy": MASTER,
    "max-completion-time": MASTER,
    "task-resources": MASTER,
    "command-environment": MASTER,
    "container-volume": MASTER,
    "docker-info": MASTER,
    "docker-parameter-name": MASTER,
    "command-or-executor": MASTER,
    "docker-volume-paths": AGENT,
    "docker-volume-source": AGENT,
    "docker-network": AGENT,
    "docker-hostname": AGENT,
    "docker-port-mappings": AGENT,
    "docker-shell-command": AGENT,
}


@dataclass(frozen=True)
class Refusal:
    """A rule a task breaks, and the ``TaskStatus.message`` Mesos sends for it."""

    rule: str
    message: str

    @property
    def enforcer(self) -> str:
        return RULES[self.rule]


def _refusal(rule: str, message: str) -> Refusal:
    if rule not in RULES:
        raise KeyError(f"unknown rule {rule!r}")
    return Refusal(rule, message)


# -- ids ---------------------------------------------------------------------------------


def id_error(value: str) -> str | None:
    """``common::validation::validateID``: the length counts bytes; ``\\`` and ``/`` are both refused."""
    if not value:
        return "ID must not be empty"
    if len(value.encode("utf-8")) > NAME_MAX:
        return f"ID must not be greater than {NAME_MAX} characters"
    if value in (".", ".."):
        return f"'{value}' is disallowed"
    if any(_iscntrl(ch) or ch in "/\\" for ch in value):
        return f"'{value}' contains invalid characters"
    return None


def _iscntrl(ch: str) -> bool:
    # C's iscntrl in the "C" locale, applied byte by byte: 0x00-0x1f and 0x7f.
    return ord(ch) < 0x20 or ord(ch) == 0x7F


def task_id_refusal(task: dict[str, Any]) -> Refusal | None:
    problem = id_error(task["task_id"]["value"])
    return _refusal("task-id", problem) if problem else None


# -- resources ---------------------------------------------------------------------------


def fixed_point(value: float) -> int:
    """Mesos' scalar representation: ``llround(value * 1000)`` (halves away from zero)."""
    if not math.isfinite(value):
        raise ValueError(f"scalar {value} is not finite")
    return int(Decimal(value * 1000).to_integral_value(rounding=ROUND_HALF_UP))


def format_scalar(value: float) -> str:
    """A scalar as Mesos prints it: three decimals kept, then 15 significant digits."""
    fixed = fixed_point(value)
    quotient = abs(fixed) // 1000 * (1 if fixed >= 0 else -1)
    remainder = (abs(fixed) % 1000) / 1000.0 * (1 if fixed >= 0 else -1)
    return f"{quotient + remainder:.15g}"


def resource_text(resource: dict[str, Any]) -> str:
    """``operator<<(ostream&, const Resource&)`` for the parts the peer knows."""
    text = resource["name"]
    role = (resource.get("allocation_info") or {}).get("role")
    if role is not None:
        text += f"(allocated: {role})"
    if "revocable" in resource:
        text += "{REV}"
    if "shared" in resource:
        text += "<SHARED>"
    kind = resource["type"]
    if kind == "SCALAR":
        value = resource.get("scalar", {}).get("value", 0.0)
        shown = format_scalar(value) if math.isfinite(value) else str(value)
    elif kind == "RANGES":
        spans = resource.get("ranges", {}).get("range", [])
        shown = "[" + ", ".join(f"{r['begin']}-{r['end']}" for r in spans) + "]"
    elif kind == "SET":
        shown = "{" + ", ".join(resource.get("set", {}).get("item", [])) + "}"
    else:
        shown = ""
    return f"{text}:{shown}"


def _resource_problem(resource: dict[str, Any]) -> str | None:
    """``Resources::validate(const Resource&)`` for unreserved resources."""
    if not resource["name"]:
        return "Empty resource name"
    kind = resource["type"]
    has = {part: part in resource for part in ("scalar", "ranges", "set")}
    if kind == "SCALAR":
        if not has["scalar"] or has["ranges"] or has["set"]:
            return "Invalid scalar resource"
        value = resource["scalar"]["value"]
        # Zero is allowed; anything else that is zero or less in fixed point is not.
        if not math.isfinite(value) or (value != 0 and fixed_point(value) <= 0):
            return "Invalid scalar resource: value <= 0"
    elif kind == "RANGES":
        if has["scalar"] or not has["ranges"] or has["set"]:
            return "Invalid ranges resource"
        spans = resource["ranges"].get("range", [])
        for i, span in enumerate(spans):
            if span["begin"] > span["end"]:
                return "Invalid ranges resource: begin > end"
            for other in spans[i + 1 :]:
                if span["begin"] <= other["begin"] <= span["end"]:
                    return "Invalid ranges resource: overlapping ranges"
    elif kind == "SET":
        if has["scalar"] or has["ranges"] or not has["set"]:
            return "Invalid set resource"
        items = resource["set"].get("item", [])
        if len(set(items)) != len(items):
            return "Invalid set resource: duplicated elements"
    else:
        return "Unsupported resource type"
    return None


def resources_error(resources: list[dict[str, Any]]) -> str | None:
    """``Resources::validate`` over a list: the first bad resource, named as Mesos prints it."""
    for resource in resources:
        problem = _resource_problem(resource)
        if problem is not None:
            return f"Resource '{resource_text(resource)}' is invalid: {problem}"
    return None


def launch_resources_refusal(task_infos: list[dict[str, Any]]) -> Refusal | None:
    """The resource check over a whole LAUNCH: one bad task fails every task of it."""
    for task in task_infos:
        for items in (task.get("resources", []), task.get("executor", {}).get("resources", [])):
            problem = resources_error(items)
            if problem is not None:
                return _refusal("resources", problem)
    return None


# -- the master's checks of one task -----------------------------------------------------


def _environment_error(environment: dict[str, Any]) -> str | None:
    for variable in environment.get("variables", []):
        name = variable["name"]
        kind = variable.get("type", "VALUE")
        if kind == "SECRET":
            if "secret" not in variable:
                return f"Environment variable '{name}' of type 'SECRET' must have a secret set"
            if "value" in variable:
                return f"Environment variable '{name}' of type 'SECRET' must not have a value set"
            problem = _secret_error(variable["secret"])
            if problem:
                return f"Environment variable '{name}' specifies an invalid secret: {problem}"
            if b"\0" in variable["secret"].get("value", {}).get("data", b""):
                return (
                    f"Environment variable '{name}' specifies a secret containing null bytes, "
                    "which is not allowed in the environment"
                )
        elif kind == "VALUE":
            if "value" not in variable:
                return f"Environment variable '{name}' of type 'VALUE' must have a value set"
            if "secret" in variable:
                return f"Environment variable '{name}' of type 'VALUE' must not have a secret set"
        else:
            return "Environment variable of type 'UNKNOWN' is not allowed"
    return None


def _secret_error(secret: dict[str, Any]) -> str | None:
    kind = secret.get("type", "UNKNOWN")
    if kind == "REFERENCE":
        if "reference" not in secret:
            return "Secret of type REFERENCE must have the 'reference' field set"
        if "value" in secret:
            name = secret["reference"].get("name", "")
            return f"Secret '{name}' of type REFERENCE must not have the 'value' field set"
    elif kind == "VALUE":
        if "value" not in secret:
            return "Secret of type VALUE must have the 'value' field set"
        if "reference" in secret:
            return "Secret of type VALUE must not have the 'reference' field set"
    return None


_SOURCE_FIELDS = {
    "DOCKER_VOLUME": "docker_volume",
    "HOST_PATH": "host_path",
    "SANDBOX_PATH": "sandbox_path",
    "SECRET": "secret",
}


def _volume_error(volume: dict[str, Any]) -> str | None:
    if sum(1 for key in ("host_path", "image", "source") if key in volume) != 1:
        return "Only one of them should be set: 'host_path', 'image' and 'source'"
    source = volume.get("source")
    if source is None:
        return None
    kind = source.get("type", "UNKNOWN")
    if kind in _SOURCE_FIELDS:
        field = _SOURCE_FIELDS[kind]
        if field not in source:
            return f"'source.{field}' is not set for {kind} volume"
    elif kind == "CSI_VOLUME":
        csi = source.get("csi_volume")
        if csi is None:
            return "'source.csi_volume' is not set for CSI volume"
        if not isinstance(csi, dict) or "static_provisioning" not in csi:
            return "'source.csi_volume.static_provisioning' is not set for CSI volume"
    else:
        return "'source.type' is unknown"
    return None


def _container_refusal(container: dict[str, Any]) -> Refusal | None:
    prefix = "Task's `ContainerInfo` is invalid: "
    for volume in container.get("volumes", []):
        problem = _volume_error(volume)
        if problem:
            return _refusal("container-volume", f"{prefix}Invalid volume: {problem}")
    if container["type"] == "DOCKER":
        if "docker" not in container:
            return _refusal(
                "docker-info", f"{prefix}DockerInfo 'docker' is not set for DOCKER typed ContainerInfo"
            )
        if any(p["key"] == "name" for p in container["docker"].get("parameters", [])):
            return _refusal("docker-parameter-name", f"{prefix}Parameter in DockerInfo must not be 'name'")
    return None


def _negative_duration(duration: dict[str, Any] | None) -> bool:
    return duration is not None and duration["nanoseconds"] < 0


def task_refusal(task: dict[str, Any]) -> Refusal | None:
    """The master's checks of one task that need no books, in its order.

    (Between ``task-id`` and these the master also checks for a duplicate id and the
    right agent, which need its books; see the peer's ``launch`` module.)
    """
    if _negative_duration(task.get("kill_policy", {}).get("grace_period")):
        return _refusal("kill-policy", "Task's 'kill_policy.grace_period' must be non-negative")
    if _negative_duration(task.get("max_completion_time")):
        return _refusal("max-completion-time", "Task's `max_completion_time` must be non-negative")
    if not task.get("resources"):
        return _refusal("task-resources", "Task uses no resources")
    command = task.get("command")
    if command is not None:
        problem = _environment_error(command.get("environment", {}))
        if problem:
            return _refusal("command-environment", f"Task's `CommandInfo` is invalid: {problem}")
    container = task.get("container")
    if container is not None:
        refusal = _container_refusal(container)
        if refusal is not None:
            return refusal
    return None


def executor_refusal(task: dict[str, Any]) -> Refusal | None:
    if ("executor" in task) == ("command" in task):
        return _refusal(
            "command-or-executor",
            "Task should have at least one (but not both) of CommandInfo or ExecutorInfo present",
        )
    return None


# -- the Docker executor on the agent ----------------------------------------------------


def _is_absolute(path: str) -> bool:
    return path.startswith("/")


def _docker_error(task: dict[str, Any]) -> tuple[str, str] | None:
    """``Docker::RunOptions::create`` for a command task: (rule, message) or None."""
    container = task["container"]
    docker = container["docker"]
    for volume in container.get("volumes", []):
        if "host_path" in volume:
            host, inside = volume["host_path"], volume["container_path"]
            if not _is_absolute(host) and not _is_absolute(inside):
                message = f"Both host_path '{host}' and container_path '{inside}' of a volume are relative"
                return "docker-volume-paths", message
        elif "source" not in volume:
            return "docker-volume-source", "Host path or volume source is required"
    network = docker.get("network", "HOST")
    infos = container.get("network_infos", [])
    if network == "USER":
        if not infos:
            return "docker-network", "No network info found in container info"
        if len(infos) > 1:
            return "docker-network", "Only a single network can be defined in Docker run"
        if not isinstance(infos[0], dict) or "name" not in infos[0]:
            return "docker-network", "No network name found in network info"
    if "hostname" in container and network == "HOST":
        return "docker-hostname", "Unable to set hostname with host network mode"
    mappings = docker.get("port_mappings", [])
    if mappings:
        problem = _port_mappings_error(mappings, network, task.get("resources", []))
        if problem:
            return "docker-port-mappings", problem
    command = task.get("command", {})
    if command.get("shell", True) and "value" not in command:
        return "docker-shell-command", "Shell specified but no command value provided"
    return None


def _port_mappings_error(
    mappings: list[dict[str, Any]], network: str, resources: list[dict[str, Any]]
) -> str | None:
    if network in ("HOST", "NONE"):
        return "Port mappings are only supported for bridge and user-defined networks"
    if not resources:
        return "Port mappings require resources"
    spans = [
        (span["begin"], span["end"])
        for resource in resources
        if resource["name"] == "ports" and resource["type"] == "RANGES"
        for span in resource.get("ranges", {}).get("range", [])
    ]
    if not spans:
        return "Port mappings require port resources"
    for mapping in mappings:
        port = mapping["host_port"]
        if not any(begin <= port <= end for begin, end in spans):
            return f"Port [{port}] not included in resources"
    return None


def docker_refusal(task: dict[str, Any]) -> Refusal | None:
    """What the Docker executor refuses after the agent launched the task (DOCKER tasks only)."""
    container = task.get("container")
    if container is None or container.get("type") != "DOCKER" or "docker" not in container:
        return None
    found = _docker_error(task)
    if found is None:
        return None
    rule, problem = found
    return _refusal(rule, DOCKER_RUN_OPTIONS + problem)


def first_refusal(task: dict[str, Any]) -> Refusal | None:
    """What a cluster answers for this one task launched alone on an offer it fits.

    The rules that need no books, in the order Mesos applies them: the LAUNCH's
    resources, the master's task checks, then the Docker executor's.
    """
    for check in (
        lambda: launch_resources_refusal([task]),
        lambda: task_id_refusal(task),
        lambda: task_refusal(task),
        lambda: executor_refusal(task),
        lambda: docker_refusal(task),
    ):
        refusal = check()
        if refusal is not None:
            return refusal
    return None
