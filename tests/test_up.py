"""``hippo up`` as a newcomer runs it: a subprocess in a temporary home, over real HTTP.

Each test starts ``hippo up`` in its own session (as a terminal runs a command) and
stops it the way a person does: Ctrl-C to the whole process group.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from hippo_core.backends.local.docker import engine_answers
from hippo_core.ports import free_port

pytestmark = pytest.mark.slow

WAIT = 60.0
BUSYBOX = {"docker": {"image": "busybox:1.36"}}


@dataclass
class Up:
    process: subprocess.Popen[bytes]
    url: str
    data_dir: Path
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    @property
    def auth(self) -> dict[str, str]:
        """The admin token ``hippo up`` made in its data directory, as a request header."""
        token = (self.data_dir / "admin-token").read_text().strip()
        return {"Authorization": f"Bearer {token}"}

    def get(self, path: str, **params: Any) -> Any:
        resp = requests.get(f"{self.url}{path}", params=params, headers=self.auth, timeout=10)
        assert resp.status_code == 200, f"GET {path}: {resp.status_code} {resp.text}"
        return resp.json()

    def post(self, path: str, body: dict[str, Any]) -> Any:
        resp = requests.post(f"{self.url}{path}", json=body, headers=self.auth, timeout=10)
        assert resp.status_code == 201, f"POST {path}: {resp.status_code} {resp.text}"
        return resp.json()

    def wait_task(self, ident: str, states: tuple[str, ...], timeout: float = WAIT) -> dict[str, Any]:
        return wait_for(
            f"task {ident} in {states}",
            lambda: task if (task := self.get(f"/tasks/{ident}/"))["state"] in states else None,
            self,
            timeout,
        )

    def ctrl_c(self, timeout: float = WAIT) -> int:
        """What a terminal does on Ctrl-C: SIGINT to the foreground process group."""
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"hippo up did not stop on Ctrl-C:\n{self.log()}") from None


def wait_for(what: str, check: Callable[[], Any], up: Up, timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        if up.process.poll() is not None:
            raise AssertionError(f"hippo up exited ({up.process.returncode}) waiting for {what}:\n{up.log()}")
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}:\n{up.log()[-5000:]}")
        time.sleep(0.1)


def _ready(up: Up) -> bool:
    try:
        return requests.get(f"{up.url}/readyz", timeout=2).status_code == 200
    except requests.ConnectionError:
        return False


@pytest.fixture
def hippo_up(tmp_path: Path) -> Iterator[Callable[..., Up]]:
    """``start(data_dir=None, wait=True, port=None)``: ``hippo up`` with HOME and data under tmp_path.

    Started in a session of its own, as a terminal starts a command; stopped at the end.
    """
    started: list[Up] = []

    def start(data_dir: Path | None = None, wait: bool = True, port: int | None = None) -> Up:
        port = port or free_port()
        data_dir = data_dir or tmp_path / "home" / ".hippo"
        env = {k: v for k, v in os.environ.items() if not k.startswith("HIPPO_")}
        env.update(HOME=str(tmp_path / "home"), HIPPO_DATA_DIR=str(data_dir), PYTHONUNBUFFERED="1")
        log_path = tmp_path / f"hippo-up-{port}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "hippo_core.cli", "up", "--port", str(port)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        up = Up(process, f"http://127.0.0.1:{port}", data_dir, log_path)
        started.append(up)
        if wait:
            wait_for("hippo up to answer", lambda: _ready(up), up)
        return up

    yield start
    for up in started:
        if up.process.poll() is None:
            os.killpg(up.process.pid, signal.SIGTERM)
            try:
                up.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(up.process.pid, signal.SIGKILL)
                up.process.wait()


# -- processes ---------------------------------------------------------------------------


def _proc_stat(pid: int) -> tuple[int, str] | None:
    """(parent pid, state) of a live process, or None when it is gone (or a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[1]), fields[0]) if fields[0] != "Z" else None


def descendants(pid: int) -> dict[int, str]:
    """Every live process below ``pid``, with its command line."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _proc_stat(int(entry.name))) is not None:
            children.setdefault(stat[0], []).append(int(entry.name))
    found, todo = {}, [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            try:
                found[child] = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            todo.append(child)
    return found


def alive(pids: list[int]) -> list[int]:
    return [pid for pid in pids if _proc_stat(pid) is not None]


def left_alive(pids: list[int], grace: float = 10.0) -> list[int]:
    """Which of ``pids`` still live after ``grace`` seconds to die (SIGKILL is not instant)."""
    deadline = time.monotonic() + grace
    while (living := alive(pids)) and time.monotonic() < deadline:
        time.sleep(0.02)
    return living


def redis_servers_in(redis_dir: Path) -> list[int]:
    """Live redis-server processes working in ``redis_dir``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if (
                entry.name.isdigit()
                and b"redis-server" in (entry / "cmdline").read_bytes()
                and Path(os.readlink(entry / "cwd")) == redis_dir.resolve()
            ):
                found.append(int(entry.name))
        except OSError:
            continue
    return alive(found)


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
    if not engine_answers():
        assert "busybox:1.36 was not used" in logs["warning"]
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
    # The task Ctrl-C killed is reconciled as lost and runs again, as a system retry.
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
    assert [a["state"] for a in task["attempts"]] == ["TASK_LOST", "TASK_RUNNING"]
    assert task["attempts"][0]["reason"] == "REASON_RECONCILIATION"
    assert task["system_retries_used"] == 1
    assert second.ctrl_c() == 0, second.log()


def test_one_data_directory_serves_one_hippo_up_at_a_time(hippo_up):
    first = hippo_up()
    second = hippo_up(data_dir=first.data_dir, wait=False)
    assert second.process.wait(WAIT) == 2
    assert f"another `hippo up` (pid {first.process.pid}) uses {first.data_dir}" in second.log()
    assert _ready(first)


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
