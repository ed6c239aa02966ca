"""Translation between Hippo's plain dataclasses and the Mesos v1 JSON messages.

- :func:`task_info` turns a :class:`TaskLaunch` into a ``TaskInfo`` (a Docker task).
- :func:`offer_from_json` turns an ``Offer`` into Hippo's :class:`Offer`.
- :func:`status_from_json` turns a ``TaskStatus`` into Hippo's :class:`TaskStatus`.

Decisions worth knowing:

- Offers count only *unreserved* scalar resources (``role`` ``"*"`` or absent, no
  reservation, not revocable, no persistent or mount/path disk) allocated to one of
  Hippo's roles. Tasks ask for ``cpus``/``mem`` with role ``"*"``, so what is counted
  is exactly what a launch may use; the master fills in the allocation role itself.
- Attributes are rendered as text the way Marathon renders them for constraints:
  TEXT as is; SCALAR as a plain decimal (Mesos keeps three decimals) without a
  needless fraction: ``4.0`` becomes ``"4"``, ``1.5`` stays ``"1.5"`` (Marathon's
  locale-dependent digit grouping is left out); SET sorted as ``{a,b}``; RANGES
  sorted by start as ``[1-2,5-6]``.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from hippo_core.backend import Offer, TaskLaunch, TaskStatus

DOCKER_NETWORKS = ("HOST", "BRIDGE", "NONE", "USER")
VOLUME_MODES = ("RW", "RO")
UNRESERVED_ROLE = "*"


class TaskInfoError(ValueError):
    """A task's container definition cannot be expressed as a Mesos TaskInfo."""


# --- TaskLaunch -> TaskInfo ---------------------------------------------------------


def task_info(launch: TaskLaunch) -> dict[str, Any]:
    """The v1 ``TaskInfo`` JSON that launches ``launch`` on its agent."""
    info: dict[str, Any] = {
        "name": launch.name,
        "task_id": {"value": launch.task_id},
        "agent_id": {"value": launch.agent_id},
        "resources": [
            scalar_resource("cpus", launch.cpus),
            scalar_resource("mem", launch.mem),
        ],
        "command": _command(launch.cmd, launch.env),
    }
    container = _container(launch.task_id, launch.container or {})
    if container is not None:
        info["container"] = container
    if launch.labels:
        info["labels"] = {
            "labels": [{"key": key, "value": str(value)} for key, value in launch.labels.items()]
        }
    return info


def scalar_resource(name: str, value: float, role: str = UNRESERVED_ROLE) -> dict[str, Any]:
    return {"name": name, "type": "SCALAR", "scalar": {"value": float(value)}, "role": role}


def _command(cmd: str, env: dict[str, str]) -> dict[str, Any]:
    # Without a command the Docker image's own entrypoint and CMD run.
    command: dict[str, Any] = {"shell": True, "value": cmd} if cmd else {"shell": False}
    if env:
        command["environment"] = {
            "variables": [{"name": name, "value": str(value)} for name, value in env.items()]
        }
    return command


def _container(task_id: str, container: dict[str, Any]) -> dict[str, Any] | None:
    docker = container.get("docker")
    volumes = [_volume(task_id, i, v) for i, v in enumerate(container.get("volumes") or [])]
    if docker is None:
        if volumes:
            raise TaskInfoError(
                f"task {task_id}: container has volumes but no docker image; set container.docker.image"
            )
        return None
    if not isinstance(docker, dict):
        raise TaskInfoError(f"task {task_id}: container.docker must be an object, got {docker!r}")
    image = docker.get("image")
    if not image or not isinstance(image, str):
        raise TaskInfoError(f"task {task_id}: container.docker.image must be a non-empty string")
    network = str(docker.get("network") or "HOST").upper()
    if network not in DOCKER_NETWORKS:
        raise TaskInfoError(
            f"task {task_id}: container.docker.network is {docker.get('network')!r}; "
            f"expected one of {', '.join(DOCKER_NETWORKS)}"
        )
    docker_info: dict[str, Any] = {
        "image": image,
        "network": network,
        "force_pull_image": bool(_either(docker, "force_pull_image", "forcePullImage", False)),
    }
    if "privileged" in docker:
        docker_info["privileged"] = bool(docker["privileged"])
    parameters = [_parameter(task_id, i, p) for i, p in enumerate(docker.get("parameters") or [])]
    if parameters:
        docker_info["parameters"] = parameters
    result: dict[str, Any] = {"type": "DOCKER", "docker": docker_info}
    if network == "USER":
        # Docker's user-defined networks are named in NetworkInfo, not DockerInfo.
        name = _either(docker, "network_name", "networkName", None)
        if not name:
            raise TaskInfoError(
                f"task {task_id}: docker network USER needs container.docker.network_name "
                "(the name of the user-defined Docker network)"
            )
        result["network_infos"] = [{"name": str(name)}]
    if volumes:
        result["volumes"] = volumes
    return result


def _parameter(task_id: str, index: int, parameter: Any) -> dict[str, str]:
    if not isinstance(parameter, dict) or "key" not in parameter:
        raise TaskInfoError(
            f"task {task_id}: container.docker.parameters[{index}] must be "
            f'{{"key": ..., "value": ...}}, got {parameter!r}'
        )
    return {"key": str(parameter["key"]), "value": str(parameter.get("value", ""))}


def _volume(task_id: str, index: int, volume: Any) -> dict[str, Any]:
    where = f"task {task_id}: container.volumes[{index}]"
    if not isinstance(volume, dict):
        raise TaskInfoError(f"{where} must be an object, got {volume!r}")
    container_path = _either(volume, "containerPath", "container_path", None)
    if not container_path:
        raise TaskInfoError(f"{where} needs containerPath")
    mode = str(volume.get("mode") or "RW").upper()
    if mode not in VOLUME_MODES:
        raise TaskInfoError(f"{where}.mode is {volume.get('mode')!r}; expected RW or RO")
    result: dict[str, Any] = {"container_path": str(container_path), "mode": mode}
    host_path = _either(volume, "hostPath", "host_path", None)
    if host_path:
        result["host_path"] = str(host_path)
    return result


def _either(source: dict[str, Any], key: str, alternative: str, default: Any) -> Any:
    """Hippo writes Marathon's spelling; accept the Mesos spelling too."""
    if key in source:
        return source[key]
    return source.get(alternative, default)


# --- Offer JSON -> Offer ------------------------------------------------------------


def offer_from_json(offer: dict[str, Any], roles: Collection[str] = (UNRESERVED_ROLE,)) -> Offer:
    """Hippo's view of one offer: unreserved cpus/mem/disk for ``roles``, attributes as text."""
    offer_role = (offer.get("allocation_info") or {}).get("role")
    totals = {"cpus": 0.0, "mem": 0.0, "disk": 0.0}
    for resource in offer.get("resources") or []:
        name = resource.get("name")
        if name not in totals or resource.get("type", "SCALAR") != "SCALAR":
            continue
        allocated_to = (resource.get("allocation_info") or {}).get("role", offer_role)
        if allocated_to is not None and allocated_to not in roles:
            continue
        if is_unreserved_plain(resource):
            totals[name] += float((resource.get("scalar") or {}).get("value", 0.0))
    return Offer(
        id=offer["id"]["value"],
        agent_id=offer["agent_id"]["value"],
        hostname=offer.get("hostname", ""),
        cpus=_round3(totals["cpus"]),
        mem=_round3(totals["mem"]),
        disk=_round3(totals["disk"]),
        attributes={
            attribute["name"]: render_attribute(attribute) for attribute in offer.get("attributes") or []
        },
    )


def is_unreserved_plain(resource: dict[str, Any]) -> bool:
    """True for a resource any task may take a slice of with role ``"*"``."""
    if resource.get("role", UNRESERVED_ROLE) != UNRESERVED_ROLE:
        return False
    if resource.get("reservation") or resource.get("reservations"):
        return False
    if "revocable" in resource or "shared" in resource:
        return False
    disk = resource.get("disk") or {}
    return not (disk.get("persistence") or disk.get("source"))


def render_attribute(attribute: dict[str, Any]) -> str:
    """An attribute's value as the text Marathon constraints compare against."""
    kind = attribute.get("type")
    if kind == "TEXT":
        return str((attribute.get("text") or {}).get("value", ""))
    if kind == "SCALAR":
        return format_scalar(float((attribute.get("scalar") or {}).get("value", 0.0)))
    if kind == "SET":
        return "{" + ",".join(sorted((attribute.get("set") or {}).get("item") or [])) + "}"
    if kind == "RANGES":
        ranges = sorted(
            (int(r["begin"]), int(r["end"])) for r in (attribute.get("ranges") or {}).get("range") or []
        )
        return "[" + ",".join(f"{begin}-{end}" for begin, end in ranges) + "]"
    raise ValueError(f"attribute {attribute.get('name')!r} has unknown type {kind!r}")


def format_scalar(value: float) -> str:
    """``4.0`` -> ``"4"``, ``1.5`` -> ``"1.5"``, ``0.1234`` -> ``"0.123"`` (Mesos precision)."""
    text = f"{_round3(value):.3f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _round3(value: float) -> float:
    # Mesos stores scalars as fixed point with three decimals; sums of floats
    # drift (0.1 + 0.2), so round back to what the master would say.
    return round(value, 3)


# --- TaskStatus JSON -> TaskStatus --------------------------------------------------


def status_from_json(status: dict[str, Any], hostname: str | None = None) -> TaskStatus:
    """Hippo's view of one status update; ``hostname`` comes from the caller's agent book."""
    timestamp = status.get("timestamp")
    return TaskStatus(
        task_id=status["task_id"]["value"],
        state=status["state"],
        agent_id=(status.get("agent_id") or {}).get("value"),
        hostname=hostname,
        reason=status.get("reason"),
        message=status.get("message"),
        source=status.get("source"),
        timestamp=float(timestamp) if timestamp is not None else None,
    )
