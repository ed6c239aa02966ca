"""Attempts outlive their backend: a term's end leaves them running, the next backend adopts them.

Each test runs one backend, ends it (``stop``: a term ending; ``shutdown``: Hippo
stopping; or a runner killed behind its back), then starts another on the same data
directory, as the next term or the next ``hippo up`` does, and reads what it reports.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from hippo_core.backends.local.attempts import AttemptRecord, AttemptRecords


def wait_until(what, check, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return result


def records(tmp_path: Path) -> AttemptRecords:
    return AttemptRecords(tmp_path / "data")


def test_a_term_ending_leaves_tasks_running_and_the_next_backend_reports_their_end(
    make_launch, start_backend, recorder, next_backend, task_pids, tmp_path
):
    runs, go = tmp_path / "runs", tmp_path / "go"
    # Runs until the test says go (60 s at most), so a slow machine cannot end it early.
    wait = f"i=0; while [ ! -e {go} ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done"
    backend = start_backend()
    recorder.launch_on_next_offer(make_launch("t.keep", f"echo ran >> {runs}; {wait}; echo done"))
    recorder.wait_for("running", lambda: "TASK_RUNNING" in recorder.states("t.keep"))
    backend.stop()
    assert task_pids("t.keep"), "a term's end killed the task"

    _, after = next_backend()
    after.backend.reconcile([("t.keep", "local-testhost")])
    after.wait_for("its state", lambda: after.states("t.keep"))
    assert after.states("t.keep")[0] == "TASK_RUNNING"
    go.touch()
    end = after.wait_terminal("t.keep")
    assert end.state == "TASK_FINISHED"
    assert runs.read_text() == "ran\n"
    assert (tmp_path / "data" / "tasks" / "t.keep" / "stdout").read_text() == "done\n"
    # Its ending was delivered: nothing of it is left to report.
    wait_until("the record gone", lambda: not list(records(tmp_path).dir.iterdir()))


def test_an_attempt_that_ended_while_no_backend_watched_reports_its_ending(
    make_launch, start_backend, recorder, next_backend, tmp_path
):
    backend = start_backend()
    recorder.launch_on_next_offer(make_launch("t.meanwhile", "sleep 0.5; exit 3"))
    recorder.wait_for("running", lambda: "TASK_RUNNING" in recorder.states("t.meanwhile"))
    backend.stop()
    wait_until("the runner's report", lambda: records(tmp_path).path("t.meanwhile", "exit").exists())

    _, after = next_backend()
    end = after.wait_terminal("t.meanwhile")  # told without being asked
    assert (end.state, end.message) == ("TASK_FAILED", "exit code 3")


def test_hippo_stopping_kills_its_tasks_and_the_next_start_says_so(
    make_launch, start_backend, recorder, next_backend, pids_left
):
    backend = start_backend()
    recorder.launch_on_next_offer(make_launch("t.stopped", "sleep 100"))
    recorder.wait_for("running", lambda: "TASK_RUNNING" in recorder.states("t.stopped"))
    backend.shutdown()
    assert pids_left("t.stopped") == []

    _, after = next_backend()
    end = after.wait_terminal("t.stopped")
    assert (end.state, end.reason) == ("TASK_KILLED", "REASON_EXECUTOR_TERMINATED")
    assert "killed when Hippo stopped on testhost" in end.message


def test_an_attempt_no_runner_claimed_is_lost_as_never_started(next_backend, tmp_path):
    # A crash between recording the launch and starting its runner leaves only the record.
    records(tmp_path).save(AttemptRecord("t.unclaimed", 0.1, 32, docker=False, accepted_at=time.time()))
    _, after = next_backend()
    end = after.wait_terminal("t.unclaimed")
    assert end.state == "TASK_LOST"
    assert "never started" in end.message


def test_a_runner_killed_behind_hippos_back_leaves_its_task_lost_and_nothing_running(
    make_launch, start_backend, recorder, next_backend, task_pids, pids_left, tmp_path
):
    backend = start_backend()
    recorder.launch_on_next_offer(make_launch("t.orphaned", "sleep 100 & sleep 100"))
    recorder.wait_for("running", lambda: "TASK_RUNNING" in recorder.states("t.orphaned"))
    wait_until("both sleeps", lambda: len(task_pids("t.orphaned")) >= 3)
    backend.stop()
    runner = json.loads(records(tmp_path).path("t.orphaned", "pid").read_text())["pid"]
    os.kill(runner, signal.SIGKILL)
    wait_until("the runner gone", lambda: not Path(f"/proc/{runner}").exists() or _zombie(runner))

    _, after = next_backend()
    end = after.wait_terminal("t.orphaned")
    assert end.state == "TASK_LOST"
    assert "ended without saying how the task ended" in end.message
    # What it left would run unwatched for ever: it is killed.
    assert pids_left("t.orphaned") == []


def test_a_recycled_pid_is_not_taken_for_the_runner(next_backend, tmp_path):
    store = records(tmp_path)
    store.save(AttemptRecord("t.recycled", 0.1, 32, docker=False, accepted_at=time.time()))
    # The pid is alive (this very test), but it started at another time: not the runner.
    store.path("t.recycled", "pid").write_text(
        json.dumps({"pid": os.getpid(), "start_time": 1, "group": None})
    )
    _, after = next_backend()
    assert after.wait_terminal("t.recycled").state == "TASK_LOST"


def test_abandoning_loses_to_a_runner_that_claimed_first(tmp_path):
    store = records(tmp_path)
    store.dir.mkdir(parents=True)
    store.path("t.claimed", "pid").write_text("{}")
    assert store.abandon("t.claimed") is False
    assert not store.path("t.claimed", "exit").exists()  # its ending is the runner's to write
    assert store.abandon("t.free") is True
    assert json.loads(store.path("t.free", "exit").read_text()) == {"stage": "never_started"}


def test_output_is_capped_per_stream_and_says_so(start_backend, recorder, make_launch, tmp_path):
    start_backend(max_output_bytes=4096)
    cmd = "head -c 100000 /dev/zero | tr '\\0' x; echo; echo small >&2"
    recorder.launch_on_next_offer(make_launch("t.loud", cmd))
    assert recorder.wait_terminal("t.loud").state == "TASK_FINISHED"
    sandbox = tmp_path / "data" / "tasks" / "t.loud"
    stdout = (sandbox / "stdout").read_text()
    assert stdout.startswith("x" * 4096 + "\n[hippo: stdout reached its limit of 4096 bytes")
    assert len(stdout) < 4096 + 200
    assert (sandbox / "stderr").read_text() == "small\n"


def _zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rindex(")") + 2 :].split()[0] == "Z"
