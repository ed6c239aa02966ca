"""Every task rule of the peer, one case each, over real HTTP: what a Mesos 1.11 master (or its
Docker executor) answers a task that breaks it, in its words."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from hippo_mesos_peer import MesosMasterPeer, SimAgent
from hippo_mesos_peer.probe import SchedulerProbe, task_info
from hippo_mesos_peer.rules import AGENT, MASTER, RULES, first_refusal, id_error

FAST = {"heartbeat_interval": 5.0, "allocation_interval": 0.02, "status_update_retry": 0.1}
DOCKER = {"type": "DOCKER", "docker": {"image": "busybox", "network": "BRIDGE"}}


@pytest.fixture
def peer() -> Iterator[MesosMasterPeer]:
    with MesosMasterPeer(agents=[SimAgent(hostname="agent1", cpus=4.0)], **FAST) as peer:
        yield peer


@pytest.fixture
def probe(peer: MesosMasterPeer) -> Iterator[SchedulerProbe]:
    probe = SchedulerProbe(peer.scheduler_url, timeout=5.0)
    probe.subscribe()
    yield probe
    probe.close()


Change = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Change:
    """Set ``a.b.c`` (list indexes as numbers) in the task."""

    def change(task: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = task
        for part in parents:
            node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
        node[int(last) if last.isdigit() else last] = value

    return change


def _drop(key: str) -> Change:
    return lambda task: task.pop(key)


def _volume(**volume: Any) -> Change:
    return _set("container.volumes", [{"mode": "RW", **volume}])


def _variable(**variable: Any) -> Change:
    return _set("command.environment", {"variables": [{"name": "V", **variable}]})


# (rule, what it proves, change to a Docker task, the message Mesos sends).
CASES: list[tuple[str, str, Change, str]] = [
    (
        "resources",
        "a scalar that is zero in Mesos' three decimals",
        _set("resources.0.scalar.value", 0.0004),
        "Resource 'cpus:0' is invalid: Invalid scalar resource: value <= 0",
    ),
    (
        "resources",
        "a negative scalar",
        _set("resources.1.scalar.value", -32),
        "Resource 'mem:-32' is invalid: Invalid scalar resource: value <= 0",
    ),
    (
        "resources",
        "overlapping ranges",
        lambda t: t["resources"].append(
            {
                "name": "ports",
                "type": "RANGES",
                "ranges": {"range": [{"begin": 1, "end": 5}, {"begin": 3, "end": 4}]},
            }
        ),
        "Resource 'ports:[1-5, 3-4]' is invalid: Invalid ranges resource: overlapping ranges",
    ),
    ("task-id", "an empty id", _set("task_id.value", ""), "ID must not be empty"),
    ("task-id", "a slash", _set("task_id.value", "a/b"), "'a/b' contains invalid characters"),
    ("task-id", "a backslash", _set("task_id.value", "a\\b"), "'a\\b' contains invalid characters"),
    ("task-id", "a control character", _set("task_id.value", "a\tb"), "'a\tb' contains invalid characters"),
    ("task-id", "a path component", _set("task_id.value", ".."), "'..' is disallowed"),
    (
        "task-id",
        "more than 255 bytes (a 2-byte character counts twice)",
        _set("task_id.value", "é" * 128),
        "ID must not be greater than 255 characters",
    ),
    (
        "kill-policy",
        "a negative grace period",
        _set("kill_policy", {"grace_period": {"nanoseconds": -1}}),
        "Task's 'kill_policy.grace_period' must be non-negative",
    ),
    (
        "max-completion-time",
        "a negative completion time",
        _set("max_completion_time", {"nanoseconds": -5}),
        "Task's `max_completion_time` must be non-negative",
    ),
    ("task-resources", "no resources", _set("resources", []), "Task uses no resources"),
    (
        "command-environment",
        "a variable without its value",
        _variable(),
        "Task's `CommandInfo` is invalid: Environment variable 'V' of type 'VALUE' must have a value set",
    ),
    (
        "command-environment",
        "a secret variable without a secret",
        _variable(type="SECRET"),
        "Task's `CommandInfo` is invalid: Environment variable 'V' of type 'SECRET' must have a secret set",
    ),
    (
        "command-environment",
        "a variable of type UNKNOWN",
        _variable(type="UNKNOWN", value="x"),
        "Task's `CommandInfo` is invalid: Environment variable of type 'UNKNOWN' is not allowed",
    ),
    (
        "container-volume",
        "a volume naming neither host path, image nor source",
        _volume(container_path="/data"),
        "Task's `ContainerInfo` is invalid: Invalid volume: "
        "Only one of them should be set: 'host_path', 'image' and 'source'",
    ),
    (
        "container-volume",
        "a DOCKER_VOLUME source without its volume",
        _volume(container_path="/data", source={"type": "DOCKER_VOLUME"}),
        "Task's `ContainerInfo` is invalid: Invalid volume: "
        "'source.docker_volume' is not set for DOCKER_VOLUME volume",
    ),
    (
        "docker-info",
        "a DOCKER container without docker",
        _set("container", {"type": "DOCKER"}),
        "Task's `ContainerInfo` is invalid: DockerInfo 'docker' is not set for DOCKER typed ContainerInfo",
    ),
    (
        "docker-parameter-name",
        "a docker parameter naming the container",
        _set(
            "container.docker.parameters", [{"key": "memory", "value": "1g"}, {"key": "name", "value": "x"}]
        ),
        "Task's `ContainerInfo` is invalid: Parameter in DockerInfo must not be 'name'",
    ),
    (
        "command-or-executor",
        "neither command nor executor",
        _drop("command"),
        "Task should have at least one (but not both) of CommandInfo or ExecutorInfo present",
    ),
    (
        "docker-volume-paths",
        "a volume with both paths relative",
        _volume(host_path="data", container_path="out"),
        "Failed to create docker run options: Both host_path 'data' and container_path 'out' of a volume "
        "are relative",
    ),
    (
        "docker-volume-source",
        "an image volume under Docker",
        _volume(container_path="/img", image={"type": "DOCKER", "docker": {"name": "busybox"}}),
        "Failed to create docker run options: Host path or volume source is required",
    ),
    (
        "docker-network",
        "a USER network without its network info",
        _set("container.docker.network", "USER"),
        "Failed to create docker run options: No network info found in container info",
    ),
    (
        "docker-network",
        "a USER network info without a name",
        lambda t: (
            t["container"]["docker"].update(network="USER"),
            t["container"].update(network_infos=[{}]),
        ),
        "Failed to create docker run options: No network name found in network info",
    ),
    (
        "docker-hostname",
        "a hostname on the host network",
        lambda t: (t["container"]["docker"].update(network="HOST"), t["container"].update(hostname="h")),
        "Failed to create docker run options: Unable to set hostname with host network mode",
    ),
    (
        "docker-port-mappings",
        "a port mapping without port resources",
        _set("container.docker.port_mappings", [{"host_port": 31001, "container_port": 80}]),
        "Failed to create docker run options: Port mappings require port resources",
    ),
    (
        "docker-shell-command",
        "a shell command without its value",
        _set("command", {"shell": True}),
        "Failed to create docker run options: Shell specified but no command value provided",
    ),
]


def _docker_task(task_id: str, offer: dict[str, Any]) -> dict[str, Any]:
    return task_info(task_id, offer, container=copy.deepcopy(DOCKER))


def test_every_rule_has_a_case() -> None:
    assert {case[0] for case in CASES} == set(RULES)


@pytest.mark.parametrize(
    ("rule", "change", "message"),
    [(c[0], c[2], c[3]) for c in CASES],
    ids=[f"{c[0]}: {c[1]}" for c in CASES],
)
def test_a_task_breaking_a_rule_is_answered_as_mesos_answers_it(
    peer: MesosMasterPeer, probe: SchedulerProbe, rule: str, change: Change, message: str
) -> None:
    offer = probe.next_offers()[0]
    task = _docker_task("t1", offer)
    change(task)
    task_id = task["task_id"]["value"]

    assert probe.accept(offer, [task]).status_code == 202

    assert first_refusal(task) is not None and first_refusal(task).rule == rule
    if RULES[rule] == MASTER:
        status = probe.next_update(task_id, "TASK_ERROR")
        assert (status["reason"], status["source"]) == ("REASON_TASK_INVALID", "SOURCE_MASTER")
        assert "uuid" not in status  # the master's own updates are not acknowledged
        assert peer.launch_count(task_id) == 0
    else:
        assert RULES[rule] == AGENT
        assert probe.acknowledge(probe.next_update(task_id, "TASK_STARTING")).status_code == 202
        status = probe.next_update(task_id, "TASK_FAILED")
        assert (status.get("reason"), status["source"]) == (None, "SOURCE_EXECUTOR")
        assert "uuid" in status
        assert peer.output(task_id, "stderr").decode() == message + "\n"
    assert status["message"] == message


def test_a_bad_resource_fails_every_task_of_its_launch(peer: MesosMasterPeer, probe: SchedulerProbe) -> None:
    offer = probe.next_offers()[0]
    tasks = [_docker_task(f"t{i}", offer) for i in range(3)]
    tasks[1]["resources"][0]["scalar"]["value"] = 0.0001

    probe.accept(offer, tasks)

    for task_id in ("t0", "t1", "t2"):
        status = probe.next_update(task_id, "TASK_ERROR")
        assert status["message"] == "Resource 'cpus:0' is invalid: Invalid scalar resource: value <= 0"
    assert peer.launches == []


def test_a_good_task_passes_every_rule(peer: MesosMasterPeer, probe: SchedulerProbe) -> None:
    offer = probe.next_offers()[0]
    task = _docker_task("t1", offer)
    task["container"]["volumes"] = [
        {"host_path": "/srv/in", "container_path": "in", "mode": "RO"},  # relative inside: the sandbox
        {"host_path": "cache", "container_path": "/cache", "mode": "RW"},  # relative outside: the sandbox
    ]
    task["resources"][0]["scalar"]["value"] = 0.0005  # rounds up to 0.001 in Mesos' fixed point

    probe.accept(offer, [task])

    assert first_refusal(task) is None
    assert probe.next_update("t1", "TASK_STARTING")["source"] == "SOURCE_EXECUTOR"


# (id, validateID's answer): the length is in bytes; only control characters and both
# path separators are refused, anything else printable (spaces, colons, unicode) is fine.
IDS = [
    ("a" * 255, None),
    ("a" * 256, "ID must not be greater than 255 characters"),
    ("with space:and colon", None),
    ("ünïcödé", None),
    (".", "'.' is disallowed"),
    ("...", None),
    ("a\x7fb", "'a\x7fb' contains invalid characters"),
    ("a\u0085b", None),  # a C1 control is two bytes, neither a control character in C
]


@pytest.mark.parametrize(("value", "error"), IDS)
def test_ids_follow_validate_id(value: str, error: str | None) -> None:
    assert id_error(value) == error
