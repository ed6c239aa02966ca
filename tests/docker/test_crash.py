"""Containers outlive a crash of ``hippo up``, end with a clean stop, and none runs twice.

Each task appends a line to a ledger on a volume when it starts, so the lines per
task count the times it ran, whatever Hippo believes.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

from hippo_core.testing.hippo_up import alive, left_alive, runner_pids, wait_for

pytestmark = pytest.mark.slow

IMAGE = "busybox:latest"


def ledger_task(ident: str, ledger_dir: Path, until: str = "release") -> dict[str, Any]:
    """A task that writes one line to the ledger when it starts, runs until the test creates
    ``<until>`` in the ledger directory (60 s at most), and says done."""
    wait = f"i=0; while [ ! -e /ledger/{until} ] && [ $i -lt 300 ]; do sleep 0.2; i=$((i+1)); done"
    return {
        "id": ident,
        "cmd": f'echo "$HIPPO_TASK_FAMILY $HIPPO_ATTEMPT" >> /ledger/runs; {wait}; echo done',
        "container": {
            "docker": {"image": IMAGE, "network": "NONE"},
            "volumes": [{"containerPath": "/ledger", "hostPath": str(ledger_dir), "mode": "RW"}],
        },
    }


def runs_per_task(ledger_dir: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    path = ledger_dir / "runs"
    for line in path.read_text().splitlines() if path.exists() else []:
        counts[line.split()[0]] = counts.get(line.split()[0], 0) + 1
    return counts


def test_containers_outlive_a_sigkilled_hippo_up_and_none_runs_twice(
    up_on_engine, containers_of, left_behind, tmp_path
):
    ledger = tmp_path / "ledger"
    ledger.mkdir()
    # A short lease: the next hippo up leads once the killed one's lease has lapsed.
    env = {"HIPPO_LEADER_LEASE_SECONDS": "2"}
    first = up_on_engine(env=env)
    # One ends while no hippo up runs (collected from the engine), the others run on.
    tasks = {"short": "short", "long-1": "release", "long-2": "release", "long-3": "release"}
    for ident, until in tasks.items():
        first.post("/tasks/", ledger_task(ident, ledger, until))
    attempts = {ident: first.wait_task(ident, ("RUNNING",))["attempts"][0]["mesos_id"] for ident in tasks}
    assert sorted(containers_of(first)) == sorted(attempts.values())
    runners = runner_pids(first.data_dir)

    first.kill_9()
    assert alive(runners) == runners, "the containers' runners died with hippo up"
    (ledger / "short").touch()
    wait_for("the short task to end unwatched", lambda: len(alive(runners)) == len(tasks) - 1)

    second = up_on_engine(data_dir=first.data_dir, env=env)
    wait_for("the adoption", lambda: "3 still running (adopted), 1 ended meanwhile" in second.log(), second)
    (ledger / "release").touch()
    for ident in tasks:
        task = second.wait_task(ident, ("FINISHED", "FAILED", "KILLED"))
        assert task["state"] == "FINISHED", task
        assert len(task["attempts"]) == 1, task["attempts"]
        assert second.get(f"/tasks/{ident}/logs/")["stdout"]["text"] == "done\n"
    assert runs_per_task(ledger) == dict.fromkeys(tasks, 1)
    left_behind(second)
    assert second.ctrl_c() == 0, second.log()


def test_a_clean_stop_stops_and_removes_the_containers_and_the_next_start_says_so(
    up_on_engine, containers_of, left_behind, tmp_path
):
    ledger = tmp_path / "ledger"
    ledger.mkdir()
    first = up_on_engine()
    first.post("/tasks/", ledger_task("stopped", ledger))
    first.wait_task("stopped", ("RUNNING",))
    assert len(containers_of(first)) == 1
    assert first.ctrl_c() == 0, first.log()
    assert runner_pids(first.data_dir) == []
    left_behind(first)

    second = up_on_engine(data_dir=first.data_dir)
    task = wait_for(
        "the second attempt",
        lambda: task if len((task := second.get("/tasks/stopped/"))["attempts"]) == 2 else None,
        second,
    )
    first_attempt = task["attempts"][0]
    assert first_attempt["state"] == "TASK_KILLED"
    assert "killed when Hippo stopped" in first_attempt["message"]
    assert task["system_retries_used"] == 1
    assert second.ctrl_c() == 0, second.log()
    left_behind(second)


def test_a_container_whose_runner_died_too_is_attached_to_or_collected_from_the_engine(
    up_on_engine, docker_engine, left_behind, tmp_path
):
    ledger = tmp_path / "ledger"
    ledger.mkdir()
    env = {"HIPPO_LEADER_LEASE_SECONDS": "2"}
    first = up_on_engine(env=env)
    first.post("/tasks/", ledger_task("attached", ledger))
    collected_cmd = (
        'echo "collected 1" >> /ledger/runs; '
        "i=0; while [ ! -e /ledger/collect ] && [ $i -lt 300 ]; do sleep 0.2; i=$((i+1)); done; exit 4"
    )
    first.post("/tasks/", {**ledger_task("collected", ledger), "cmd": collected_cmd})
    names = {
        ident: first.wait_task(ident, ("RUNNING",))["attempts"][0]["mesos_id"]
        for ident in ("attached", "collected")
    }
    runners = runner_pids(first.data_dir)
    first.kill_9()
    # The runners die too (killed by hand): only the engine knows how the containers fare.
    for pid in runners:
        os.kill(pid, signal.SIGKILL)
    assert left_alive(runners) == []
    (ledger / "collect").touch()

    def running(ident: str) -> str:
        return docker_engine.client("inspect", "--format", "{{.State.Status}}", names[ident]).stdout.strip()

    wait_for("the collected container to exit unwatched", lambda: running("collected") == "exited")
    assert running("attached") == "running"

    second = up_on_engine(data_dir=first.data_dir, env=env)
    wait_for("the adoption", lambda: "2 still running (adopted)" in second.log(), second)
    (ledger / "release").touch()
    attached = second.wait_task("attached", ("FINISHED", "FAILED", "KILLED"))
    assert attached["state"] == "FINISHED", attached
    assert len(attached["attempts"]) == 1
    collected = second.wait_task("collected", ("FINISHED", "FAILED", "KILLED"))
    assert (collected["state"], collected["attempts"][0]["message"]) == ("FAILED", "exit code 4")
    assert len(collected["attempts"]) == 1
    assert runs_per_task(ledger) == {"attached": 1, "collected": 1}
    left_behind(second)
    assert second.ctrl_c() == 0, second.log()
