"""``hippo up`` as a newcomer runs it: a subprocess in a temporary home, over real HTTP.

Each test starts ``hippo up`` in its own session (as a terminal runs a command) and
stops it the way a person does: Ctrl-C to the whole process group.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from hippo_core.testing.hippo_up import (
    WAIT,
    alive,
    descendants,
    left_alive,
    redis_servers_in,
    runner_pids,
    wait_for,
)

pytestmark = pytest.mark.slow

BUSYBOX = {"docker": {"image": "busybox:1.36"}}


# -- the tests ---------------------------------------------------------------------------


def test_a_one_off_task_runs_and_its_output_is_readable(hippo_up):
    up = hippo_up()
    banner = wait_for("the banner", lambda: "Hippo is up" in up.log() and up.log(), up)
    assert f"Hippo is up: {up.url}/" in banner and f"curl -s -X POST {up.url}/tasks/" in banner
    assert f"export HIPPO_TOKEN=$(cat {up.data_dir / 'admin-token'})" in banner
    assert up.auth["Authorization"].split()[1] not in up.log(), "the token itself is never printed"
    assert requests.get(f"{up.url}/tasks/", timeout=10).status_code == 401

    up.post(
        "/tasks/", {"id": "hello", "cmd": "echo hello from Hippo; echo to-stderr >&2", "container": BUSYBOX}
    )
    task = up.wait_task("hello", ("FINISHED", "FAILED"))
    assert task["state"] == "FINISHED", task
    logs = up.get("/tasks/hello/logs/")
    assert logs["stdout"]["text"] == "hello from Hippo\n"
    assert logs["stderr"]["text"] == "to-stderr\n"
    assert (logs["attempt"], logs["attempts"]) == (1, [1])
    assert "busybox:1.36 was not used" in logs["warning"]  # no engine: a plain process
    assert (up.data_dir / "tasks" / task["mesos_id"] / "stdout").is_file()


def test_a_failing_task_is_retried_as_configured(hippo_up):
    up = hippo_up()
    up.post(
        "/tasks/",
        {"id": "flaky", "cmd": 'echo "try $HIPPO_ATTEMPT"; exit 3', "task_retries": 2, "container": BUSYBOX},
    )
    task = up.wait_task("flaky", ("FINISHED", "FAILED"))
    assert task["state"] == "FAILED"
    assert task["task_retries_used"] == 2
    assert [(a["n"], a["state"], a["message"]) for a in task["attempts"]] == [
        (n, "TASK_FAILED", "exit code 3") for n in (1, 2, 3)
    ]
    for n in (1, 2, 3):
        assert up.get("/tasks/flaky/logs/", attempt=n)["stdout"]["text"] == f"try {n}\n"


def test_a_redis_queue_runs_each_item_once(hippo_up, redis_server, redis_client):
    items = ["alpha", "beta", "gamma one"]
    for item in items:
        redis_client.lpush("work", item)
    up = hippo_up()
    queue = up.post(
        "/queues/",
        {
            "cmd": 'echo "$HIPPO_DATA"',
            "container": BUSYBOX,
            "queue": {
                "type": "redis",
                "name": "work",
                "frequency_seconds": 1,
                "redis": {"host": "127.0.0.1", "port": redis_server.port, "name": "work"},
            },
        },
    )

    def all_finished() -> list[dict[str, Any]] | None:
        tasks = up.get("/tasks/", queue_id=queue["id"])["items"]
        return tasks if len(tasks) == len(items) and all(t["state"] == "FINISHED" for t in tasks) else None

    tasks = wait_for("the queue's tasks to finish", all_finished, up)
    # Several more polls find nothing new: each item was taken once.
    polled = up.get(f"/queues/{queue['id']}/")["queue"]["last_run_tstamp"]
    wait_for(
        "two more polls",
        lambda: up.get(f"/queues/{queue['id']}/")["queue"]["last_run_tstamp"] >= polled + 2,
        up,
    )
    tasks = up.get("/tasks/", queue_id=queue["id"])["items"]
    assert sorted(t["data"] for t in tasks) == sorted(items)
    for task in tasks:
        assert len(task["attempts"]) == 1
        assert up.get(f"/tasks/{task['mesos_id']}/logs/")["stdout"]["text"] == f"{task['data']}\n"
    assert redis_client.llen("work") == 0
    assert all(redis_client.llen(key) == 0 for key in redis_client.keys("work:hippo-processing:*"))


def test_ctrl_c_stops_everything_and_leaves_no_process(hippo_up):
    up = hippo_up()
    up.post("/tasks/", {"id": "long", "cmd": "sleep 300 & sleep 300", "container": BUSYBOX})
    up.wait_task("long", ("RUNNING",))

    def with_both_sleeps() -> dict[int, str] | None:
        tree = descendants(up.process.pid)
        return tree if sum("sleep 300" in cmd for cmd in tree.values()) >= 2 else None

    tree = wait_for("the task's processes", with_both_sleeps, up)
    assert any("redis-server" in cmd for cmd in tree.values()), tree

    assert up.ctrl_c() == 0, up.log()
    left = left_alive(list(tree))
    assert left == [], {pid: tree[pid] for pid in left}
    assert "Traceback" not in up.log(), up.log()
    # Redis ignored the Ctrl-C and was stopped by hippo up after the worker's last writes.
    redis_log = (up.data_dir / "redis" / "redis.log").read_text()
    assert "Received SIGTERM" in redis_log and "SIGINT" not in redis_log, redis_log


def test_a_second_hippo_up_sees_the_earlier_tasks(hippo_up):
    first = hippo_up()
    first.post("/tasks/", {"id": "done", "cmd": "echo kept", "container": BUSYBOX})
    first.wait_task("done", ("FINISHED",))
    first.post("/tasks/", {"id": "interrupted", "cmd": "sleep 300", "container": BUSYBOX})
    first.wait_task("interrupted", ("RUNNING",))
    assert first.ctrl_c() == 0, first.log()

    second = hippo_up(data_dir=first.data_dir)
    done = second.get("/tasks/done/")
    assert done["state"] == "FINISHED"
    assert second.get("/tasks/done/logs/")["stdout"]["text"] == "kept\n"
    # The task Ctrl-C killed is reported killed by the stop, and runs again as a system retry.
    task = wait_for(
        "the interrupted task's second attempt to run",
        lambda: (
            task
            if len((task := second.get("/tasks/interrupted/"))["attempts"]) == 2
            and task["state"] == "RUNNING"
            else None
        ),
        second,
    )
    assert [a["state"] for a in task["attempts"]] == ["TASK_KILLED", "TASK_RUNNING"]
    assert task["attempts"][0]["reason"] == "REASON_EXECUTOR_TERMINATED"
    assert "killed when Hippo stopped" in task["attempts"][0]["message"]
    assert task["system_retries_used"] == 1
    assert second.ctrl_c() == 0, second.log()


def test_one_data_directory_serves_one_hippo_up_at_a_time(hippo_up):
    first = hippo_up()
    second = hippo_up(data_dir=first.data_dir, wait=False)
    assert second.process.wait(WAIT) == 2
    assert f"another `hippo up` (pid {first.process.pid}) uses {first.data_dir}" in second.log()
    assert first.ready()


def test_a_redis_left_by_a_killed_hippo_up_is_stopped_by_the_next(hippo_up):
    first = hippo_up()
    first.post("/tasks/", {"id": "done", "cmd": "echo kept", "container": BUSYBOX})
    first.wait_task("done", ("FINISHED",))
    os.kill(first.process.pid, signal.SIGKILL)  # no chance to clean up
    first.process.wait(WAIT)
    left = redis_servers_in(first.data_dir / "redis")
    assert len(left) == 1, "the killed hippo up's Redis should still run"

    # Two servers on one append-only file would corrupt it: the next hippo up stops the old one.
    second = hippo_up(data_dir=first.data_dir)
    assert left_alive(left) == []
    assert second.get("/tasks/done/")["state"] == "FINISHED"
    assert "an earlier `hippo up` left running" in second.log()
    assert second.ctrl_c() == 0, second.log()
    assert redis_servers_in(first.data_dir / "redis") == []


def test_a_port_in_use_stops_hippo_up_with_a_clear_message_and_nothing_left(hippo_up, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        up = hippo_up(wait=False, port=port)
        assert up.process.wait(WAIT) == 2, up.log()
    assert f"cannot listen on 127.0.0.1:{port}" in up.log()
    assert redis_servers_in(up.data_dir / "redis") == []


# -- crashes and stalls: no task dies of them, none runs twice ------------------------------


def ledger_task(ident: str, ledger: Path, until: str = "release") -> dict[str, Any]:
    """A task that writes one line to ``ledger`` when it starts, runs until the test creates
    ``<ledger>.<until>`` (60 s at most), and says done."""
    wait = f"i=0; while [ ! -e {ledger}.{until} ] && [ $i -lt 300 ]; do sleep 0.2; i=$((i+1)); done"
    return {
        "id": ident,
        "cmd": f'echo "$HIPPO_TASK_FAMILY $HIPPO_ATTEMPT" >> {ledger}; {wait}; echo done',
        "container": BUSYBOX,
    }


@pytest.fixture
def ledger() -> Iterator[Path]:
    """Where ledger tasks write: outside the test's root-only directory, since ``hippo up``
    running as root runs plain tasks as ``[policy] run_as_user`` (nobody)."""
    directory = Path(tempfile.mkdtemp(prefix="hippo-ledger-"))
    directory.chmod(0o1777)
    path = directory / "ledger"
    path.touch(0o666)
    path.chmod(0o666)
    try:
        yield path
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def release(ledger: Path, until: str = "release") -> None:
    Path(f"{ledger}.{until}").touch()


def runs_per_task(ledger: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in ledger.read_text().splitlines():
        family = line.split()[0]
        counts[family] = counts.get(family, 0) + 1
    return counts


def test_tasks_outlive_a_sigkilled_hippo_up_and_none_runs_twice(hippo_up, ledger):
    # A short lease: the next hippo up leads once the killed one's lease has lapsed.
    env = {"HIPPO_LEADER_LEASE_SECONDS": "2"}
    first = hippo_up(env=env)
    # One ends while no hippo up runs, the others run on past the restart.
    tasks = {"short": "short", "long-1": "release", "long-2": "release", "long-3": "release"}
    for ident, until in tasks.items():
        first.post("/tasks/", ledger_task(ident, ledger, until))
    for ident in tasks:
        first.wait_task(ident, ("RUNNING",))
    runners = runner_pids(first.data_dir)
    assert len(runners) == len(tasks)

    first.kill_9()
    assert alive(runners) == runners, "the tasks died with hippo up"
    release(ledger, "short")
    wait_for(
        "the short task to end unwatched",
        lambda: "short" in runs_per_task(ledger) and len(alive(runners)) < 4,
    )

    second = hippo_up(data_dir=first.data_dir, env=env)
    wait_for("the adoption", lambda: "3 still running (adopted), 1 ended meanwhile" in second.log(), second)
    release(ledger)
    for ident in tasks:
        task = second.wait_task(ident, ("FINISHED", "FAILED", "KILLED"))
        assert task["state"] == "FINISHED", task
        assert len(task["attempts"]) == 1, task["attempts"]
        assert second.get(f"/tasks/{ident}/logs/")["stdout"]["text"] == "done\n"
    assert runs_per_task(ledger) == dict.fromkeys(tasks, 1)
    assert second.ctrl_c() == 0, second.log()
    assert runner_pids(first.data_dir) == []


def test_a_redis_stall_longer_than_the_lease_kills_nothing(hippo_up, ledger):
    lease = 2.0
    up = hippo_up(env={"HIPPO_LEADER_LEASE_SECONDS": str(lease)})
    tasks = ("stall-1", "stall-2", "stall-3")
    for ident in tasks:
        up.post("/tasks/", ledger_task(ident, ledger))
    for ident in tasks:
        up.wait_task(ident, ("RUNNING",))
    (redis,) = redis_servers_in(up.data_dir / "redis")

    os.kill(redis, signal.SIGSTOP)
    try:
        time.sleep(lease * 2.5)
    finally:
        os.kill(redis, signal.SIGCONT)
    wait_for("the term to end", lambda: "term ended; 3 task(s) keep running" in up.log(), up)
    wait_for("the next term", lambda: up.log().count("leading with lease") == 2, up)
    release(ledger)

    for ident in tasks:
        task = up.wait_task(ident, ("FINISHED", "FAILED", "KILLED"))
        assert task["state"] == "FINISHED", task
        assert len(task["attempts"]) == 1, task["attempts"]
    assert runs_per_task(ledger) == dict.fromkeys(tasks, 1)
    log = up.log()
    assert "lost the leader lease" in log, log
    assert up.ctrl_c() == 0, log


def test_no_secret_a_run_used_is_left_in_clear_in_any_file_or_log(hippo_up, redis_server, redis_client):
    """Grep everything a run wrote (the AOF, Redis' log, task files, hippo up's output) for each secret."""
    queue_password = "queue-pw-6c1e9a7f3b"
    up = hippo_up()
    token = up.auth["Authorization"].split()[1]
    key = (up.data_dir / "secret.key").read_text().strip()
    queue = up.post(
        "/queues/",
        {
            "cmd": "echo polled",
            "container": BUSYBOX,
            "queue": {
                "type": "redis",
                "name": "secretive",
                "frequency_seconds": 1,
                "redis": {
                    "host": "127.0.0.1",
                    "port": redis_server.port,
                    "name": "none",
                    "password": queue_password,
                },
            },
        },
    )
    wait_for("a poll", lambda: up.get(f"/queues/{queue['id']}/")["queue"]["last_run_tstamp"], up)
    up.post("/tasks/", {"id": "env", "cmd": "echo done", "container": BUSYBOX})
    up.wait_task("env", ("FINISHED",))
    assert up.ctrl_c() == 0, up.log()

    own_files = {up.data_dir / "admin-token": token, up.data_dir / "secret.key": key}
    written = [p for p in up.data_dir.rglob("*") if p.is_file()] + [up.log_path]
    aof = [p for p in written if p.name.startswith("appendonly")]
    assert any(b"hippo-sealed:v1:" in p.read_bytes() for p in aof), "the queue's password is stored, sealed"
    for path in written:
        data = path.read_bytes()
        for secret in (queue_password, token, key):
            if own_files.get(path) == secret:
                continue
            assert secret.encode() not in data, f"{secret[:6]}... in clear in {path}"
        holds_secrets = path in own_files or "redis" in path.parts or path.name in ("stdout", "stderr")
        if holds_secrets:
            assert path.stat().st_mode & 0o077 == 0, (
                f"{path} is readable by others ({oct(path.stat().st_mode)})"
            )
    assert (up.data_dir.stat().st_mode & 0o777) == 0o700
    for name in ("stdout", "stderr"):
        for output in (up.data_dir / "tasks").rglob(name):
            assert output.stat().st_mode & 0o777 == 0o600
