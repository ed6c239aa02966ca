"""Hippo's launches, offers and statuses map onto the Mesos v1 JSON messages faithfully."""

from __future__ import annotations

from typing import Any

import pytest

from hippo_core.backend import Offer, TaskLaunch, TaskStatus
from hippo_core.backends.mesos.taskinfo import (
    TaskInfoError,
    format_scalar,
    offer_from_json,
    render_attribute,
    status_from_json,
    task_info,
)


def launch(**overrides: Any) -> TaskLaunch:
    fields: dict[str, Any] = {
        "task_id": "t-1",
        "name": "hippo-q1",
        "agent_id": "agent-1",
        "cpus": 0.5,
        "mem": 256.0,
        "cmd": "echo $HIPPO_DATA",
        "env": {"HIPPO_DATA": "a\nb", "HIPPO_TASK_ID": "t-1"},
        "container": {"docker": {"image": "busybox:1.36"}},
        "labels": {},
    }
    fields.update(overrides)
    return TaskLaunch(**fields)


def test_full_docker_task_info() -> None:
    info = task_info(
        launch(
            container={
                "docker": {
                    "image": "busybox:1.36",
                    "network": "bridge",
                    "force_pull_image": True,
                    "parameters": [{"key": "memory-swap", "value": "-1"}],
                },
                "volumes": [
                    {"containerPath": "/data", "hostPath": "/srv/data", "mode": "RO"},
                ],
            },
            labels={"queue": "q1"},
        )
    )
    assert info == {
        "name": "hippo-q1",
        "task_id": {"value": "t-1"},
        "agent_id": {"value": "agent-1"},
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.5}, "role": "*"},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": 256.0}, "role": "*"},
        ],
        "command": {
            "shell": True,
            "value": "echo $HIPPO_DATA",
            "environment": {
                "variables": [
                    {"name": "HIPPO_DATA", "value": "a\nb"},
                    {"name": "HIPPO_TASK_ID", "value": "t-1"},
                ]
            },
        },
        "container": {
            "type": "DOCKER",
            "docker": {
                "image": "busybox:1.36",
                "network": "BRIDGE",
                "force_pull_image": True,
                "parameters": [{"key": "memory-swap", "value": "-1"}],
            },
            "volumes": [{"container_path": "/data", "host_path": "/srv/data", "mode": "RO"}],
        },
        "labels": {"labels": [{"key": "queue", "value": "q1"}]},
    }


@pytest.mark.parametrize(
    ("overrides", "path", "expected"),
    [
        pytest.param(
            {}, ("container", "docker", "network"), "HOST", id="network defaults to HOST like Mesos"
        ),
        pytest.param({}, ("container", "docker", "force_pull_image"), False, id="no forced pull by default"),
        pytest.param(
            {"container": {"docker": {"image": "x", "forcePullImage": True}}},
            ("container", "docker", "force_pull_image"),
            True,
            id="Marathon's forcePullImage spelling is understood",
        ),
        pytest.param(
            {"container": {"docker": {"image": "x", "network": "NONE"}}},
            ("container", "docker", "network"),
            "NONE",
            id="NONE network",
        ),
        pytest.param(
            {"container": {"docker": {"image": "x", "network": "USER", "network_name": "n1"}}},
            ("container", "network_infos"),
            [{"name": "n1"}],
            id="USER network names its Docker network in network_infos",
        ),
        pytest.param(
            {"container": {"docker": {"image": "x"}, "volumes": [{"containerPath": "/scratch"}]}},
            ("container", "volumes"),
            [{"container_path": "/scratch", "mode": "RW"}],
            id="volume without host path is a scratch volume, RW by default",
        ),
        pytest.param(
            {"cmd": ""},
            ("command",),
            {
                "shell": False,
                "environment": {
                    "variables": [
                        {"name": "HIPPO_DATA", "value": "a\nb"},
                        {"name": "HIPPO_TASK_ID", "value": "t-1"},
                    ]
                },
            },
            id="no cmd runs the image entrypoint",
        ),
        pytest.param({"env": {}}, ("command",), {"shell": True, "value": "echo $HIPPO_DATA"}, id="no env"),
        pytest.param(
            {"cpus": 1, "mem": 64},
            ("resources",),
            [
                {"name": "cpus", "type": "SCALAR", "scalar": {"value": 1.0}, "role": "*"},
                {"name": "mem", "type": "SCALAR", "scalar": {"value": 64.0}, "role": "*"},
            ],
            id="integer resources become JSON doubles",
        ),
    ],
)
def test_task_info_fields(overrides: dict[str, Any], path: tuple[str, ...], expected: Any) -> None:
    value: Any = task_info(launch(**overrides))
    for key in path:
        value = value[key]
    assert value == expected


@pytest.mark.parametrize(
    ("overrides", "absent"),
    [
        pytest.param({"labels": {}}, "labels", id="no labels, no labels field"),
        pytest.param({"container": {}}, "container", id="no docker, a plain command task"),
    ],
)
def test_task_info_omits_empty_parts(overrides: dict[str, Any], absent: str) -> None:
    assert absent not in task_info(launch(**overrides))


@pytest.mark.parametrize(
    ("container", "message"),
    [
        pytest.param({"docker": {}}, r"docker\.image must be", id="docker without image"),
        pytest.param({"docker": {"image": "x", "network": "OVERLAY"}}, "OVERLAY", id="bad network"),
        pytest.param({"docker": {"image": "x", "network": "USER"}}, "network_name", id="USER without name"),
        pytest.param(
            {"docker": {"image": "x"}, "volumes": [{"hostPath": "/a"}]},
            r"volumes\[0\] needs containerPath",
            id="volume without containerPath",
        ),
        pytest.param(
            {"docker": {"image": "x"}, "volumes": [{"containerPath": "/a", "mode": "RX"}]},
            r"volumes\[0\]\.mode",
            id="bad volume mode",
        ),
        pytest.param(
            {"docker": {"image": "x", "parameters": ["--rm"]}},
            r"parameters\[0\]",
            id="parameter not a key/value object",
        ),
        pytest.param({"volumes": [{"containerPath": "/a"}]}, "no docker image", id="volumes without docker"),
    ],
)
def test_task_info_rejects_bad_containers(container: dict[str, Any], message: str) -> None:
    with pytest.raises(TaskInfoError, match=message):
        task_info(launch(container=container))


def scalar(name: str, value: float, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": "SCALAR", "scalar": {"value": value}, **extra}


def offer_json(resources: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "id": {"value": "o-1"},
        "framework_id": {"value": "fw"},
        "agent_id": {"value": "a-1"},
        "hostname": "agent1",
        "resources": resources,
        **extra,
    }


@pytest.mark.parametrize(
    ("resources", "roles", "expected"),
    [
        pytest.param(
            [scalar("cpus", 4, role="*"), scalar("mem", 8192, role="*"), scalar("disk", 100)],
            ("*",),
            (4.0, 8192.0, 100.0),
            id="unreserved resources, role given or left out",
        ),
        pytest.param(
            [scalar("cpus", 1), scalar("cpus", 2.5)],
            ("*",),
            (3.5, 0.0, 0.0),
            id="several pieces of one resource are summed",
        ),
        pytest.param(
            [scalar("cpus", 0.1), scalar("cpus", 0.2)],
            ("*",),
            (0.3, 0.0, 0.0),
            id="sums are rounded to Mesos precision",
        ),
        pytest.param(
            [scalar("cpus", 4), scalar("cpus", 2, role="ops")],
            ("*",),
            (4.0, 0.0, 0.0),
            id="statically reserved resources are left out",
        ),
        pytest.param(
            [scalar("cpus", 4), scalar("cpus", 2, reservations=[{"type": "DYNAMIC"}])],
            ("*",),
            (4.0, 0.0, 0.0),
            id="dynamically reserved resources are left out",
        ),
        pytest.param(
            [scalar("cpus", 4), scalar("cpus", 2, revocable={})],
            ("*",),
            (4.0, 0.0, 0.0),
            id="revocable resources are left out",
        ),
        pytest.param(
            [scalar("disk", 10), scalar("disk", 500, disk={"source": {"type": "MOUNT"}})],
            ("*",),
            (0.0, 0.0, 10.0),
            id="mount disks cannot be sliced and are left out",
        ),
        pytest.param(
            [
                scalar("cpus", 1, allocation_info={"role": "hippo"}),
                scalar("cpus", 8, allocation_info={"role": "other"}),
            ],
            ("hippo",),
            (1.0, 0.0, 0.0),
            id="only resources allocated to Hippo's roles count",
        ),
        pytest.param(
            [
                {"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 1, "end": 9}]}},
                scalar("gpus", 1),
            ],
            ("*",),
            (0.0, 0.0, 0.0),
            id="other resources are ignored",
        ),
    ],
)
def test_offer_resources(
    resources: list[dict[str, Any]], roles: tuple[str, ...], expected: tuple[float, ...]
) -> None:
    offer = offer_from_json(offer_json(resources), roles)
    assert (offer.cpus, offer.mem, offer.disk) == expected


def test_offer_identity_and_attributes() -> None:
    offer = offer_from_json(
        offer_json(
            [scalar("cpus", 1)],
            attributes=[
                {"name": "rack", "type": "TEXT", "text": {"value": "r1"}},
                {"name": "cores", "type": "SCALAR", "scalar": {"value": 8.0}},
            ],
        )
    )
    assert offer == Offer(
        id="o-1",
        agent_id="a-1",
        hostname="agent1",
        cpus=1.0,
        attributes={"rack": "r1", "cores": "8"},
    )


def test_offer_allocated_to_another_role_counts_nothing() -> None:
    offer = offer_from_json(offer_json([scalar("cpus", 4)], allocation_info={"role": "other"}), ("*",))
    assert offer.cpus == 0.0


@pytest.mark.parametrize(
    ("attribute", "text"),
    [
        pytest.param({"type": "TEXT", "text": {"value": "rack-1"}}, "rack-1", id="text as is"),
        pytest.param({"type": "SCALAR", "scalar": {"value": 4.0}}, "4", id="whole scalar"),
        pytest.param({"type": "SCALAR", "scalar": {"value": 1.5}}, "1.5", id="fractional scalar"),
        pytest.param(
            {"type": "SCALAR", "scalar": {"value": 0.12345}},
            "0.123",
            id="scalar at Mesos precision",
        ),
        pytest.param({"type": "SCALAR", "scalar": {"value": -2.0}}, "-2", id="negative scalar"),
        pytest.param({"type": "SCALAR", "scalar": {"value": 1e6}}, "1000000", id="no exponent"),
        pytest.param({"type": "SET", "set": {"item": ["b", "a"]}}, "{a,b}", id="set, sorted"),
        pytest.param({"type": "SET", "set": {}}, "{}", id="empty set"),
        pytest.param(
            {
                "type": "RANGES",
                "ranges": {"range": [{"begin": 5, "end": 6}, {"begin": 1, "end": 2}]},
            },
            "[1-2,5-6]",
            id="ranges, sorted by start",
        ),
    ],
)
def test_render_attribute(attribute: dict[str, Any], text: str) -> None:
    assert render_attribute({"name": "x", **attribute}) == text


def test_render_attribute_rejects_unknown_types() -> None:
    with pytest.raises(ValueError, match="unknown type 'BLOB'"):
        render_attribute({"name": "x", "type": "BLOB"})


@pytest.mark.parametrize(
    ("value", "text"), [(0.0, "0"), (-0.0001, "0"), (2.50, "2.5"), (10.0, "10"), (0.001, "0.001")]
)
def test_format_scalar(value: float, text: str) -> None:
    assert format_scalar(value) == text


@pytest.mark.parametrize(
    ("status", "hostname", "expected"),
    [
        pytest.param(
            {
                "task_id": {"value": "t-1"},
                "state": "TASK_FAILED",
                "agent_id": {"value": "a-1"},
                "source": "SOURCE_EXECUTOR",
                "reason": "REASON_COMMAND_EXECUTOR_FAILED",
                "message": "exit 1",
                "timestamp": 1700000000.25,
                "uuid": "AAEC",
            },
            "agent1",
            TaskStatus(
                task_id="t-1",
                state="TASK_FAILED",
                agent_id="a-1",
                hostname="agent1",
                reason="REASON_COMMAND_EXECUTOR_FAILED",
                message="exit 1",
                source="SOURCE_EXECUTOR",
                timestamp=1700000000.25,
            ),
            id="every field carried over",
        ),
        pytest.param(
            {"task_id": {"value": "t-2"}, "state": "TASK_LOST"},
            None,
            TaskStatus(task_id="t-2", state="TASK_LOST"),
            id="reconciliation answer for an unknown task has few fields",
        ),
    ],
)
def test_status_from_json(status: dict[str, Any], hostname: str | None, expected: TaskStatus) -> None:
    assert status_from_json(status, hostname) == expected
