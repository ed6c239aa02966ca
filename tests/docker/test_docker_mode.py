"""What a task sees and how it ends when ``hippo up`` runs it in a real container.

Every task here runs ``busybox:latest``, imported offline into the test engine; the
host's programs are not in it. Each test ends with nothing of its tasks left: no
container, no volume, no env file (``nothing_left``).
"""

from __future__ import annotations

import socket
import threading

import pytest
import requests

from hippo_core.testing.hippo_up import Up, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("nothing_left")]

IMAGE = "busybox:latest"


def logs(up: Up, ident: str) -> dict:
    return up.get(f"/tasks/{ident}/logs/")


def test_the_image_is_used_not_the_host(run_task, docker_up):
    task = run_task("image", "echo to-stdout; echo to-stderr >&2; ls /bin/busybox; test ! -e /usr/bin")
    assert task["state"] == "FINISHED", task
    out = logs(docker_up, "image")
    assert out["stdout"]["text"] == "to-stdout\n/bin/busybox\n"
    assert out["stderr"]["text"] == "to-stderr\n"
    assert out["warning"] is None  # it ran as asked: in its image


def test_hippo_variables_and_env_arrive_and_the_env_file_is_gone_once_it_runs(run_task, docker_up):
    env = {"GREETING": "hello world", "QUOTE": "it's", "EQUALS": "a=b", "PEM": "line1\nline2"}
    docker_up.post(
        "/tasks/",
        {
            "id": "env",
            "cmd": 'echo "$HIPPO_TASK_FAMILY|$HIPPO_ATTEMPT|$GREETING|$QUOTE|$EQUALS|$PEM"; sleep 2',
            "container": {"docker": {"image": IMAGE}},
            "env": env,
        },
    )
    task = docker_up.wait_task("env", ("RUNNING",))
    sandbox = docker_up.data_dir / "tasks" / task["attempts"][0]["mesos_id"]
    assert not (sandbox / "docker.env").exists(), "the variables stayed on disk while the task ran"
    task = docker_up.wait_task("env", ("FINISHED", "FAILED"))
    assert task["state"] == "FINISHED", task
    assert logs(docker_up, "env")["stdout"]["text"] == "env|1|hello world|it's|a=b|line1\nline2\n"


def test_volumes_are_mounted_read_only_or_read_write(run_task, docker_up, tmp_path):
    inbox, outbox = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    outbox.mkdir()
    (inbox / "msg").write_text("from the host\n")
    cmd = (
        "cat /in/msg; echo written > /out/result; touch /in/new 2>/dev/null && echo in-writable || echo in-ro"
    )
    task = run_task(
        "volumes",
        cmd,
        container={
            "docker": {"image": IMAGE},
            "volumes": [
                {"containerPath": "/in", "hostPath": str(inbox), "mode": "RO"},
                {"containerPath": "/out", "hostPath": str(outbox), "mode": "RW"},
            ],
        },
    )
    assert task["state"] == "FINISHED", task
    assert logs(docker_up, "volumes")["stdout"]["text"] == "from the host\nin-ro\n"
    assert (outbox / "result").read_text() == "written\n"
    assert not (inbox / "new").exists()


def test_cpus_and_mem_are_the_containers_cgroup_limits(run_task, docker_up):
    cmd = (
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max; "
        "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us 2>/dev/null "
        "|| cat /sys/fs/cgroup/cpu.max"
    )
    task = run_task("limits", cmd, cpus=0.5, mem=64)
    assert task["state"] == "FINISHED", task
    numbers = logs(docker_up, "limits")["stdout"]["text"].split()
    assert numbers[0] == str(64 * 1024 * 1024)
    quota, period = int(numbers[1]), int(numbers[2])
    assert quota / period == 0.5


def test_a_task_beyond_its_memory_is_failed_out_of_memory(run_task, docker_up):
    cmd = "x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo survived"
    task = run_task(
        "oom",
        cmd,
        mem=16,
        container={"docker": {"image": IMAGE, "parameters": [{"key": "memory-swap", "value": "16m"}]}},
    )
    assert task["state"] == "FAILED", task
    attempt = task["attempts"][0]
    assert attempt["reason"] == "REASON_CONTAINER_LIMITATION_MEMORY"
    assert "out of memory" in attempt["message"] and "16 MB" in attempt["message"]


@pytest.fixture
def host_listener():
    """A TCP server on the host's loopback; the port, and what each connection sent."""
    received: list[bytes] = []
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(30)

    def serve() -> None:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        with conn:
            received.append(conn.recv(100))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], received
    server.close()


@pytest.mark.parametrize(
    ("network", "cmd", "expected"),
    [
        pytest.param("NONE", "echo $(ls /sys/class/net)", "lo\n", id="none: loopback only"),
        pytest.param(
            "BRIDGE",
            "echo $(ls /sys/class/net); ip -o -4 addr show eth0 | grep -c inet",
            "eth0 lo\n1\n",
            id="bridge: an interface with an address on the engine's bridge",
        ),
    ],
)
def test_networks_none_and_bridge(run_task, docker_up, network, cmd, expected):
    task = run_task(f"net-{network.lower()}", cmd, container={"docker": {"image": IMAGE, "network": network}})
    assert task["state"] == "FINISHED", task
    assert logs(docker_up, f"net-{network.lower()}")["stdout"]["text"] == expected


def test_network_host_reaches_the_hosts_loopback(run_task, docker_up, host_listener):
    port, received = host_listener
    cmd = f"echo hello-from-the-container | nc 127.0.0.1 {port}"
    task = run_task("net-host", cmd, container={"docker": {"image": IMAGE, "network": "HOST"}})
    assert task["state"] == "FINISHED", task
    wait_for("the connection", lambda: received)
    assert received == [b"hello-from-the-container\n"]


@pytest.mark.parametrize(
    ("cmd", "state", "message"),
    [("exit 0", "FINISHED", None), ("exit 3", "FAILED", "exit code 3")],
    ids=["exit 0 is FINISHED", "another code is FAILED with it"],
)
def test_exit_codes_become_states(run_task, cmd, state, message):
    task = run_task(f"exit-{state.lower()}", cmd)
    assert task["state"] == state
    assert task["attempts"][0]["message"] == message


def test_a_killed_task_stops_its_container_and_the_container_is_removed(docker_up, containers_of):
    docker_up.post("/tasks/", {"id": "killme", "cmd": "sleep 300", "container": {"docker": {"image": IMAGE}}})
    task = docker_up.wait_task("killme", ("RUNNING",))
    assert containers_of(docker_up) == [task["attempts"][0]["mesos_id"]]
    requests.post(
        f"{docker_up.url}/tasks/killme/kill/", headers=docker_up.auth, timeout=10
    ).raise_for_status()
    task = docker_up.wait_task("killme", ("KILLED",))
    assert task["attempts"][0]["state"] == "TASK_KILLED"
    assert containers_of(docker_up) == []


def test_an_image_that_cannot_be_pulled_fails_at_once_naming_it(run_task):
    task = run_task("no-image", "true", container={"docker": {"image": "hippo-test/no-such-image:1"}})
    assert task["state"] == "FAILED"
    assert len(task["attempts"]) == 1 and task["system_retries_used"] == 0  # no retry loop
    attempt = task["attempts"][0]
    assert attempt["reason"] == "REASON_CONTAINER_LAUNCH_FAILED"
    assert attempt["message"].startswith(
        "image hippo-test/no-such-image:1 is not on this machine and could not be pulled: "
    )


def test_parameters_are_passed_to_docker(run_task, docker_up):
    parameters = [{"key": "hostname", "value": "hippo-box"}, {"key": "workdir", "value": "/tmp"}]
    task = run_task(
        "params", "hostname; pwd", container={"docker": {"image": IMAGE, "parameters": parameters}}
    )
    assert task["state"] == "FINISHED", task
    assert logs(docker_up, "params")["stdout"]["text"] == "hippo-box\n/tmp\n"


def test_parameters_that_would_take_the_container_from_hippo_are_refused(docker_up):
    body = {
        "id": "refused",
        "cmd": "true",
        "container": {"docker": {"image": IMAGE, "parameters": [{"key": "rm", "value": ""}]}},
    }
    resp = requests.post(f"{docker_up.url}/tasks/", json=body, headers=docker_up.auth, timeout=10)
    assert resp.status_code == 400
    assert resp.json()["errors"][0]["path"] == "$.container.docker.parameters[0].key"


def test_output_is_capped_per_attempt(up_on_engine):
    up = up_on_engine(env={"HIPPO_LOCAL_MAX_OUTPUT_BYTES": "4096"})
    cmd = "head -c 100000 /dev/zero | tr '\\0' x; echo; echo small >&2"
    up.post("/tasks/", {"id": "loud", "cmd": cmd, "container": {"docker": {"image": IMAGE}}})
    assert up.wait_task("loud", ("FINISHED", "FAILED"))["state"] == "FINISHED"
    out = logs(up, "loud")
    assert out["stdout"]["size"] < 4096 + 200
    assert out["stdout"]["text"].startswith("x" * 4096 + "\n[hippo: stdout reached its limit of 4096 bytes")
    assert out["stderr"]["text"] == "small\n"
