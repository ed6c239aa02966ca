"""Running a task with ``docker run``: is an engine there, and the command line for a task.

The argument list mirrors what Mesos' Docker containerizer would do with the task's
Marathon-style ``container``:

- ``--name <attempt id>``, ``--rm``, a ``--label`` per Hippo label;
- ``--cpus`` and ``--memory <mem>m`` from the task's resources;
- ``-e NAME`` per environment variable: docker takes the value from its own
  environment (:attr:`DockerRun.env`), so values never show in the process list;
- ``-v hostPath:containerPath:ro|rw`` per volume (``-v containerPath`` without a
  ``hostPath``: an anonymous volume);
- ``--network bridge|host|none`` from ``network``, or ``--network <network_name>``
  for ``USER`` (a user-defined Docker network);
- ``--pull always`` when ``force_pull_image``;
- each parameter as ``--key=value`` (``--key`` alone when the value is empty): the
  ``=`` form also suits boolean options such as ``privileged``, which would take a
  separate value for the image name;
- ``--entrypoint /bin/sh <image> -c <cmd>``: the command runs in a shell whatever the
  image's own entrypoint, as Mesos does for shell commands.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Any

from hippo_core.backends.base import TaskLaunch

log = logging.getLogger(__name__)

NETWORKS = {"BRIDGE": "bridge", "HOST": "host", "NONE": "none"}


def engine_answers(docker: str = "docker", timeout: float = 10.0) -> bool:
    """Whether ``docker version`` reaches an engine (client installed and daemon up)."""
    path = shutil.which(docker)
    if path is None:
        return False
    try:
        result = subprocess.run(
            [path, "version", "--format", "{{.Server.Version}}"],
            stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.info("docker engine check failed: %s", exc)
        return False
    if result.returncode != 0:
        log.info("no docker engine answers: %s", result.stderr.decode(errors="replace").strip())
        return False
    return True


@dataclass(frozen=True)
class DockerRun:
    """The ``docker run`` argv for a task, and the environment the client needs for its ``-e``s."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)


def docker_run(launch: TaskLaunch, docker: str = "docker") -> DockerRun:
    container = launch.container or {}
    spec = container.get("docker") or {}
    image = spec.get("image")
    if not image:
        raise ValueError(f"task {launch.task_id} has no container.docker.image to run")
    argv = [docker, "run", "--rm", "--name", launch.task_id]
    for key, value in sorted(launch.labels.items()):
        argv += ["--label", f"{key}={value}"]
    argv += ["--cpus", f"{launch.cpus:g}", "--memory", f"{launch.mem:g}m"]
    for name in sorted(launch.env):
        argv += ["-e", name]
    for volume in container.get("volumes") or []:
        mode = str(volume.get("mode") or "RW").lower()
        host = _either(volume, "hostPath", "host_path")
        inside = _either(volume, "containerPath", "container_path")
        # Docker takes no mode for an anonymous volume (only a container path).
        argv += ["-v", f"{host}:{inside}:{mode}" if host else str(inside)]
    argv += ["--network", _network(launch.task_id, spec)]
    if _either(spec, "force_pull_image", "forcePullImage"):
        argv += ["--pull", "always"]
    for parameter in spec.get("parameters") or []:
        key = str(parameter["key"]).lstrip("-")
        value = str(parameter.get("value", ""))
        argv.append(f"--{key}={value}" if value else f"--{key}")
    argv += ["--entrypoint", "/bin/sh", image, "-c", launch.cmd]
    return DockerRun(argv, dict(launch.env))


def _network(task_id: str, spec: dict[str, Any]) -> str:
    network = str(spec.get("network") or "BRIDGE").upper()
    if network in NETWORKS:
        return NETWORKS[network]
    if network == "USER":
        name = _either(spec, "network_name", "networkName")
        if not name:
            raise ValueError(f"task {task_id}: docker network USER needs container.docker.network_name")
        return str(name)
    raise ValueError(f"task {task_id}: container.docker.network {network!r} is not one of "
                     "BRIDGE, HOST, NONE, USER")


def _either(block: dict[str, Any], snake: str, camel: str) -> Any:
    """Hippo writes snake_case; Marathon definitions pasted as they are use camelCase."""
    return block.get(snake) if block.get(snake) is not None else block.get(camel)
