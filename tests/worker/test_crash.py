"""A worker killed with SIGKILL mid-flight: the next one ends every task in its true state, none twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hippo_mesos_peer import Finish


def start_worker_process(hippo, log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "HIPPO_REDIS_URL": hippo.config.redis_url,
        "HIPPO_MESOS_MASTER": hippo.peer.url,
        "HIPPO_LEADER_LEASE_SECONDS": "1",
        "HIPPO_REFUSE_SECONDS": "0.2",
        "HIPPO_LOG_LEVEL": "DEBUG",
    }
    out = log.open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "hippo_core.cli", "worker"], env=env, stdout=out, stderr=subprocess.STDOUT
    )


@pytest.mark.slow
def test_sigkill_mid_flight_then_a_new_worker_finds_every_task_in_its_true_state(hippo, tmp_path) -> None:
    hippo.peer.add_rule(lambda ti: ti["command"]["value"] == "work", Finish(after=1.0))
    log = tmp_path / "workers.log"
    first = start_worker_process(hippo, log)
    try:
        tasks = [
            hippo.post_task(id="crash", cmd="work", cpus=0.1, mem=32, max_concurrent=50) for _ in range(12)
        ]
        hippo.wait(
            lambda: sum(hippo.task(t["mesos_id"])["state"] == "RUNNING" for t in tasks) >= 3,
            "tasks running under the first worker",
            timeout=30,
        )
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    # Work posted while no worker runs waits for the next one.
    tasks += [hippo.post_task(id="crash", cmd="work", cpus=0.1, mem=32, max_concurrent=50) for _ in range(3)]

    second = start_worker_process(hippo, log)
    try:
        for t in tasks:
            try:
                hippo.wait_state(t["mesos_id"], "FINISHED", "FAILED", timeout=60)
            except AssertionError:
                print(log.read_text()[-5000:])
                raise
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=20) == 0, "a SIGTERMed worker stops cleanly"

    peer_tasks = hippo.peer.tasks
    for t in tasks:
        task = hippo.task(t["mesos_id"])
        assert task["state"] == "FINISHED", (task["mesos_id"], task["attempts"])
        attempt_ids = [a["mesos_id"] for a in task["attempts"]]
        # No attempt launched twice, and exactly one attempt of each task ran to its end.
        assert all(hippo.peer.launch_count(i) <= 1 for i in attempt_ids)
        finished = [i for i in attempt_ids if i in peer_tasks and peer_tasks[i].state == "TASK_FINISHED"]
        assert len(finished) == 1, (task["mesos_id"], [(i, peer_tasks.get(i)) for i in attempt_ids])
    launched_ids = {s.task_id for s in peer_tasks.values() if s.labels.get("hippo.family") == "crash"}
    known = {a["mesos_id"] for t in tasks for a in hippo.task(t["mesos_id"])["attempts"]}
    assert launched_ids <= known, "the peer ran nothing Hippo does not know of"
    assert hippo.peer.unacknowledged() == []
