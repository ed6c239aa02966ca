"""Running a task in Docker: is an engine there, the ``docker create`` for a task, Hippo's containers.

A task's container is created, then started and attached to by its runner
(:mod:`.runner`), never with ``--rm``: its exit status must outlive a crash of
Hippo, which removes the container (with its anonymous volumes) once it has read it.
The ``docker create`` argument list mirrors what Mesos' Docker containerizer would do
with the task's Marathon-style ``container``:

- ``--name <attempt id>``, a ``--label`` per Hippo label, plus ``hippo.attempt`` (the
  attempt) and ``hippo.instance`` (this Hippo: two Hippos on one engine never touch
  each other's containers);
- ``--log-driver none``: the runner copies the output to the attempt's files (capped),
  so the engine keeps no second, unbounded copy (a ``log-driver`` parameter overrides it);
- ``--cpus`` and ``--memory <mem>m`` from the task's resources;
- ``--env-file <attempt directory>/docker.env`` with the task's environment (see
  below);
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

The ``docker`` client runs with Hippo's own environment only: the task's variables
are for the container, and a task's ``PATH``, ``DOCKER_HOST`` or ``DOCKER_CONFIG``
must not decide which ``docker`` runs or which engine it talks to. The variables go
in the env file, one ``NAME=value`` a line, written with mode 0600 and removed as soon
as the container is created: values stay out of the process list and out of the
client's environment.

A variable the file cannot carry exactly is passed as ``-e NAME`` instead, its value
in the client's environment: one whose value has a line break (``\\n`` or ``\\r``),
starts and ends with the same quote (some docker clients strip such quotes), cannot
be written as UTF-8 or makes a line over 64 KiB, or whose name has whitespace or
starts with ``#``. Such a variable is refused (the attempt ends TASK_ERROR saying
why) when the client itself reads its name, in any case: ``PATH``, ``HOME``, the
proxy and TLS certificate variables, the Go runtime's (:data:`CLIENT_NAMES`), or a
name starting with ``DOCKER_``, ``NOTARY_``, ``LD_``, ``SSH_``, ``XDG_`` or
``OTEL_``. What no environment can carry is refused too: a name that is empty or
holds ``=`` or a NUL, a value holding a NUL.

Parameters that would take the container out of Hippo's hands are refused when the
task is posted (:func:`parameter_errors`): ``name``, ``rm``, ``detach``, ``attach``,
``interactive``, ``tty``, ``entrypoint``, ``restart``, ``cidfile`` and labels named
``hippo.*``.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hippo_core.backend import TaskLaunch

log = logging.getLogger(__name__)

NETWORKS = {"BRIDGE": "bridge", "HOST": "host", "NONE": "none"}
ENV_FILE = "docker.env"
# docker reads its env file a line at a time with a 64 KiB buffer, the newline included.
ENV_FILE_MAX_LINE = 64 * 1024
QUOTES = "'\""
# Variables the docker client (or the C library and Go runtime under it) reads for
# itself: a task may not set them through the client's environment.
CLIENT_NAMES = frozenset(
    {
        "PATH",
        "HOME",
        "TMPDIR",
        "SHELL",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "ALL_PROXY",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "GODEBUG",
        "GOGC",
        "GOMAXPROCS",
        "GOMEMLIMIT",
        "GOTRACEBACK",
    }
)
CLIENT_PREFIXES = ("DOCKER_", "NOTARY_", "LD_", "SSH_", "XDG_", "OTEL_")


def engine_answers(docker: str = "docker", timeout: float = 10.0) -> bool:
    """Whether ``docker version`` reaches an engine (client installed and daemon up)."""
    path = shutil.which(docker)
    if path is None:
        return False
    try:
        result = subprocess.run(
            [path, "version", "--format", "{{.Server.Version}}"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.info("docker engine check failed: %s", exc)
        return False
    if result.returncode != 0:
        log.info("no docker engine answers: %s", result.stderr.decode(errors="replace").strip())
        return False
    return True


LABEL_ATTEMPT = "hippo.attempt"
LABEL_INSTANCE = "hippo.instance"
# `docker run` options a task may not set: Hippo names, attaches, removes and labels
# the container itself, and runs the command through /bin/sh.
MANAGED_OPTIONS = frozenset(
    {
        "name",
        "rm",
        "detach",
        "d",
        "attach",
        "a",
        "interactive",
        "i",
        "tty",
        "t",
        "entrypoint",
        "restart",
        "cidfile",
    }
)


@dataclass(frozen=True)
class DockerCreate:
    """The ``docker create`` argv for a task, its env file, and the variables the file cannot carry.

    ``env_file`` is ``None`` when no variable goes in a file (``env_file_text`` is then
    empty); ``client_vars`` are the ones passed as ``-e NAME``, their values in the
    client's environment.
    """

    argv: list[str]
    name: str
    env_file: Path | None = None
    env_file_text: str = ""
    client_vars: dict[str, str] = field(default_factory=dict)

    def write_env_file(self) -> None:
        """Write the env file, readable by this user only (``OSError`` if it cannot be)."""
        if self.env_file is None:
            return
        fd = os.open(self.env_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            # A file left by an earlier run of the same attempt keeps its old mode on O_CREAT.
            os.fchmod(fh.fileno(), 0o600)
            fh.write(self.env_file_text)

    def remove_env_file(self) -> None:
        """Remove the env file (``OSError`` if it cannot be)."""
        if self.env_file is not None:
            self.env_file.unlink(missing_ok=True)

    def client_env(self, own: Mapping[str, str]) -> dict[str, str]:
        """The client's environment: ``own`` (Hippo's) plus the values of the ``-e NAME`` variables."""
        return {**own, **self.client_vars}


def docker_create(
    launch: TaskLaunch, env_file: str | os.PathLike[str], instance: str, docker: str = "docker"
) -> DockerCreate:
    """The ``docker create`` for ``launch``, its environment going in ``env_file`` (not yet written).

    Raises ``ValueError`` for a container docker cannot run or a variable that cannot be
    passed (see the module docstring).
    """
    container = launch.container or {}
    spec = container.get("docker") or {}
    image = spec.get("image")
    if not image:
        raise ValueError(f"task {launch.task_id} has no container.docker.image to run")
    in_file, in_client = _split_env(launch.task_id, launch.env)
    argv = [docker, "create", "--name", launch.task_id]
    labels = {**launch.labels, LABEL_ATTEMPT: launch.task_id, LABEL_INSTANCE: instance}
    for key, value in sorted(labels.items()):
        argv += ["--label", f"{key}={value}"]
    argv += ["--log-driver", "none", "--cpus", f"{launch.cpus:g}", "--memory", f"{launch.mem:g}m"]
    path = Path(env_file) if in_file else None
    if path is not None:
        argv += ["--env-file", str(path)]
    for name in sorted(in_client):
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
    text = "".join(f"{name}={in_file[name]}\n" for name in sorted(in_file))
    return DockerCreate(argv, launch.task_id, path, text, in_client)


def parameter_errors(parameters: list[Mapping[str, Any]]) -> list[tuple[int, str]]:
    """``(index, why)`` for each parameter that would take the container out of Hippo's hands."""
    problems = []
    for index, parameter in enumerate(parameters):
        key = str(parameter.get("key", "")).lstrip("-")
        value = str(parameter.get("value", ""))
        if key in MANAGED_OPTIONS:
            problems.append(
                (
                    index,
                    f"--{key} is set by Hippo, which names, starts, attaches to and removes the container",
                )
            )
        elif key in ("label", "l") and value.startswith("hippo."):
            problems.append((index, "labels named hippo.* are Hippo's own"))
    return problems


def hippo_containers(instance: str, docker: str = "docker", timeout: float = 30.0) -> list[str]:
    """Names of every container (running or not) this Hippo instance created on the engine."""
    result = subprocess.run(
        [docker, "ps", "--all", "--filter", f"label={LABEL_INSTANCE}={instance}", "--format", "{{.Names}}"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise OSError(
            result.stderr.decode(errors="replace").strip() or f"docker ps exited {result.returncode}"
        )
    return [line for line in result.stdout.decode().splitlines() if line]


def remove_unaccounted(instance: str, accounted: set[str], docker: str = "docker") -> list[str]:
    """Remove this Hippo's containers that no attempt accounts for; their names."""
    removed = []
    for name in hippo_containers(instance, docker):
        if name not in accounted:
            log.warning("removing container %s: no attempt of this Hippo accounts for it", name)
            try:
                remove_container(name, docker)
            except OSError as exc:
                log.warning("could not remove container %s: %s", name, exc)
                continue
            removed.append(name)
    return removed


def remove_container(name: str, docker: str = "docker", timeout: float = 60.0) -> None:
    """Remove a container, running or not, with its anonymous volumes (``OSError`` if it cannot be)."""
    result = subprocess.run(
        [docker, "rm", "--force", "--volumes", name],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    error = result.stderr.decode(errors="replace").strip()
    if result.returncode != 0 and "No such container" not in error:
        raise OSError(error or f"docker rm exited {result.returncode}")


def _split_env(task_id: str, env: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """The task's variables for the env file, and those only the client's environment can carry."""
    in_file: dict[str, str] = {}
    in_client: dict[str, str] = {}
    for name, value in env.items():
        name, value = str(name), str(value)
        if not name or "=" in name or "\0" in name:
            raise ValueError(
                f"task {task_id}: {name!r} is not an environment variable name "
                "(it must be non-empty, without '=' or NUL)"
            )
        if "\0" in value:
            raise ValueError(
                f"task {task_id}: environment variable {name} has a NUL in its value, "
                "which no environment can carry"
            )
        why = _not_for_env_file(name, value)
        if why is None:
            in_file[name] = value
        elif _client_reads(name):
            raise ValueError(
                f"task {task_id}: environment variable {name} cannot be passed to docker: {why}, so "
                f"docker's --env-file cannot carry it, and the docker client itself reads {name}, so "
                "Hippo will not set it in the client's environment; change the value (for example "
                "encode it with base64) or use another name"
            )
        else:
            in_client[name] = value
    return in_file, in_client


def _not_for_env_file(name: str, value: str) -> str | None:
    """Why ``NAME=value`` would not come out of docker's env file as it went in, or ``None``."""
    if any(ch.isspace() for ch in name) or name.startswith(("#", "\ufeff")):
        return "its name has whitespace or starts with '#'"
    if "\n" in value or "\r" in value:
        return "its value has a line break"
    if len(value) >= 2 and value[0] in QUOTES and value[0] == value[-1]:
        return "its value starts and ends with the same quote, which some docker clients strip"
    try:
        size = len(f"{name}={value}\n".encode())
    except UnicodeEncodeError:
        return "its value cannot be written as UTF-8"
    if size > ENV_FILE_MAX_LINE:
        return f"it makes a line longer than {ENV_FILE_MAX_LINE // 1024} KiB"
    return None


def _client_reads(name: str) -> bool:
    upper = name.upper()
    return upper in CLIENT_NAMES or upper.startswith(CLIENT_PREFIXES)


def _network(task_id: str, spec: dict[str, Any]) -> str:
    network = str(spec.get("network") or "BRIDGE").upper()
    if network in NETWORKS:
        return NETWORKS[network]
    if network == "USER":
        name = _either(spec, "network_name", "networkName")
        if not name:
            raise ValueError(f"task {task_id}: docker network USER needs container.docker.network_name")
        return str(name)
    raise ValueError(
        f"task {task_id}: container.docker.network {network!r} is not one of BRIDGE, HOST, NONE, USER"
    )


def _either(block: dict[str, Any], snake: str, camel: str) -> Any:
    """Hippo writes snake_case; Marathon definitions pasted as they are use camelCase."""
    return block.get(snake) if block.get(snake) is not None else block.get(camel)
