"""The ``docker run`` command line for a task, table-driven (no engine needed)."""

from __future__ import annotations

import pytest

from hippo_core.backends.base import TaskLaunch
from hippo_core.backends.local.docker import docker_run, engine_answers

BASE = ["docker", "run", "--rm", "--name", "fam.1", "--label", "hippo.task=fam.1"]


def launch(container: dict, env: dict[str, str] | None = None, cpus: float = 0.5, mem: float = 256,
           cmd: str = "echo $HIPPO_DATA") -> TaskLaunch:
    return TaskLaunch("fam.1", "hippo:fam", "local-h", cpus, mem, cmd, env or {}, container,
                      labels={"hippo.task": "fam.1"})


CASES = [
    pytest.param(
        launch({"docker": {"image": "busybox:1.36"}}),
        [*BASE, "--cpus", "0.5", "--memory", "256m", "--network", "bridge",
         "--entrypoint", "/bin/sh", "busybox:1.36", "-c", "echo $HIPPO_DATA"],
        id="the image, its limits and the command in a shell; bridge network by default",
    ),
    pytest.param(
        launch({"docker": {"image": "alpine", "network": "HOST", "force_pull_image": True}},
               cpus=2, mem=1024.5),
        [*BASE, "--cpus", "2", "--memory", "1024.5m", "--network", "host", "--pull", "always",
         "--entrypoint", "/bin/sh", "alpine", "-c", "echo $HIPPO_DATA"],
        id="host network, forced pull, whole and fractional numbers as written",
    ),
    pytest.param(
        launch({"docker": {"image": "alpine", "network": "NONE"},
                "volumes": [{"hostPath": "/srv/in", "containerPath": "/in", "mode": "RO"},
                            {"hostPath": "/srv/out", "containerPath": "/out", "mode": "RW"}]}),
        [*BASE, "--cpus", "0.5", "--memory", "256m", "-v", "/srv/in:/in:ro", "-v", "/srv/out:/out:rw",
         "--network", "none", "--entrypoint", "/bin/sh", "alpine", "-c", "echo $HIPPO_DATA"],
        id="volumes with their modes; no network",
    ),
    pytest.param(
        launch({"docker": {"image": "alpine", "network": "USER", "network_name": "jobs-net",
                           "parameters": [{"key": "privileged", "value": "true"},
                                          {"key": "--init", "value": ""}]}}),
        [*BASE, "--cpus", "0.5", "--memory", "256m", "--network", "jobs-net", "--privileged=true", "--init",
         "--entrypoint", "/bin/sh", "alpine", "-c", "echo $HIPPO_DATA"],
        id="USER joins network_name; parameters as --key=value (booleans too), a bare flag when empty",
    ),
    pytest.param(
        launch({"docker": {"image": "alpine", "forcePullImage": True, "network": "USER", "networkName": "n1"},
                "volumes": [{"host_path": "/a", "container_path": "/b", "mode": "RO"},
                            {"containerPath": "/scratch", "mode": "RW"}]}),
        [*BASE, "--cpus", "0.5", "--memory", "256m", "-v", "/a:/b:ro", "-v", "/scratch", "--network", "n1",
         "--pull", "always", "--entrypoint", "/bin/sh", "alpine", "-c", "echo $HIPPO_DATA"],
        id="Marathon's camelCase and snake_case alike; a volume without hostPath is an anonymous one",
    ),
    pytest.param(
        launch({"docker": {"image": "alpine"}}, env={"HIPPO_DATA": "a b", "TOKEN": "s3cret"}),
        [*BASE, "--cpus", "0.5", "--memory", "256m", "-e", "HIPPO_DATA", "-e", "TOKEN", "--network", "bridge",
         "--entrypoint", "/bin/sh", "alpine", "-c", "echo $HIPPO_DATA"],
        id="environment by name only: values stay out of the process list",
    ),
]


@pytest.mark.parametrize(("task", "argv"), CASES)
def test_docker_run_argv(task, argv):
    run = docker_run(task)
    assert run.argv == argv
    assert run.env == task.env


def test_env_values_reach_docker_through_its_environment():
    run = docker_run(launch({"docker": {"image": "alpine"}}, env={"TOKEN": "s3cret"}))
    assert "s3cret" not in " ".join(run.argv)
    assert run.env == {"TOKEN": "s3cret"}


@pytest.mark.parametrize(
    ("container", "error"),
    [
        ({"docker": {}}, r"no container\.docker\.image"),  # nothing to run
        ({"docker": {"image": "alpine", "network": "USER"}}, r"USER needs container\.docker\.network_name"),
        ({"docker": {"image": "alpine", "network": "OVERLAY"}}, r"'OVERLAY' is not one of"),
    ],
)
def test_containers_docker_cannot_run_are_refused_with_the_reason(container, error):
    with pytest.raises(ValueError, match=error):
        docker_run(launch(container))


def test_no_engine_is_reported_as_absent():
    # No Docker engine runs on the test machines: the client fails, or is not installed.
    assert engine_answers(timeout=20) is False
    assert engine_answers(docker="no-such-docker-client") is False
